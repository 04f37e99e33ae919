//! Opening connections: TCP from spread source addresses, the WebSocket handshake, waiting for
//! `pusher:connection_established`, subscribing, and classifying how connections end.

use crate::payload::now_us;
use crate::pusher::{self, Frame};
use crate::target::Target;
use crate::tls::{Stream, TlsClient};
use futures_util::{SinkExt, StreamExt};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<Stream>;

/// Longest a single outgoing frame may wait for the peer to accept it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from a socket at a time. tungstenite zero-fills this much of its read buffer
/// before every read (128 KiB by default), which costs more than the read itself when each read
/// brings one small frame; 8 KiB still takes dozens of batched frames per read.
const READ_BUFFER: usize = 8 * 1024;

/// Frames are written as soon as they are sent (each `send` flushes anyway).
fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
}

/// Why a connection attempt or subscription failed; `reason()` is the report bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnError {
    Tcp(String),
    Tls(String),
    Timeout(&'static str),
    Handshake(String),
    /// The server closed the connection (reason as in [`close_reason`]).
    Closed(String),
    Subscribe(String),
}

impl ConnError {
    pub fn reason(&self) -> String {
        match self {
            ConnError::Tcp(r) => format!("tcp_{r}"),
            ConnError::Tls(r) => format!("tls_{r}"),
            ConnError::Timeout(phase) => format!("timeout_{phase}"),
            ConnError::Handshake(r) => format!("ws_handshake_{r}"),
            ConnError::Closed(r) => format!("closed_{r}"),
            ConnError::Subscribe(r) => format!("subscribe_{r}"),
        }
    }
}

fn io_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => return "addr_not_available".into(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => return "too_many_open_files".into(),
        Some(libc::ECONNREFUSED) => return "refused".into(),
        Some(libc::ECONNRESET) => return "reset".into(),
        _ => {}
    }
    format!("{:?}", e.kind()).to_ascii_lowercase()
}

/// What one read from a WebSocket produced.
#[derive(Debug)]
pub enum Incoming {
    Text(Utf8Bytes),
    /// The connection ended; the reason is a close code ("4100") or a label.
    Closed(String),
    /// Control or binary frames.
    Other,
}

/// Label for a close frame: its code, or `no_code`.
pub fn close_reason(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => u16::from(f.code).to_string(),
        None => "no_code".into(),
    }
}

pub fn classify(msg: Option<Result<Message, tungstenite::Error>>) -> Incoming {
    match msg {
        Some(Ok(Message::Text(t))) => Incoming::Text(t),
        Some(Ok(Message::Binary(b))) => match Utf8Bytes::try_from(b) {
            Ok(t) => Incoming::Text(t),
            Err(_) => Incoming::Other,
        },
        Some(Ok(Message::Close(frame))) => Incoming::Closed(close_reason(frame.as_ref())),
        Some(Ok(_)) => Incoming::Other,
        Some(Err(tungstenite::Error::Io(e))) => Incoming::Closed(format!("io_{}", io_reason(&e))),
        Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
            Incoming::Closed("eof".into())
        }
        Some(Err(e)) => Incoming::Closed(format!("ws_error_{}", short_ws_error(&e))),
        None => Incoming::Closed("eof".into()),
    }
}

fn short_ws_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Protocol(_) => "protocol".into(),
        tungstenite::Error::Capacity(_) => "capacity".into(),
        tungstenite::Error::Http(resp) => format!("http_{}", resp.status().as_u16()),
        tungstenite::Error::Utf8(_) => "utf8".into(),
        _ => "other".into(),
    }
}

/// An established Pusher connection.
pub struct PusherConn {
    pub ws: Ws,
    pub socket_id: String,
    /// TCP connect start → `pusher:connection_established`, in µs.
    pub handshake_us: u64,
}

/// Opens connections to one target, rotating over source addresses.
pub struct Connector {
    pub target: Target,
    ws_url: String,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
    pub connect_timeout: Duration,
    pub key: String,
    pub secret: String,
    /// TLS for `wss://` targets.
    tls: Option<TlsClient>,
}

impl Connector {
    pub fn new(
        target: Target,
        sources: Vec<IpAddr>,
        connect_timeout: Duration,
        key: &str,
        secret: &str,
        tls: Option<TlsClient>,
    ) -> Self {
        Self {
            tls,
            ws_url: target.ws_url(key),
            target,
            sources,
            next_source: AtomicUsize::new(0),
            connect_timeout,
            key: key.into(),
            secret: secret.into(),
        }
    }

    fn next_source(&self) -> Option<IpAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let i = self.next_source.fetch_add(1, Ordering::Relaxed);
        Some(self.sources[i % self.sources.len()])
    }

    /// TCP connection with TCP_NODELAY, bound to the next source address if any.
    pub async fn tcp(&self) -> Result<TcpStream, ConnError> {
        let addr = self.target.addr;
        let sock = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| ConnError::Tcp(io_reason(&e)))?;
        if let Some(src) = self.next_source() {
            // Let connect() pick the port per 4-tuple so each source address gets the whole
            // ephemeral range.
            let one: libc::c_int = 1;
            // SAFETY: plain setsockopt on a socket we own, with a correctly sized int.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            sock.bind(SocketAddr::new(src, 0))
                .map_err(|e| ConnError::Tcp(io_reason(&e)))?;
        }
        let stream = match timeout(self.connect_timeout, sock.connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(ConnError::Tcp(io_reason(&e))),
            Err(_) => return Err(ConnError::Timeout("tcp_connect")),
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// [`Connector::tcp`], then the TLS handshake for a `wss://` target (bounded by the
    /// connect timeout).
    pub async fn stream(&self) -> Result<Stream, ConnError> {
        let tcp = self.tcp().await?;
        let Some(tls) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        match timeout(self.connect_timeout, tls.connect(tcp)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ConnError::Tls(io_reason(&e))),
            Err(_) => Err(ConnError::Timeout("tls_handshake")),
        }
    }

    /// TCP (+ TLS) + WebSocket handshake + `pusher:connection_established`, within the connect
    /// timeout.
    pub async fn open(&self) -> Result<PusherConn, ConnError> {
        let start = now_us();
        match timeout(self.connect_timeout, self.open_inner(start)).await {
            Ok(r) => r,
            Err(_) => Err(ConnError::Timeout("handshake")),
        }
    }

    async fn open_inner(&self, start: u64) -> Result<PusherConn, ConnError> {
        let stream = self.stream().await?;
        let (mut ws, _resp) = tokio_tungstenite::client_async_with_config(
            self.ws_url.as_str(),
            stream,
            Some(ws_config()),
        )
        .await
        .map_err(|e| match e {
            tungstenite::Error::Io(io) => ConnError::Handshake(io_reason(&io)),
            other => ConnError::Handshake(short_ws_error(&other)),
        })?;
        let mut error_code = None;
        loop {
            match classify(ws.next().await) {
                Incoming::Text(t) => {
                    let Ok(frame) = pusher::parse_frame(&t) else {
                        continue;
                    };
                    if let Some(socket_id) = pusher::socket_id(&frame) {
                        let handshake_us = now_us().saturating_sub(start);
                        return Ok(PusherConn {
                            ws,
                            socket_id,
                            handshake_us,
                        });
                    }
                    if frame.event == pusher::ERROR {
                        error_code = pusher::error_code(&frame);
                    }
                }
                Incoming::Closed(reason) => {
                    // Prefer the close code; fall back to a preceding pusher:error code.
                    let reason = match (reason.parse::<u16>(), error_code) {
                        (Err(_), Some(code)) => code.to_string(),
                        _ => reason,
                    };
                    return Err(ConnError::Closed(reason));
                }
                Incoming::Other => {}
            }
        }
    }

    /// `auth` for a private (or, with channel data, presence) channel.
    pub fn auth(&self, socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
        crate::sign::channel_auth(&self.key, &self.secret, socket_id, channel, channel_data)
    }
}

/// Sends one text frame; a peer that stops reading makes this fail after `SEND_TIMEOUT`.
pub async fn send_text(ws: &mut Ws, text: String) -> Result<(), ConnError> {
    match timeout(SEND_TIMEOUT, ws.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(tungstenite::Error::Io(io))) => {
            Err(ConnError::Closed(format!("io_{}", io_reason(&io))))
        }
        Ok(Err(_)) => Err(ConnError::Closed("eof".into())),
        Err(_) => Err(ConnError::Timeout("send")),
    }
}

/// Sends `pusher:subscribe` and waits for `subscription_succeeded` on that channel, answering
/// pings meanwhile. Other frames are ignored.
pub async fn subscribe(
    ws: &mut Ws,
    channel: &str,
    auth: Option<&str>,
    channel_data: Option<&str>,
    limit: Duration,
) -> Result<(), ConnError> {
    send_text(ws, pusher::subscribe(channel, auth, channel_data)).await?;
    let wait = async {
        loop {
            match classify(ws.next().await) {
                Incoming::Text(t) => {
                    let Ok(frame) = pusher::parse_frame(&t) else {
                        continue;
                    };
                    if let Some(outcome) = subscribe_reply(&frame, channel) {
                        return outcome;
                    }
                    if frame.event == pusher::PING {
                        send_text(ws, pusher::PONG.into()).await?;
                    }
                }
                Incoming::Closed(reason) => return Err(ConnError::Closed(reason)),
                Incoming::Other => {}
            }
        }
    };
    match timeout(limit, wait).await {
        Ok(r) => r,
        Err(_) => Err(ConnError::Timeout("subscribe")),
    }
}

/// Interprets a frame as the answer to subscribing `channel`, if it is one.
fn subscribe_reply(frame: &Frame<'_>, channel: &str) -> Option<Result<(), ConnError>> {
    let same_channel = frame.channel() == Some(channel);
    if frame.event == pusher::SUBSCRIPTION_SUCCEEDED && same_channel {
        return Some(Ok(()));
    }
    if frame.event == pusher::SUBSCRIPTION_ERROR && same_channel {
        return Some(Err(ConnError::Subscribe(pusher::subscription_error_type(
            frame,
        ))));
    }
    if frame.event == pusher::ERROR && (frame.channel.is_none() || same_channel) {
        // Servers without subscription_error answer a refused subscription with pusher:error.
        let code = pusher::error_code(frame).map_or("null".to_string(), |c| c.to_string());
        return Some(Err(ConnError::Subscribe(format!("pusher_error_{code}"))));
    }
    None
}

/// Best-effort close handshake, bounded in time.
pub async fn close_quietly(ws: &mut Ws) {
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::CloseCode;
    use tungstenite::protocol::CloseFrame;

    #[test]
    fn classifies_closes_and_errors() {
        let frame = CloseFrame {
            code: CloseCode::from(4100),
            reason: "slow".into(),
        };
        match classify(Some(Ok(Message::Close(Some(frame))))) {
            Incoming::Closed(r) => assert_eq!(r, "4100"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(None), Incoming::Closed(r) if r == "eof"));
        assert!(
            matches!(classify(Some(Ok(Message::Close(None)))), Incoming::Closed(r) if r == "no_code")
        );
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert!(matches!(
            classify(Some(Err(tungstenite::Error::Io(reset)))),
            Incoming::Closed(r) if r == "io_reset"
        ));
        assert!(matches!(
            classify(Some(Ok(Message::text("{}")))),
            Incoming::Text(_)
        ));
    }

    #[test]
    fn subscribe_replies() {
        let ok = pusher::parse_frame(
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}"}"#,
        )
        .expect("f");
        assert_eq!(subscribe_reply(&ok, "c"), Some(Ok(())));
        assert_eq!(subscribe_reply(&ok, "other"), None);
        let err = pusher::parse_frame(
            r#"{"event":"pusher:subscription_error","channel":"c","data":{"type":"AuthError","status":401}}"#,
        )
        .expect("f");
        assert_eq!(
            subscribe_reply(&err, "c").map(|r| r.map_err(|e| e.reason())),
            Some(Err("subscribe_AuthError".into()))
        );
        let perr =
            pusher::parse_frame(r#"{"event":"pusher:error","data":{"code":null}}"#).expect("f");
        assert!(matches!(
            subscribe_reply(&perr, "c"),
            Some(Err(ConnError::Subscribe(_)))
        ));
    }
}
