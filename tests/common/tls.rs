//! The TLS side of the harness: blocking rustls clients (a WebSocket client, [`TlsWs`], and an
//! HTTPS connection with bounded response reads, [`Https`]), a TLS server start, signed
//! request bytes for raw connections, and signals to the server process.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use crate::common::pki::Issued;
use crate::common::{now_unix, Reply, Server, WAIT};

/// A TLS stream to the server.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Opens a TLS session to `addr` for `localhost` and completes the handshake.
pub fn connect(config: &Arc<ClientConfig>, addr: SocketAddr) -> Result<TlsStream, String> {
    let tcp = TcpStream::connect_timeout(&addr, WAIT).map_err(|e| e.to_string())?;
    handshake(config, tcp)
}

/// [`connect`] with a small fixed receive buffer (no window autotuning), for a client that
/// is meant to fall behind.
pub fn connect_small_window(config: &Arc<ClientConfig>, addr: SocketAddr) -> TlsStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect_timeout(&addr.into(), WAIT).unwrap();
    handshake(config, socket.into()).unwrap_or_else(|e| panic!("{e}"))
}

fn handshake(config: &Arc<ClientConfig>, tcp: TcpStream) -> Result<TlsStream, String> {
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
    }
    Ok(stream)
}

/// The DER of the certificate the server presented.
pub fn peer_leaf(stream: &TlsStream) -> Vec<u8> {
    stream
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("the server presented a certificate")
        .to_vec()
}

/// A WebSocket over TLS.
pub struct TlsWs {
    ws: WebSocket<TlsStream>,
    /// Socket id from `pusher:connection_established` (empty before it was read).
    pub socket_id: String,
}

impl TlsWs {
    /// Opens a TLS session and upgrades `path` (`wss://localhost:port{path}`).
    pub fn open(config: &Arc<ClientConfig>, addr: SocketAddr, path: &str) -> TlsWs {
        let stream = connect(config, addr).unwrap_or_else(|e| panic!("{e}"));
        Self::upgrade(stream, addr, path)
    }

    /// Upgrades `path` on an open TLS session.
    pub fn upgrade(stream: TlsStream, addr: SocketAddr, path: &str) -> TlsWs {
        let url = format!("wss://localhost:{}{path}", addr.port());
        let (ws, response) = tungstenite::client::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("upgrade {path} over TLS: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        TlsWs {
            ws,
            socket_id: String::new(),
        }
    }

    /// Connects to `/app/{key}` and reads `pusher:connection_established`.
    pub fn pusher(config: &Arc<ClientConfig>, addr: SocketAddr, key: &str) -> TlsWs {
        let stream = connect(config, addr).unwrap_or_else(|e| panic!("{e}"));
        Self::pusher_on(stream, addr, key)
    }

    /// [`TlsWs::pusher`] on an open TLS session.
    pub fn pusher_on(stream: TlsStream, addr: SocketAddr, key: &str) -> TlsWs {
        let path = format!("/app/{key}?protocol=7&client=js&version=8.4.0&flash=false");
        let mut ws = Self::upgrade(stream, addr, &path);
        let msg = ws.recv_json();
        assert_eq!(msg["event"], "pusher:connection_established", "{msg}");
        let data: Value = serde_json::from_str(msg["data"].as_str().expect("data string"))
            .expect("data holds JSON");
        ws.socket_id = data["socket_id"].as_str().expect("socket_id").to_string();
        ws
    }

    /// The certificate the server presented for this connection.
    pub fn peer_leaf(&self) -> Vec<u8> {
        peer_leaf(self.ws.get_ref())
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send over TLS");
    }

    /// Sends JSON as a text message.
    pub fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// The next data message within `timeout` (control frames skipped); `None` on silence.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.ws.get_ref().sock.set_read_timeout(Some(left)).unwrap();
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(m) => return Some(m),
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return None
                }
                Err(e) => panic!("TLS WebSocket failed while reading: {e}"),
            }
        }
    }

    /// The next data message (within [`WAIT`]).
    pub fn recv(&mut self) -> Message {
        self.recv_within(WAIT)
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next data message, parsed as JSON.
    pub fn recv_json(&mut self) -> Value {
        match self.recv() {
            Message::Text(t) => serde_json::from_str(t.as_str())
                .unwrap_or_else(|e| panic!("non-JSON text {t:?}: {e}")),
            other => panic!("expected a JSON text message, got {other:?}"),
        }
    }

    /// Expects the next message to be channel event `event` on `channel`; returns its `data`.
    pub fn expect_event(&mut self, event: &str, channel: &str) -> Value {
        let msg = self.recv_json();
        assert_eq!(msg["event"], event, "{msg}");
        assert_eq!(msg["channel"], channel, "{msg}");
        msg["data"].clone()
    }

    /// Subscribes to a public channel and asserts success.
    pub fn subscribe_ok(&mut self, channel: &str) {
        self.send_json(&json!({"event": "pusher:subscribe", "data": {"channel": channel}}));
        let reply = self.recv_json();
        crate::common::assert_succeeded(&reply, channel);
    }

    /// Reads until the close frame (within `timeout`); returns its code and the text messages
    /// before it.
    pub fn expect_close_within(&mut self, timeout: Duration) -> (u16, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .recv_within(left)
                .unwrap_or_else(|| panic!("no close frame within {timeout:?}"));
            match msg {
                Message::Close(frame) => return (frame.map_or(1005, |f| f.code.into()), before),
                Message::Text(t) => before.push(t.as_str().to_string()),
                _ => {}
            }
        }
    }

    /// The underlying WebSocket.
    pub fn inner(&mut self) -> &mut WebSocket<TlsStream> {
        &mut self.ws
    }
}

/// One HTTPS keep-alive connection: raw request bytes in, parsed responses out.
pub struct Https {
    /// The TLS stream.
    pub stream: TlsStream,
    buf: Vec<u8>,
}

impl Https {
    /// Connects to `addr`.
    pub fn connect(config: &Arc<ClientConfig>, addr: SocketAddr) -> Https {
        Https {
            stream: connect(config, addr).unwrap_or_else(|e| panic!("{e}")),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` (one or several requests) in one go.
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write over TLS");
        self.stream.flush().expect("flush over TLS");
    }

    /// Reads one response (bounded by [`WAIT`]).
    pub fn read_reply(&mut self) -> Reply {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut hs);
            if let httparse::Status::Complete(n) = resp.parse(&self.buf).expect("valid HTTP") {
                let headers: Vec<(String, String)> = resp
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                let status = resp.code.expect("status");
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.trim().parse().expect("Content-Length"));
                if self.buf.len() >= n + len {
                    let raw = self.buf[n..n + len].to_vec();
                    self.buf.drain(..n + len);
                    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                    return Reply {
                        status,
                        headers,
                        raw,
                        body,
                    };
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no complete HTTPS response within {WAIT:?}"
            );
            self.stream.sock.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed before the response was complete"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading the HTTPS response failed: {e}"),
            }
        }
    }

    /// Sends one request and reads its response.
    pub fn exchange(&mut self, bytes: &[u8]) -> Reply {
        self.write(bytes);
        self.read_reply()
    }
}

impl Server {
    /// Starts a server with TLS from `cert`, plus `envs`.
    pub fn start_tls(cert: &Issued, envs: &[(&str, &str)]) -> Server {
        let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
        let mut all = vec![("CORECAST_TLS_CERT", c), ("CORECAST_TLS_KEY", k)];
        all.extend_from_slice(envs);
        Server::start(&all)
    }

    /// A signed request for `method path` with `body`, as bytes for a raw connection.
    pub fn signed_bytes(&self, method: &str, path: &str, body: &str) -> Vec<u8> {
        let query = self
            .rest()
            .query(method, path, &[], body.as_bytes(), now_unix());
        format!(
            "{method} {path}?{query} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// A signed `POST /events` publishing `data` as `event` on `channel`, as bytes.
    pub fn publish_bytes(&self, channel: &str, event: &str, data: &str) -> Vec<u8> {
        let path = format!("/apps/{}/events", self.app.id);
        let body = json!({"name": event, "channels": [channel], "data": data}).to_string();
        self.signed_bytes("POST", &path, &body)
    }

    /// Waits (bounded by [`WAIT`]) until the server's output holds `needle` at least `count`
    /// times.
    pub fn wait_output(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.output().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "the server did not print {needle:?} {count} time(s) within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
