//! A webhook receiver for the tests: a small HTTP/1.1 server on a loopback port that records
//! every request (keep-alive connections included) and answers as scripted: a list of statuses
//! for the first requests then 200, or never (a black hole that reads and holds the
//! connection). Every wait is bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Headers in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// Exact body bytes.
    pub body: Vec<u8>,
    /// When it had fully arrived.
    pub at: Instant,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// The body's `events`.
    pub fn events(&self) -> Vec<Value> {
        self.json()["events"]
            .as_array()
            .cloned()
            .expect("webhook body has an events array")
    }

    /// Checks what Pusher's SDKs check: the key, the signature over the raw body, and the
    /// exact content type.
    pub fn assert_signed(&self, key: &str, secret: &str) {
        assert_eq!(self.method, "POST", "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("x-pusher-key"), Some(key));
        let want = corecast::auth::hmac_sha256_hex(secret.as_bytes(), &self.body);
        assert_eq!(
            self.header("x-pusher-signature"),
            Some(want.as_str()),
            "signature of {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.header("x-corecast-webhook-id").is_some(), "{self:?}");
        assert!(
            self.header("user-agent")
                .is_some_and(|ua| ua.starts_with("corecast/")),
            "{self:?}"
        );
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
enum Mode {
    /// These statuses for the first requests, then 200.
    Script(Vec<u16>),
    /// Never answer.
    BlackHole,
}

#[derive(Default)]
struct Log {
    requests: Vec<Request>,
}

/// A running receiver (threads end with the test process).
pub struct Receiver {
    /// Its address.
    pub addr: SocketAddr,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn start() -> Receiver {
        Self::spawn(Mode::Script(Vec::new()))
    }

    /// A receiver answering `statuses` to the first requests, then 200.
    pub fn scripted(statuses: &[u16]) -> Receiver {
        Self::spawn(Mode::Script(statuses.to_vec()))
    }

    /// A receiver that reads requests and never answers.
    pub fn black_hole() -> Receiver {
        Self::spawn(Mode::BlackHole)
    }

    fn spawn(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let script = Arc::new(Mutex::new(match &mode {
            Mode::Script(s) => s.clone(),
            Mode::BlackHole => Vec::new(),
        }));
        let black_hole = matches!(mode, Mode::BlackHole);
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (log, script) = (Arc::clone(&shared), Arc::clone(&script));
                std::thread::spawn(move || serve(stream, &log, &script, black_hole));
            }
        });
        Receiver { addr, log }
    }

    /// The URL webhooks should be sent to.
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.0.lock().unwrap().requests.clone()
    }

    /// Waits up to `limit` until at least `n` requests arrived; returns all of them.
    pub fn wait_requests(&self, n: usize, limit: Duration) -> Vec<Request> {
        let deadline = Instant::now() + limit;
        let (lock, cond) = &*self.log;
        let mut log = lock.lock().unwrap();
        while log.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} webhook requests within {limit:?}, expected {n}: {:#?}",
                log.requests.len(),
                log.requests.iter().map(|r| r.json()).collect::<Vec<_>>()
            );
            log = cond.wait_timeout(log, left).unwrap().0;
        }
        log.requests.clone()
    }

    /// Every event received so far, in arrival order, each request checked as signed by
    /// `key` / `secret`.
    pub fn events(&self, key: &str, secret: &str) -> Vec<Value> {
        let mut all = Vec::new();
        for r in self.requests() {
            r.assert_signed(key, secret);
            all.extend(r.events());
        }
        all
    }

    /// Waits up to `limit` until the events (checked as signed) satisfy `done`; returns them.
    pub fn wait_events(
        &self,
        key: &str,
        secret: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events(key, secret);
            if done(&events) {
                return events;
            }
            let (lock, cond) = &*self.log;
            let log = lock.lock().unwrap();
            let seen = log.requests.len();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "webhook events within {limit:?} did not match: {events:#?}"
            );
            let _ = cond
                .wait_timeout_while(log, left, |l| l.requests.len() == seen)
                .unwrap();
        }
    }
}

/// Events named `name` among `events`.
pub fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["name"] == name).collect()
}

/// Reads requests off one connection until it closes.
fn serve(
    mut stream: TcpStream,
    log: &(Mutex<Log>, Condvar),
    script: &Mutex<Vec<u16>>,
    black_hole: bool,
) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf) else {
            return;
        };
        {
            let (lock, cond) = log;
            lock.lock().unwrap().requests.push(request);
            cond.notify_all();
        }
        if black_hole {
            // Hold the connection open, reading whatever comes, never answering.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
        let status = {
            let mut s = script.lock().unwrap();
            if s.is_empty() {
                200
            } else {
                s.remove(0)
            }
        };
        let body = if status == 200 {
            "{}"
        } else {
            "{\"error\":\"scripted\"}"
        };
        let reply = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One request from `stream` (`buf` keeps bytes of the next one); `None` at end of stream.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = req.parse(buf) {
            let method = req.method.unwrap_or_default().to_string();
            let path = req.path.unwrap_or_default().to_string();
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_len..head_len + len].to_vec();
            buf.drain(..head_len + len);
            return Some(Request {
                method,
                path,
                headers,
                body,
                at: Instant::now(),
            });
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}
