//! The corecast binary as a plain process: run a subcommand to completion within a bound, or
//! start a server whose stdout and stderr are kept apart (for tests that read its log lines).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::WAIT;

/// A command running the corecast binary without any inherited `CORECAST_*` variable.
pub fn corecast_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corecast"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CORECAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A shell command (`sh -c script corecast-path args…`): `"$0"` is the corecast binary.
pub fn shell(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    for (k, _) in std::env::vars() {
        if k.starts_with("CORECAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_corecast"))
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end; panics (after killing it) if it runs longer than `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_within(&mut child, limit)
        .unwrap_or_else(|| panic!("{cmd:?} still running after {limit:?}"));
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = r.read_to_end(&mut all);
        all
    })
}

/// Waits up to `limit` for `child` to exit; kills it and returns `None` if it does not.
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server started with `corecast_command`, its stderr lines collected apart from stdout.
pub struct LoggingServer {
    /// Address it listens on.
    pub addr: SocketAddr,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_done: mpsc::Receiver<()>,
}

impl LoggingServer {
    /// Starts a two-shard server on a free loopback port with `envs` added.
    pub fn start(envs: &[(&str, &str)]) -> LoggingServer {
        let mut cmd = corecast_command();
        cmd.env("CORECAST_HOST", "127.0.0.1")
            .env("CORECAST_PORT", "0")
            .env("CORECAST_SHARDS", "2");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the corecast binary");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, stderr_done) = mpsc::channel();
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
            let _ = done_tx.send(());
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("no listening line within 10 s")
            });
            if let Some(rest) = line.trim_start().strip_prefix("listening on ") {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr.parse().expect("listening address");
            }
        };
        LoggingServer {
            addr,
            child,
            stderr,
            stderr_done,
        }
    }

    /// Stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded by [`WAIT`]) until a stderr line contains `text`.
    pub fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.stderr_lines().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "no stderr line with {text:?} within {WAIT:?}: {:#?}",
                self.stderr_lines()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM, waits for the process to exit and its stderr to end (each bounded), and
    /// returns every stderr line.
    pub fn terminate(mut self) -> Vec<String> {
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = wait_within(&mut self.child, Duration::from_secs(10));
        assert!(status.is_some(), "the server ignored SIGTERM for 10 s");
        self.stderr_done
            .recv_timeout(WAIT)
            .expect("stderr closed after exit");
        self.stderr_lines()
    }
}

impl Drop for LoggingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
