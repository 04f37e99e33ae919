//! A test's own `redis-server` on a free loopback port (no persistence), killed on drop, and
//! a few commands against it. Never a shared one: every test starts its own.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a `redis-server` may take to answer `PING` after it was started.
const REDIS_STARTUP: Duration = Duration::from_secs(10);

/// A running `redis-server`.
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a server on a free port.
    pub fn start() -> Redis {
        for _ in 0..5 {
            let port = free_port();
            if let Some(r) = Self::try_start(port) {
                return r;
            }
        }
        panic!("redis-server did not start on any of 5 free ports (is it installed?)");
    }

    /// Starts a server on `port` (e.g. again after [`Redis::stop`]).
    pub fn start_on(port: u16) -> Redis {
        Self::try_start(port).unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    fn try_start(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (apt-get install redis-server)");
        let mut redis = Redis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + REDIS_STARTUP;
        while Instant::now() < deadline {
            if let Some(child) = redis.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    redis.child = None;
                    return None;
                }
            }
            if redis.try_cmd(&["PING"]).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its port becomes free for [`Redis::start_on`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
        con.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con)
    }

    /// Runs one command; panics on an error.
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// `calls` of `cmdstat_<command>` in `INFO commandstats` (0 when never called).
    pub fn calls(&self, command: &str) -> u64 {
        let info = match self.cmd(&["INFO", "commandstats"]) {
            redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            redis::Value::VerbatimString { text, .. } => text,
            other => panic!("INFO commandstats: {other:?}"),
        };
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |rest| {
                rest.split(',').next().unwrap_or("0").parse().unwrap_or(0)
            })
    }

    /// Number of subscribers of pub/sub `channel`.
    pub fn subscribers(&self, channel: &str) -> i64 {
        match self.cmd(&["PUBSUB", "NUMSUB", channel]) {
            redis::Value::Array(v) => match v.get(1) {
                Some(redis::Value::Int(n)) => *n,
                other => panic!("PUBSUB NUMSUB: {other:?}"),
            },
            other => panic!("PUBSUB NUMSUB: {other:?}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}
