//! Shared harness for the integration tests: one server process per test (killed on drop and
//! by a watchdog), a blocking WebSocket client speaking the Pusher protocol ([`ws`]), a signed
//! REST client with keep-alive ([`rest`]), and a `/metrics` reader. Every blocking wait is
//! bounded, so a broken server fails a test instead of hanging it.

// Each test binary uses a different subset of the harness.
#![allow(dead_code, unused_imports)]

pub mod cluster;
mod counters;
pub mod pki;
mod process;
pub mod redis_server;
mod rest;
pub mod tls;
mod ws;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use process::{corecast_command, output_within, shell, LoggingServer};
pub use rest::{read_response, Reply, Rest};
pub use ws::{assert_sub_error, assert_succeeded, Ws};

/// Id, key and secret of the default app (no apps file).
pub const APP_ID: &str = "app-id";
/// Key of the default app.
pub const APP_KEY: &str = "app-key";
/// Secret of the default app.
pub const APP_SECRET: &str = "app-secret";

/// Longest a single expected message, reply or close may take.
pub const WAIT: Duration = Duration::from_secs(5);
/// Longest the server may take to print its listening line.
const STARTUP: Duration = Duration::from_secs(10);
/// A server still running after this long is killed, failing whatever waits on it.
const WATCHDOG: Duration = Duration::from_secs(90);

/// Credentials of one app.
#[derive(Debug, Clone)]
pub struct App {
    /// App id (REST path).
    pub id: String,
    /// Public key (WebSocket path, auth strings).
    pub key: String,
    /// Secret.
    pub secret: String,
}

impl App {
    /// The default app.
    pub fn default_app() -> App {
        App::new(APP_ID, APP_KEY, APP_SECRET)
    }

    /// An app with these credentials.
    pub fn new(id: &str, key: &str, secret: &str) -> App {
        App {
            id: id.into(),
            key: key.into(),
            secret: secret.into(),
        }
    }

    /// The auth string for subscribing `socket_id` to a private channel.
    pub fn channel_auth(&self, socket_id: &str, channel: &str) -> String {
        corecast::auth::channel_auth(&self.key, &self.secret, socket_id, channel, None)
    }
}

/// Current Unix time in seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A running server process.
pub struct Server {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// The app the helpers use (the default app, or the first app of the apps file).
    pub app: App,
    child: Arc<Mutex<Child>>,
    watchdog: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    log: Arc<Mutex<String>>,
    apps_file: Option<PathBuf>,
}

impl Server {
    /// Starts a server with two shards on a free port; `envs` override or add settings.
    pub fn start(envs: &[(&str, &str)]) -> Server {
        Self::spawn(envs, None, App::default_app())
    }

    /// Starts a server whose apps come from `apps` (a JSON array written to a temp file).
    pub fn with_apps(apps: Value, envs: &[(&str, &str)]) -> Server {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let first = &apps[0];
        let app = App::new(
            first["id"].as_str().expect("app id"),
            first["key"].as_str().expect("app key"),
            first["secret"].as_str().expect("app secret"),
        );
        let path = std::env::temp_dir().join(format!(
            "corecast-test-apps-{}-{}.json",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, apps.to_string()).expect("write apps file");
        Self::spawn(envs, Some(path), app)
    }

    fn spawn(envs: &[(&str, &str)], apps_file: Option<PathBuf>, app: App) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corecast"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CORECAST_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("CORECAST_HOST", "127.0.0.1")
            .env("CORECAST_PORT", "0")
            .env("CORECAST_SHARDS", "2")
            .env("CORECAST_LOG", "warn");
        if let Some(path) = &apps_file {
            cmd.env("CORECAST_APPS_FILE", path);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the corecast binary");
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out_log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let err_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let child = Arc::new(Mutex::new(child));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let dog_child = Arc::clone(&child);
        let dog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(WATCHDOG) {
                eprintln!("watchdog: server still running after {WATCHDOG:?}; killing it");
                let _ = dog_child.lock().unwrap().kill();
            }
        });
        let mut server = Server {
            addr: "127.0.0.1:0".parse().unwrap(),
            app,
            child,
            watchdog: Some((stop_tx, dog)),
            log,
            apps_file,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.trim_start().strip_prefix("listening on ") {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        server.addr = addr.parse().expect("listening address");
                        return server;
                    }
                }
                Err(_) => panic!(
                    "server did not print its listening line within {STARTUP:?}; output:\n{}",
                    server.log.lock().unwrap()
                ),
            }
        }
    }

    /// Connects a WebSocket to `path` (e.g. `/app/key?protocol=7`); panics if the upgrade fails.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::open(self.addr, path).unwrap_or_else(|e| panic!("upgrade {path}: {e}"))
    }

    /// Joins raw channel `channel` of the helpers' app, with extra query parameters `extra`.
    pub fn raw(&self, channel: &str, extra: &str) -> Ws {
        self.ws(&format!("/v3/{channel}?api_key={}{extra}", self.app.key))
    }

    /// The URL path pusher-js uses for `key`.
    pub fn pusher_path(key: &str) -> String {
        format!("/app/{key}?protocol=7&client=js&version=8.4.0&flash=false")
    }

    /// Connects to the helpers' app and reads `pusher:connection_established`.
    pub fn connect(&self) -> Ws {
        self.connect_key(&self.app.key.clone())
    }

    /// Connects with app key `key` and reads `pusher:connection_established`.
    pub fn connect_key(&self, key: &str) -> Ws {
        let mut ws = self.ws(&Self::pusher_path(key));
        ws.established();
        ws
    }

    /// A REST client for the helpers' app.
    pub fn rest(&self) -> Rest {
        Rest::new(self.addr, self.app.clone())
    }

    /// A REST client for `app`.
    pub fn rest_for(&self, app: &App) -> Rest {
        Rest::new(self.addr, app.clone())
    }

    /// Values of the per-shard gauge `name` from `GET /metrics`, indexed by shard.
    pub fn gauge(&self, name: &str) -> Vec<u64> {
        let reply = self.rest().send("GET", "/metrics", b"", &[]);
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
        let mut values: Vec<(usize, u64)> = Vec::new();
        for line in reply.text().lines() {
            let Some(rest) = line
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix("{shard=\""))
            else {
                continue;
            };
            let (shard, rest) = rest.split_once("\"}").expect("metric labels");
            let value = rest.trim().parse().expect("metric value");
            values.push((shard.parse().expect("shard number"), value));
        }
        values.sort_unstable();
        values.into_iter().map(|(_, v)| v).collect()
    }

    /// Opens connections subscribed to public `channel` until there are at least `min` and
    /// `/metrics` shows subscriptions on every shard. Only meaningful while no other channel has
    /// subscribers.
    pub fn subscribers_on_every_shard(&self, channel: &str, min: usize) -> Vec<Ws> {
        self.spread(min, |ws| ws.subscribe_ok(channel))
    }

    /// Opens connections, each prepared by `setup` (which subscribes it somewhere), until there
    /// are at least `min` and `/metrics` shows subscriptions on every shard.
    pub fn spread(&self, min: usize, mut setup: impl FnMut(&mut Ws)) -> Vec<Ws> {
        let mut conns = Vec::new();
        while conns.len() < 64 {
            let mut ws = self.connect();
            setup(&mut ws);
            conns.push(ws);
            if conns.len() >= min {
                let subs = self.gauge("corecast_subscriptions");
                assert!(subs.len() >= 2, "expected two shards in /metrics: {subs:?}");
                if subs.iter().all(|&n| n > 0) {
                    return conns;
                }
            }
        }
        panic!("64 connections did not reach every shard");
    }

    /// Everything the server printed so far.
    pub fn output(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((stop, dog)) = self.watchdog.take() {
            drop(stop);
            let _ = dog.join();
        }
        {
            let mut child = self.child.lock().unwrap();
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(path) = &self.apps_file {
            let _ = std::fs::remove_file(path);
        }
        if std::thread::panicking() {
            eprintln!("--- server output ---\n{}", self.output());
        }
    }
}

/// Whether `s` matches `^\d+\.\d+$`.
pub fn is_socket_id(s: &str) -> bool {
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

// Presence, sign-in and shard-placement helpers.

impl App {
    /// The auth string for joining presence `channel` with `channel_data`.
    pub fn presence_auth(&self, socket_id: &str, channel: &str, channel_data: &str) -> String {
        corecast::auth::channel_auth(
            &self.key,
            &self.secret,
            socket_id,
            channel,
            Some(channel_data),
        )
    }

    /// The auth string for `pusher:signin` with `user_data`.
    pub fn user_auth(&self, socket_id: &str, user_data: &str) -> String {
        corecast::auth::user_auth(&self.key, &self.secret, socket_id, user_data)
    }
}

impl Ws {
    /// Sends a correctly signed presence subscribe with `channel_data`; returns the reply.
    pub fn join_presence(&mut self, app: &App, channel: &str, channel_data: &str) -> Value {
        let auth = app.presence_auth(&self.socket_id, channel, channel_data);
        self.send_json(&serde_json::json!({"event": "pusher:subscribe", "data": {
            "channel": channel, "auth": auth, "channel_data": channel_data
        }}));
        self.recv_json()
    }

    /// Sends a correctly signed `pusher:signin` with `user_data`; returns the reply.
    pub fn signin(&mut self, app: &App, user_data: &str) -> Value {
        let auth = app.user_auth(&self.socket_id, user_data);
        self.send_json(&serde_json::json!({"event": "pusher:signin", "data": {
            "auth": auth, "user_data": user_data
        }}));
        self.recv_json()
    }

    /// Closes like a browser: sends a close frame, reads until the server's close frame and
    /// end of stream, then closes the socket.
    pub fn close(&mut self) {
        self.inner().close(None).expect("send a close frame");
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no close frame within {WAIT:?}");
            match self.inner().read() {
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("closing failed: {e}"),
            }
        }
        let _ = self.inner().get_mut().shutdown(std::net::Shutdown::Both);
    }
}

/// The `presence` object of `reply`, which must be a presence `subscription_succeeded` on
/// `channel` with its `data` as a string.
pub fn presence_of(reply: &Value, channel: &str) -> Value {
    assert_eq!(
        reply["event"], "pusher_internal:subscription_succeeded",
        "{reply}"
    );
    assert_eq!(reply["channel"], channel, "{reply}");
    let text = reply["data"].as_str().expect("data is a string");
    let data: Value = serde_json::from_str(text).expect("data string holds JSON");
    data["presence"].clone()
}

impl Server {
    /// A connection on `shard`, told apart by `/metrics` deltas. Connections landing elsewhere
    /// go to `spare` with their shard (so the counts stay exact) and are used first next time.
    pub fn connect_on(&self, shard: usize, spare: &mut Vec<(usize, Ws)>) -> Ws {
        if let Some(i) = spare.iter().position(|(s, _)| *s == shard) {
            return spare.swap_remove(i).1;
        }
        for _ in 0..64 {
            let before = self.gauge("corecast_connections");
            let ws = self.connect();
            let after = self.gauge("corecast_connections");
            let grew: Vec<usize> = (0..after.len())
                .filter(|&i| after[i] > before.get(i).copied().unwrap_or(0))
                .collect();
            match grew.as_slice() {
                [s] if *s == shard => return ws,
                [s] => spare.push((*s, ws)),
                // A close elsewhere blurred the counts: try again.
                _ => {}
            }
        }
        panic!("64 connections did not land on shard {shard}");
    }

    /// Waits (bounded by [`WAIT`]) until the per-shard gauge `name` of `shard` equals `want`.
    pub fn wait_gauge(&self, name: &str, shard: usize, want: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.gauge(name);
            if now.get(shard) == Some(&want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} of shard {shard} stayed {now:?}, expected {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
