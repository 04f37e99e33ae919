//! A plain HTTP connection: request heads and bodies in, REST API responses out, kept alive
//! for as long as the client wants, within time limits: a body must arrive in full within
//! `CORECAST_BODY_TIMEOUT_MS` (else `408`), a response be taken by the client within the same
//! time (else the connection is reset), and an idle connection waits for its next request at
//! most `CORECAST_KEEPALIVE_TIMEOUT_MS`. Responses to pipelined requests that have already
//! fully arrived are written together, with one write.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::GlommioError;

use super::closing;
use super::head::{read_head, HeadOutcome, HeadTimeouts};
use super::io::{send_and_linger, write_all};
use super::link::Link;
use crate::api::{self, ApiError};
use crate::http::{parse_head, RequestHead};
use crate::shard::Shard;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;
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
    let body_timeout = shard.config.body_timeout();
    let next_head = HeadTimeouts {
        idle: Some(shard.config.keepalive_timeout()),
        head: shard.config.head_timeout(),
    };
    let mut out = Vec::new();
    loop {
        let keep_alive = head.keep_alive();
        match read_body(&mut stream, &head, &mut buf, body_timeout).await {
            Ok(body) => api::handle(&shard, &head, &body)
                .await
                .append_to(&mut out, keep_alive),
            Err(e) => {
                // The rest of the input cannot be framed: answer, then close.
                e.response().append_to(&mut out, false);
                send_and_linger(&mut stream, &out).await;
                return;
            }
        }
        if keep_alive && out.len() < MAX_HELD {
            if let Some(next) = take_whole_request(&mut buf) {
                head = next;
                continue;
            }
        }
        if !write_within(&mut stream, &out, body_timeout).await || !keep_alive {
            return;
        }
        out.clear();
        head = match read_head(&mut stream, std::mem::take(&mut buf), next_head).await {
            HeadOutcome::Head(h, rest) => {
                buf = rest;
                h
            }
            HeadOutcome::Closed => return,
            HeadOutcome::Refused(r) => {
                send_and_linger(&mut stream, &r).await;
                return;
            }
        };
    }
}

/// Writes `bytes` unless the client takes longer than `limit` to receive them; then the
/// connection is to be dropped with a reset (false).
async fn write_within<L: Link>(stream: &mut L, bytes: &[u8], limit: Duration) -> bool {
    let written = glommio::timer::timeout(limit, async {
        write_all(stream, bytes).await.map_err(GlommioError::from)
    })
    .await;
    match written {
        Ok(()) => true,
        Err(GlommioError::TimedOut(_)) => {
            closing::abort_if_stuck(stream.as_raw_fd(), true);
            false
        }
        Err(_) => false,
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

/// Reads the body announced by the head's framing ([`RequestHead::content_length`]) within
/// `limit`; `buf` holds bytes already read and keeps any bytes past the body (a pipelined next
/// request). A client that waits for `100 Continue` gets it before the body is read. (Nothing
/// is held back for pipelining at this point: a request whose body has not fully arrived
/// always has the responses before it written.)
async fn read_body<L: Link>(
    stream: &mut L,
    head: &RequestHead,
    buf: &mut Vec<u8>,
    limit: Duration,
) -> Result<Vec<u8>, ApiError> {
    let len = head.content_length()?;
    if len > MAX_BODY {
        return Err(ApiError::TooLarge(format!(
            "Request body larger than {MAX_BODY} bytes"
        )));
    }
    let mut body = Vec::with_capacity(len);
    let take = len.min(buf.len());
    body.extend_from_slice(&buf[..take]);
    buf.drain(..take);
    if body.len() < len {
        body.resize(len, 0);
        let start = take;
        let r = glommio::timer::timeout(limit, async {
            if head.header_has_token("expect", "100-continue") {
                write_all(stream, CONTINUE).await?;
            }
            stream.read_exact(&mut body[start..]).await?;
            Ok::<(), GlommioError<()>>(())
        })
        .await;
        if r.is_err() {
            return Err(ApiError::Timeout("Request body incomplete".into()));
        }
    }
    Ok(body)
}
