//! A plain HTTP connection: request heads and bodies in, REST API responses out, kept alive
//! for as long as the client wants. Responses to pipelined requests that have already fully
//! arrived are written together, with one write.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

use super::head::{read_head, HeadOutcome};
use super::io::write_all;
use super::link::Link;
use crate::api::{self, ApiError};
use crate::http::{parse_head, RequestHead};
use crate::shard::Shard;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;
/// Time allowed for a body to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The interim answer to `Expect: 100-continue` (curl sends it with larger bodies).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// Most response bytes held back while answering pipelined requests.
const MAX_HELD: usize = 64 * 1024;

/// Serves requests on one connection, starting with `head`.
pub async fn serve<L: Link>(
    shard: Rc<Shard>,
    mut stream: L,
    mut head: RequestHead,
    mut buf: Vec<u8>,
) {
    let mut out = Vec::new();
    loop {
        let keep_alive = head.keep_alive();
        match read_body(&mut stream, &head, &mut buf).await {
            Ok(body) => api::handle(&shard, &head, &body)
                .await
                .append_to(&mut out, keep_alive),
            Err(e) => {
                e.response().append_to(&mut out, false);
                let _ = write_all(&mut stream, &out).await;
                return;
            }
        }
        if keep_alive && out.len() < MAX_HELD {
            if let Some(next) = take_whole_request(&mut buf) {
                head = next;
                continue;
            }
        }
        if write_all(&mut stream, &out).await.is_err() || !keep_alive {
            return;
        }
        out.clear();
        head = match read_head(&mut stream, std::mem::take(&mut buf)).await {
            HeadOutcome::Head(h, rest) => {
                buf = rest;
                h
            }
            HeadOutcome::Closed => return,
            HeadOutcome::Refused(r) => {
                let _ = write_all(&mut stream, &r).await;
                return;
            }
        };
    }
}

/// Takes the next request's head off `buf` when the whole request (head and body) has
/// arrived, so that it is answered before anything is written. Anything else (more bytes
/// needed, a head to refuse) is left to [`read_head`] once the pending answers are out.
fn take_whole_request(buf: &mut Vec<u8>) -> Option<RequestHead> {
    let Ok(Some((head, n))) = parse_head(buf) else {
        return None;
    };
    let len = head.content_length().ok()?;
    if buf.len() - n < len {
        return None;
    }
    buf.drain(..n);
    Some(head)
}

/// Reads the body announced by `Content-Length`; `buf` holds bytes already read and keeps any
/// bytes past the body (a pipelined next request). A client that waits for `100 Continue`
/// gets it before the body is read. (Nothing is held back for pipelining at this point: a
/// request whose body has not fully arrived always has the responses before it written.)
async fn read_body<L: Link>(
    stream: &mut L,
    head: &RequestHead,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, ApiError> {
    if head.header_has_token("transfer-encoding", "chunked") {
        return Err(ApiError::LengthRequired(
            "Chunked bodies are not supported; send Content-Length".into(),
        ));
    }
    let len = head
        .content_length()
        .map_err(|_| ApiError::BadRequest("Invalid Content-Length".into()))?;
    if len > MAX_BODY {
        return Err(ApiError::TooLarge(format!(
            "Request body larger than {MAX_BODY} bytes"
        )));
    }
    let incomplete = || ApiError::Timeout("Request body incomplete".into());
    let mut body = Vec::with_capacity(len);
    let take = len.min(buf.len());
    body.extend_from_slice(&buf[..take]);
    buf.drain(..take);
    if body.len() < len {
        if head.header_has_token("expect", "100-continue")
            && write_all(stream, CONTINUE).await.is_err()
        {
            return Err(incomplete());
        }
        body.resize(len, 0);
        let start = take;
        let r = glommio::timer::timeout(BODY_TIMEOUT, async {
            stream
                .read_exact(&mut body[start..])
                .await
                .map_err(glommio::GlommioError::from)
        })
        .await;
        if r.is_err() {
            return Err(incomplete());
        }
    }
    Ok(body)
}
