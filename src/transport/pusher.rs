//! A Pusher protocol 7 connection (`/app/{key}`): checks made after the upgrade (path, app,
//! protocol version, origin, quotas) in the spec's order, `pusher:connection_established`,
//! then the connection loop with the Pusher message handler.

use std::rc::Rc;

use bytes::Bytes;

use super::io;
use super::link::Link;
use crate::http::RequestHead;
use crate::protocol::codes::{CloseCode, ORIGIN_NOT_ALLOWED};
use crate::protocol::outbound;
use crate::shard::{session, ConnKey, ConnKind, Shard};
use crate::ws::frame::{self, Incoming};

/// Protocol versions accepted.
const SUPPORTED_PROTOCOLS: [u32; 3] = [5, 6, 7];

/// Checks a Pusher upgrade request; `Ok(app index)` or the close code to refuse it with.
pub fn admit(shard: &Shard, head: &RequestHead) -> Result<u32, (CloseCode, String)> {
    let refuse = |code: CloseCode| Err((code, code.reason().to_string()));
    let Some(key) = head
        .path
        .strip_prefix("/app/")
        .filter(|k| !k.is_empty() && !k.contains('/'))
    else {
        return refuse(CloseCode::PathNotFound);
    };
    let Some(app) = shard.config.app_by_key(key) else {
        return refuse(CloseCode::AppNotFound);
    };
    if !app.enabled {
        return refuse(CloseCode::AppDisabled);
    }
    if let Some(p) = head.query_param("protocol") {
        match p.parse::<u32>() {
            Err(_) => return refuse(CloseCode::InvalidVersionFormat),
            Ok(v) if !SUPPORTED_PROTOCOLS.contains(&v) => {
                return refuse(CloseCode::UnsupportedProtocol)
            }
            Ok(_) => {}
        }
    }
    if !app.allowed_origins.allows_header(head.header("origin")) {
        return Err((CloseCode::Unauthorized, ORIGIN_NOT_ALLOWED.to_string()));
    }
    if let Err(code) = shard.room_for(app) {
        return refuse(code);
    }
    Ok(app.index)
}

/// Runs a Pusher connection whose upgrade `response` is ready to send.
pub async fn run<L: Link>(
    shard: Rc<Shard>,
    mut stream: L,
    head: RequestHead,
    response: Vec<u8>,
    leftover: Vec<u8>,
) {
    let app = match admit(&shard, &head) {
        Ok(app) => app,
        Err((code, message)) => return refuse(&mut stream, response, code, &message).await,
    };
    // The request head is not needed any more: free it before the connection's long life.
    drop(head);
    let (key, socket_id) = shard.register(app, ConnKind::Pusher);
    shard.send(key, Bytes::from(response));
    let hello = outbound::connection_established(socket_id, shard.config.settings.activity_timeout);
    shard.send_text(key, &hello);
    let max = shard.config.max_message_bytes();
    io::run_ws(shard, stream, key, max, leftover, Box::new(on_message));
}

/// Completes the upgrade, then sends `pusher:error` and a close frame with `code`.
async fn refuse<L: Link>(stream: &mut L, mut response: Vec<u8>, code: CloseCode, message: &str) {
    response.extend_from_slice(&frame::text_frame(
        outbound::close_error(code, message).as_bytes(),
    ));
    response.extend_from_slice(&frame::close_frame(code.code(), message));
    io::send_and_linger(stream, &response).await;
}

/// The Pusher message handler.
fn on_message(shard: &Rc<Shard>, key: ConnKey, msg: Incoming<'_>) {
    match msg {
        Incoming::Text(text) => session::on_text(shard, key, text),
        Incoming::Binary(bytes) => {
            // A binary frame holding UTF-8 JSON is treated as text; anything else is ignored.
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                session::on_text(shard, key, bytes);
            }
        }
        Incoming::Ping(payload) => shard.send(key, frame::pong_frame(payload)),
        Incoming::Pong(_) => {}
        Incoming::Close(info) => {
            let code = info.map_or(1000, |c| c.code);
            shard.close_ws(key, code, "");
        }
    }
}
