//! The HTTP side of the harness: a keep-alive REST client that signs requests, and a bounded
//! HTTP/1.1 response reader.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use corecast::auth::request::sign_request;
use serde_json::{json, Value};

use super::{now_unix, App, WAIT};

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub raw: Vec<u8>,
    /// Body as JSON (`Null` if it is not JSON).
    pub body: Value,
}

impl Reply {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Asserts the status and a JSON `{"error": "..."}` body.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error must be JSON: {:?}",
            self.headers
        );
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "expected {{\"error\":…}}, got {}",
            self.text()
        );
    }

    /// Asserts status 200 and returns the JSON body.
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "body: {}", self.text());
        assert!(
            self.body.is_object(),
            "expected a JSON object: {}",
            self.text()
        );
        &self.body
    }
}

/// An HTTP/1.1 client that keeps its connection alive and signs requests for one app.
pub struct Rest {
    addr: SocketAddr,
    /// App whose credentials sign requests.
    pub app: App,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// TCP connections opened so far.
    pub connections: usize,
}

impl Rest {
    /// A client for `app` (connects lazily).
    pub fn new(addr: SocketAddr, app: App) -> Rest {
        Rest {
            addr,
            app,
            stream: None,
            buf: Vec::new(),
            connections: 0,
        }
    }

    /// POSTs JSON to `/apps/{id}/{tail}`, signed now.
    pub fn post(&mut self, tail: &str, body: &Value) -> Reply {
        let path = format!("/apps/{}/{tail}", self.app.id);
        self.signed("POST", &path, &[], body.to_string().as_bytes())
    }

    /// GETs `/apps/{id}/{tail}` with `params`, signed now.
    pub fn get(&mut self, tail: &str, params: &[(&str, &str)]) -> Reply {
        let path = format!("/apps/{}/{tail}", self.app.id);
        self.signed("GET", &path, params, b"")
    }

    /// Publishes through `POST /events` and asserts `200 {}`.
    pub fn trigger(&mut self, body: Value) {
        let reply = self.post("events", &body);
        assert_eq!(reply.ok(), &json!({}), "trigger {body}");
    }

    /// A request to `path` signed with the app's credentials at the current time.
    pub fn signed(
        &mut self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.signed_at(method, path, params, body, now_unix())
    }

    /// A request to `path` signed at Unix time `ts`.
    pub fn signed_at(
        &mut self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: &[u8],
        ts: u64,
    ) -> Reply {
        let query = self.query(method, path, params, body, ts);
        self.send(method, &format!("{path}?{query}"), body, &[])
    }

    /// The signed query string (without `?`) for a request with `body`, signed at `ts`.
    pub fn query(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: &[u8],
        ts: u64,
    ) -> String {
        sign_request(
            method,
            path,
            params,
            body,
            &self.app.key,
            &self.app.secret,
            ts,
        )
    }

    /// Sends a request for `target` (path and query, used as is) and reads the response.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.exchange(&bytes)
    }

    /// Writes raw request bytes and reads one response.
    pub fn exchange(&mut self, bytes: &[u8]) -> Reply {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, WAIT).expect("connect for REST");
            s.set_read_timeout(Some(WAIT)).unwrap();
            s.set_write_timeout(Some(WAIT)).unwrap();
            s.set_nodelay(true).unwrap();
            self.stream = Some(s);
            self.buf.clear();
            self.connections += 1;
        }
        let stream = self.stream.as_mut().unwrap();
        stream.write_all(bytes).expect("write request");
        let reply = read_response(stream, &mut self.buf);
        if reply
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            self.stream = None;
        }
        reply
    }
}

/// Reads one HTTP response from `stream`; `buf` holds bytes read earlier and keeps extra ones.
pub fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Reply {
    let deadline = Instant::now() + WAIT;
    let mut chunk = [0u8; 16 * 1024];
    let (status, headers, head_len, content_length) = loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        if let httparse::Status::Complete(n) = resp.parse(buf).expect("valid HTTP response") {
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let len = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.trim().parse::<usize>().expect("Content-Length"));
            break (resp.code.unwrap(), headers, n, len);
        }
        fill(stream, buf, &mut chunk, deadline, "response head");
    };
    let body_len = match content_length {
        Some(n) => n,
        None if (100..200).contains(&status) => 0,
        None => {
            // No length: the body runs until the server closes.
            while fill_or_eof(stream, buf, &mut chunk, deadline) {}
            buf.len() - head_len
        }
    };
    while buf.len() < head_len + body_len {
        fill(stream, buf, &mut chunk, deadline, "response body");
    }
    let raw = buf[head_len..head_len + body_len].to_vec();
    buf.drain(..head_len + body_len);
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        raw,
        body,
    }
}

fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    deadline: Instant,
    what: &str,
) {
    if !fill_or_eof(stream, buf, chunk, deadline) {
        panic!("connection closed before the {what} was complete");
    }
}

/// Reads more bytes; false on end of stream. Panics past `deadline`.
fn fill_or_eof(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    deadline: Instant,
) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(!left.is_zero(), "no complete HTTP response within {WAIT:?}");
    stream.set_read_timeout(Some(left)).unwrap();
    match stream.read(chunk) {
        Ok(0) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no complete HTTP response within {WAIT:?}")
        }
        Err(e) => panic!("reading the HTTP response failed: {e}"),
    }
}
