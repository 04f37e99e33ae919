//! A plain HTTP connection: request heads and bodies in, REST API responses out, kept alive
//! for as long as the client wants.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::head::{read_head, HeadOutcome};
use super::io::write_all;
use crate::api;
use crate::http::{json_response, RequestHead};
use crate::shard::Shard;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;
/// Time allowed for a body to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves requests on one connection, starting with `head`.
pub async fn serve(
    shard: Rc<Shard>,
    mut stream: TcpStream,
    mut head: RequestHead,
    mut buf: Vec<u8>,
) {
    loop {
        let keep_alive = head.keep_alive();
        let response = match read_body(&mut stream, &head, &mut buf).await {
            Ok(body) => api::handle(&shard, &head, &body).await,
            Err(r) => {
                let _ = write_all(&mut stream, &r.to_bytes(false)).await;
                return;
            }
        };
        if write_all(&mut stream, &response.to_bytes(keep_alive))
            .await
            .is_err()
            || !keep_alive
        {
            return;
        }
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

/// Reads the body announced by `Content-Length`; `buf` holds bytes already read and keeps any
/// bytes past the body (a pipelined next request).
async fn read_body(
    stream: &mut TcpStream,
    head: &RequestHead,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, crate::http::Response> {
    if head.header_has_token("transfer-encoding", "chunked") {
        return Err(json_response(
            411,
            r#"{"error":"Chunked bodies are not supported; send Content-Length"}"#,
        ));
    }
    let len = head
        .content_length()
        .map_err(|_| json_response(400, r#"{"error":"Invalid Content-Length"}"#))?;
    if len > MAX_BODY {
        return Err(json_response(
            413,
            format!("{{\"error\":\"Request body larger than {MAX_BODY} bytes\"}}"),
        ));
    }
    let mut body = Vec::with_capacity(len);
    let take = len.min(buf.len());
    body.extend_from_slice(&buf[..take]);
    buf.drain(..take);
    if body.len() < len {
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
            return Err(json_response(408, r#"{"error":"Request body incomplete"}"#));
        }
    }
    Ok(body)
}
