//! Sockets: each shard's listener, the TLS handshake on a TLS listener, and what a new
//! connection becomes (a Pusher WebSocket, a raw `/v3` WebSocket, or a REST keep-alive
//! connection) once its request head is read. Everything after the handshake is generic over
//! the [`link::Link`] it runs on.

mod closing;
mod head;
mod io;
pub mod link;
mod pause;
mod pusher;
mod raw;
mod rest;
mod sendmsg;
pub mod tls;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};
use rustls::ServerConfig;
use tracing::{debug, warn};

use crate::api::ApiError;
use crate::http::RequestHead;
use crate::protocol;
use crate::shard::Shard;
use crate::ws::handshake;

pub use head::HeadOutcome;
use link::{Link, TlsLink};

/// Time allowed for a TLS handshake (from the first byte to the session).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Accepts connections forever, each handled by its own task on this shard; with `tls`, every
/// connection is a TLS session.
pub async fn serve(shard: Rc<Shard>, listener: TcpListener, tls: Option<Arc<ServerConfig>>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = Rc::clone(&shard);
                let _ = stream.set_nodelay(true);
                match &tls {
                    Some(config) => {
                        let config = Arc::clone(config);
                        glommio::spawn_local(handle_tls(shard, stream, config)).detach();
                    }
                    None => {
                        glommio::spawn_local(handle(shard, stream)).detach();
                    }
                }
            }
            Err(e) => {
                warn!(shard = shard.id(), error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Completes the TLS handshake, then serves the connection as [`handle`] does. A plain HTTP
/// request (the first byte is a letter, not a TLS record) gets a 400 telling it to use TLS.
async fn handle_tls(shard: Rc<Shard>, mut stream: TcpStream, config: Arc<ServerConfig>) {
    let mut first = [0u8; 1];
    let peeked =
        glommio::timer::timeout(HANDSHAKE_TIMEOUT, async { stream.peek(&mut first).await }).await;
    match peeked {
        Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(1) if first[0].is_ascii_alphabetic() => {
            let refusal =
                ApiError::BadRequest("This port speaks TLS only: use https:// or wss://".into());
            io::send_and_linger(&mut stream, &refusal.response().to_bytes(false)).await;
            return;
        }
        _ => return,
    }
    let accept = futures_rustls::TlsAcceptor::from(config).accept(stream);
    let session = glommio::timer::timeout(HANDSHAKE_TIMEOUT, async {
        accept.await.map_err(glommio::GlommioError::from)
    })
    .await;
    match session {
        Ok(session) => handle(shard, TlsLink::new(session)).await,
        Err(e) => debug!(error = %e, "TLS handshake failed"),
    }
}

/// Reads the first request head (within `CORECAST_HEAD_TIMEOUT_MS` of the accept, or of the
/// TLS session) and dispatches on it.
async fn handle<L: Link>(shard: Rc<Shard>, mut stream: L) {
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

async fn upgrade<L: Link>(shard: Rc<Shard>, mut stream: L, head: RequestHead, leftover: Vec<u8>) {
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
