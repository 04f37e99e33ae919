//! Sockets: each shard's listener, and what a new connection becomes (a Pusher WebSocket, a
//! raw `/v3` WebSocket, or a REST keep-alive connection) once its request head is read.

mod closing;
mod head;
mod io;
mod pause;
mod pusher;
mod raw;
mod rest;
mod sendmsg;

use std::rc::Rc;
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::api::ApiError;
use crate::http::RequestHead;
use crate::protocol;
use crate::shard::Shard;
use crate::ws::handshake;

pub use head::HeadOutcome;

/// Accepts connections forever, each handled by its own task on this shard.
pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = Rc::clone(&shard);
                glommio::spawn_local(async move { handle(shard, stream).await }).detach();
            }
            Err(e) => {
                warn!(shard = shard.id(), error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads the first request head (within `CORECAST_HEAD_TIMEOUT_MS` of the accept) and
/// dispatches on it.
async fn handle(shard: Rc<Shard>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let timeouts = head::HeadTimeouts {
        idle: None,
        head: shard.config.head_timeout(),
    };
    let (head, leftover) = match head::read_head(&mut stream, Vec::new(), timeouts).await {
        HeadOutcome::Head(head, leftover) => (head, leftover),
        HeadOutcome::Closed => return,
        HeadOutcome::Refused(response) => {
            io::send_and_linger(&mut stream, &response).await;
            return;
        }
    };
    if handshake::is_upgrade(&head) {
        upgrade(shard, stream, head, leftover).await;
    } else {
        rest::serve(shard, stream, head, leftover).await;
    }
}

/// Why an upgrade request's framing is refused: the bytes after its head are WebSocket frames,
/// so a body (or a framing a proxy could read as one) would make the two disagree.
fn upgrade_framing(head: &RequestHead) -> Result<(), ApiError> {
    match head.content_length()? {
        0 => Ok(()),
        _ => Err(ApiError::BadRequest(
            "A WebSocket upgrade request cannot have a body".into(),
        )),
    }
}

async fn upgrade(shard: Rc<Shard>, mut stream: TcpStream, head: RequestHead, leftover: Vec<u8>) {
    if let Err(e) = upgrade_framing(&head) {
        debug!(error = %e, "websocket upgrade with a body refused");
        io::send_and_linger(&mut stream, &e.response().to_bytes(false)).await;
        return;
    }
    let response = match handshake::accept(&head) {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "websocket handshake refused");
            let _ = io::write_all(&mut stream, &e.response()).await;
            return;
        }
    };
    if protocol::raw::is_raw_path(&head.path) {
        raw::run(shard, stream, head, response, leftover).await;
    } else {
        pusher::run(shard, stream, head, response, leftover).await;
    }
}
