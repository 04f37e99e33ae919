//! Helpers for cluster tests: nodes on a test's own Redis, `/ready` polling, stopping and
//! continuing a node process, and a pipelined burst of REST publishes.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::redis_server::Redis;
use super::{read_response, Server, WAIT};

/// Prefix of the Redis names in cluster tests.
pub const PREFIX: &str = "cctest";

impl Server {
    /// A node of the cluster on `redis`; `envs` add or override settings.
    pub fn node(redis: &Redis, envs: &[(&str, &str)]) -> Server {
        let url = redis.url();
        let mut all = vec![
            ("CORECAST_REDIS_URL", url.as_str()),
            ("CORECAST_REDIS_PREFIX", PREFIX),
        ];
        all.extend_from_slice(envs);
        Server::start(&all)
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) to the server process.
    pub fn signal(&self, signal: i32) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        let r = unsafe { libc::kill(pid, signal) };
        assert_eq!(r, 0, "kill({pid}, {signal})");
    }

    /// Status of `GET /ready`.
    pub fn ready_status(&self) -> u16 {
        let reply = self.rest().send("GET", "/ready", b"", &[]);
        assert!(reply.body.is_object(), "/ready body: {}", reply.text());
        reply.status
    }

    /// Waits until `GET /ready` answers `status`, at most `within`.
    pub fn wait_ready(&self, status: u16, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.ready_status();
            if now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/ready stayed {now} for {within:?}, expected {status}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the series `series` reads at least `min`, at most `within`.
    pub fn wait_metric_at_least(&self, series: &str, min: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let now = self.metric(series).unwrap_or(0);
            if now >= min {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{series} stayed {now} for {within:?}, expected at least {min}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes one `POST /events` request per body on one connection before reading any
    /// response (a pipelined burst), then checks every response is `200 {}`.
    pub fn publish_burst(&self, bodies: &[Value]) {
        let rest = self.rest();
        let path = format!("/apps/{}/events", self.app.id);
        let mut bytes = Vec::new();
        for body in bodies {
            let body = body.to_string();
            let query = rest.query("POST", &path, &[], body.as_bytes(), super::now_unix());
            bytes.extend_from_slice(
                format!(
                    "POST {path}?{query} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    self.addr,
                    body.len()
                )
                .as_bytes(),
            );
        }
        let mut stream = TcpStream::connect_timeout(&self.addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream.write_all(&bytes).expect("write the burst");
        let mut buf = Vec::new();
        for i in 0..bodies.len() {
            let reply = read_response(&mut stream, &mut buf);
            assert_eq!(
                reply.status,
                200,
                "publish {i} of the burst: {}",
                reply.text()
            );
        }
    }
}
