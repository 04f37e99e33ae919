//! Many healthy subscribers at once: a crowd of Pusher connections on one channel, read by one
//! thread that polls all their sockets and checks that each receives every event, in order.
//!
//! Included by the tests that need it with `#[path = "common/crowd.rs"] mod crowd;` (next to
//! `mod common;`), so the shared harness module list stays as it is.

#![allow(dead_code)]

use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::{Error as WsError, Message};

use crate::common::{Server, Ws};

/// Subscribers of one channel counting one event, whose `data` is its sequence number.
pub struct Crowd {
    /// Events received so far, per subscriber.
    counts: Arc<Vec<AtomicUsize>>,
    /// What went wrong (a gap, a closed connection), per subscriber.
    faults: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Crowd {
    /// Opens `n` connections subscribed to `channel`, then reads them all in a thread, counting
    /// events named `event` whose `data` must be 0, 1, 2, … on every connection.
    pub fn subscribe(server: &Server, n: usize, channel: &str, event: &str) -> Crowd {
        let mut conns: Vec<Ws> = (0..n)
            .map(|_| {
                let mut ws = server.connect();
                ws.subscribe_ok(channel);
                ws
            })
            .collect();
        for ws in &mut conns {
            ws.inner().get_mut().set_nonblocking(true).unwrap();
        }
        let counts = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let faults = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (counts, faults, stop) = (counts.clone(), faults.clone(), stop.clone());
            let (channel, event) = (channel.to_string(), event.to_string());
            std::thread::spawn(move || read_all(conns, &channel, &event, &counts, &faults, &stop))
        };
        Crowd {
            counts,
            faults,
            stop,
            reader: Some(reader),
        }
    }

    /// Waits until every subscriber has received `want` events; panics after `within` or on
    /// the first fault.
    pub fn wait_for(&self, want: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            self.assert_no_faults();
            let behind = self
                .counts
                .iter()
                .filter(|c| c.load(Ordering::Relaxed) < want)
                .count();
            if behind == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{behind} of {} subscribers received fewer than {want} events within {within:?}",
                self.counts.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Panics with the faults seen so far, if any.
    pub fn assert_no_faults(&self) {
        let faults = self.faults.lock().unwrap();
        assert!(
            faults.is_empty(),
            "{} faults, first: {:?}",
            faults.len(),
            faults.first()
        );
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn read_all(
    mut conns: Vec<Ws>,
    channel: &str,
    event: &str,
    counts: &[AtomicUsize],
    faults: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut fds: Vec<libc::pollfd> = conns
        .iter_mut()
        .map(|ws| libc::pollfd {
            fd: ws.inner().get_ref().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut dead = vec![false; conns.len()];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if ready <= 0 {
            continue;
        }
        for (i, ws) in conns.iter_mut().enumerate() {
            if fds[i].revents == 0 || dead[i] {
                continue;
            }
            loop {
                match ws.inner().read() {
                    Ok(Message::Text(t)) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        if v["event"] != event || v["channel"] != channel {
                            continue;
                        }
                        let want = counts[i].load(Ordering::Relaxed);
                        let seq = v["data"].as_str().and_then(|d| d.parse::<usize>().ok());
                        if seq != Some(want) {
                            faults
                                .lock()
                                .unwrap()
                                .push(format!("subscriber {i}: expected event {want}, got {v}"));
                        }
                        counts[i].store(want + 1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        faults
                            .lock()
                            .unwrap()
                            .push(format!("subscriber {i}: connection failed: {e}"));
                        dead[i] = true;
                        fds[i].events = 0;
                        break;
                    }
                }
            }
        }
    }
}
