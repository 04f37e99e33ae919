//! The WebSocket side of the harness: a blocking Pusher client with bounded reads.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::{App, WAIT};

/// A WebSocket client connection.
pub struct Ws {
    ws: WebSocket<TcpStream>,
    /// Socket id from `pusher:connection_established` (empty before it was read).
    pub socket_id: String,
}

impl Ws {
    /// Performs the upgrade handshake on `path`.
    pub fn open(addr: SocketAddr, path: &str) -> Result<Ws, String> {
        Self::open_with_headers(addr, path, &[])
    }

    /// Performs the upgrade handshake on `path` with extra request `headers` (e.g. `Origin`).
    pub fn open_with_headers(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, String> {
        let stream = TcpStream::connect_timeout(&addr, WAIT).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let url = format!("ws://{addr}{path}");
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| e.to_string())?;
            let value = value.parse().map_err(|e| format!("header value: {e}"))?;
            request.headers_mut().insert(name, value);
        }
        let (ws, response) = tungstenite::client::client(request, stream)
            .map_err(|e| format!("handshake failed: {e}"))?;
        if response.status().as_u16() != 101 {
            return Err(format!("status {}", response.status()));
        }
        Ok(Ws {
            ws,
            socket_id: String::new(),
        })
    }

    /// Reads `pusher:connection_established` and records the socket id; returns its data.
    pub fn established(&mut self) -> Value {
        let msg = self.recv_json();
        assert_eq!(msg["event"], "pusher:connection_established", "{msg}");
        let data: Value = serde_json::from_str(msg["data"].as_str().expect("data is a string"))
            .expect("data string holds JSON");
        self.socket_id = data["socket_id"].as_str().expect("socket_id").to_string();
        data
    }

    /// Sends one message.
    pub fn send(&mut self, msg: Message) {
        self.ws.send(msg).expect("send a WebSocket message");
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send(Message::text(text));
    }

    /// Sends JSON as a text frame.
    pub fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// Queues messages and writes them all with one flush (one burst on the wire).
    pub fn send_burst(&mut self, values: &[Value]) {
        for v in values {
            self.ws.write(Message::text(v.to_string())).expect("queue");
        }
        self.ws.flush().expect("flush");
    }

    /// The next message within `timeout`, or `None` if none arrived. Panics on a dropped
    /// connection.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Message> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.ws.get_ref().set_read_timeout(Some(timeout)).unwrap();
        let r = self.ws.read();
        self.ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
        match r {
            Ok(m) => Some(m),
            Err(WsError::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                None
            }
            Err(e) => panic!("connection failed while reading: {e}"),
        }
    }

    /// The next message (within [`WAIT`]).
    pub fn recv(&mut self) -> Message {
        self.recv_within(WAIT)
            .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
    }

    /// The next data message, which must be text; control frames are skipped.
    pub fn recv_text(&mut self) -> String {
        loop {
            match self.recv() {
                Message::Text(t) => return t.as_str().to_string(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next data message (within [`WAIT`]), parsed as JSON. Control frames are skipped.
    pub fn recv_json(&mut self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .recv_within(left)
                .unwrap_or_else(|| panic!("no message within {WAIT:?}"));
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("server sent non-JSON text {t:?}: {e}"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a JSON text message, got {other:?}"),
            }
        }
    }

    /// Asserts that no data message arrives within `d` (control frames are skipped).
    pub fn assert_silent(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Some(msg) = self.recv_within(deadline.saturating_duration_since(Instant::now())) {
            if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
                panic!("expected silence, got {msg:?}");
            }
        }
    }

    /// Reads until the close frame; returns its code and the JSON messages received before it.
    pub fn expect_close(&mut self) -> (u16, Vec<Value>) {
        self.expect_close_within(WAIT)
    }

    /// [`Ws::expect_close`] with a custom bound.
    pub fn expect_close_within(&mut self, timeout: Duration) -> (u16, Vec<Value>) {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.ws
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.ws.read() {
                Ok(Message::Close(frame)) => {
                    let code = frame.map_or(1005, |f: CloseFrame| u16::from(f.code));
                    return (code, before);
                }
                Ok(Message::Text(t)) => {
                    before.push(serde_json::from_str(t.as_str()).unwrap_or(json!(t.as_str())))
                }
                Ok(_) => {}
                Err(WsError::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("no close frame within {timeout:?}; got {before:?}")
                }
                Err(e) => panic!("connection ended without a close frame ({e}); got {before:?}"),
            }
        }
    }

    /// Sends `pusher:ping` and asserts the very next message is `pusher:pong`.
    pub fn ping_pong(&mut self) {
        self.send_json(&json!({"event": "pusher:ping", "data": {}}));
        let reply = self.recv_json();
        assert_eq!(reply["event"], "pusher:pong", "expected pong, got {reply}");
    }

    /// Sends `pusher:subscribe` with optional `auth` and returns the reply.
    pub fn subscribe_with(&mut self, channel: &str, auth: Option<&str>) -> Value {
        let mut data = json!({ "channel": channel });
        if let Some(a) = auth {
            data["auth"] = json!(a);
        }
        self.send_json(&json!({"event": "pusher:subscribe", "data": data}));
        self.recv_json()
    }

    /// Subscribes to a public channel and asserts success.
    pub fn subscribe_ok(&mut self, channel: &str) {
        let reply = self.subscribe_with(channel, Some(""));
        assert_succeeded(&reply, channel);
    }

    /// Subscribes to a private channel of `app` with a correct signature and asserts success.
    pub fn subscribe_private(&mut self, app: &App, channel: &str) {
        let auth = app.channel_auth(&self.socket_id, channel);
        let reply = self.subscribe_with(channel, Some(&auth));
        assert_succeeded(&reply, channel);
    }

    /// Sends `pusher:unsubscribe`.
    pub fn unsubscribe(&mut self, channel: &str) {
        self.send_json(&json!({"event": "pusher:unsubscribe", "data": {"channel": channel}}));
    }

    /// Expects the next message to be channel event `event` on `channel`; returns its `data`.
    pub fn expect_event(&mut self, event: &str, channel: &str) -> Value {
        let msg = self.recv_json();
        assert_eq!(msg["event"], event, "unexpected message {msg}");
        assert_eq!(msg["channel"], channel, "unexpected message {msg}");
        msg["data"].clone()
    }

    /// The underlying WebSocket.
    pub fn inner(&mut self) -> &mut WebSocket<TcpStream> {
        &mut self.ws
    }
}

/// Asserts `reply` is a `pusher:subscription_error` of `kind` and `status` on `channel`.
pub fn assert_sub_error(reply: &Value, channel: &str, kind: &str, status: u16) {
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    assert_eq!(reply["channel"], channel, "{reply}");
    assert_eq!(reply["data"]["type"], kind, "{reply}");
    assert_eq!(reply["data"]["status"], status, "{reply}");
    assert!(reply["data"]["error"].is_string(), "{reply}");
}

/// Asserts `reply` is `pusher_internal:subscription_succeeded` for `channel` with data `"{}"`.
pub fn assert_succeeded(reply: &Value, channel: &str) {
    assert_eq!(
        reply["event"], "pusher_internal:subscription_succeeded",
        "{reply}"
    );
    assert_eq!(reply["channel"], channel, "{reply}");
    assert_eq!(reply["data"], "{}", "{reply}");
}
