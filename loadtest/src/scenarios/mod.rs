//! Scenario runners and the helpers they share (counters, setup waits, progress, stop signal).

pub mod connect;
pub mod fanout;
pub mod presence;
pub mod spread;

use crate::net::Connector;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

/// What every scenario runner gets.
pub struct Ctx {
    /// Where publishes (and every `connect` connection) go: `--publish-url`, else the first
    /// `--url`.
    pub connector: Arc<Connector>,
    /// One per `--url`, in order: subscriber connections are spread over them ([`spread`]).
    pub subscribers: Vec<Arc<Connector>>,
    /// The `--url`s as written, in the order of `subscribers`.
    pub urls: Vec<String>,
    pub app_id: String,
    pub threads: usize,
    pub quiet: bool,
    pub duration: Duration,
    pub concurrency: usize,
    pub setup_timeout: Duration,
}

/// Thread-safe reason → count map.
#[derive(Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub fn add(&self, reason: impl Into<String>, n: u64) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(reason.into()).or_default() += n;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn total(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

/// Broadcast "stop now" to long-running connection tasks.
pub fn stop_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Resolves once the stop flag is set (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Spawns `count` tasks, at most `concurrency` of them in their setup phase at once (a task
/// drops its permit when its setup is done). Stops spawning at `deadline`; returns the handles
/// and how many were never started.
pub async fn spawn_bounded<F, Fut, T>(
    count: u64,
    concurrency: usize,
    deadline: Instant,
    mut make: F,
) -> (Vec<JoinHandle<T>>, u64)
where
    F: FnMut(u64, OwnedSemaphorePermit) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::with_capacity(count as usize);
    for i in 0..count {
        let permit = tokio::select! {
            p = Arc::clone(&sem).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return (handles, count - i),
            },
            _ = sleep_until(deadline) => return (handles, count - i),
        };
        if Instant::now() >= deadline {
            return (handles, count - i);
        }
        handles.push(tokio::spawn(make(i, permit)));
    }
    (handles, 0)
}

/// Spawns [`spawn_bounded`] in the background; every task not started before the deadline is
/// reported on `ready` as `not_started`, so exactly `count` setup results arrive.
pub fn spawn_connections<F, Fut, T>(
    count: u64,
    concurrency: usize,
    deadline: Instant,
    ready: ReadyTx,
    make: F,
) -> JoinHandle<Vec<JoinHandle<T>>>
where
    F: FnMut(u64, OwnedSemaphorePermit) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(async move {
        let (handles, skipped) = spawn_bounded(count, concurrency, deadline, make).await;
        for _ in 0..skipped {
            let _ = ready.send(Err("not_started_setup_timeout".into()));
        }
        handles
    })
}

/// Awaits all tasks, dropping the ones that panicked or returned `None`.
pub async fn join_all<T>(handles: Vec<JoinHandle<Option<T>>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(Some(v)) = h.await {
            out.push(v);
        }
    }
    out
}

/// Setup results reported by connection tasks: `Ok(())` or a failure reason.
pub type ReadyTx = mpsc::UnboundedSender<Result<(), String>>;

/// Waits for `expected` setup results or the deadline. Returns (ok, failures by reason,
/// still pending).
pub async fn collect_ready(
    rx: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    expected: u64,
    deadline: Instant,
    label: &str,
    quiet: bool,
) -> (u64, BTreeMap<String, u64>, u64) {
    let mut ok = 0;
    let mut failed = BTreeMap::new();
    let mut seen = 0;
    let mut next_note = Instant::now() + Duration::from_secs(1);
    while seen < expected {
        tokio::select! {
            r = rx.recv() => match r {
                Some(Ok(())) => ok += 1,
                Some(Err(reason)) => *failed.entry(reason).or_insert(0) += 1,
                None => break,
            },
            _ = sleep_until(deadline) => break,
            _ = sleep_until(next_note) => {
                if !quiet {
                    eprintln!("setup: {label}: {ok} ready, {} failed of {expected}",
                        failed.values().sum::<u64>());
                }
                next_note += Duration::from_secs(1);
                continue;
            }
        }
        seen += 1;
    }
    (ok, failed, expected - seen)
}

/// Prints one progress line per second on stderr until stopped.
pub fn spawn_progress<F>(quiet: bool, mut stop: watch::Receiver<bool>, mut line: F)
where
    F: FnMut(f64) -> String + Send + 'static,
{
    if quiet {
        return;
    }
    tokio::spawn(async move {
        let start = Instant::now();
        let mut tick =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => eprintln!("[{:>5.1}s] {}", start.elapsed().as_secs_f64(), line(start.elapsed().as_secs_f64())),
                _ = stopped(&mut stop) => return,
            }
        }
    });
}

/// Sum of per-connection counters.
pub fn sum(counters: &[Arc<AtomicU64>]) -> u64 {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

/// Waits after the measured phase until `count()` stops growing for `quiet_for`, or until it
/// reaches `target`, or `max` has elapsed.
pub async fn drain<F: FnMut() -> u64>(mut count: F, target: Option<u64>, max: Duration) {
    let quiet_for = Duration::from_millis(500);
    let end = Instant::now() + max;
    let mut last = count();
    let mut last_change = Instant::now();
    while Instant::now() < end {
        if target.is_some_and(|t| last >= t) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = count();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= quiet_for {
            return;
        }
    }
}

/// Merges `b` into `a`.
pub fn merge_counts(a: &mut BTreeMap<String, u64>, b: BTreeMap<String, u64>) {
    for (k, v) in b {
        *a.entry(k).or_insert(0) += v;
    }
}

/// Events per second over `secs` (0 when the window is empty).
pub fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts() {
        let t = Tally::default();
        t.add("a", 1);
        t.add("a", 2);
        t.add("b", 1);
        assert_eq!(t.total(), 4);
        assert_eq!(t.snapshot().get("a"), Some(&3));
    }

    #[test]
    fn rates() {
        assert_eq!(per_sec(10, 2.0), 5.0);
        assert_eq!(per_sec(10, 0.0), 0.0);
    }

    #[tokio::test]
    async fn bounded_spawning_and_ready_collection() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let deadline = Instant::now() + Duration::from_secs(5);
        let (handles, skipped) = spawn_bounded(10, 3, deadline, |i, permit| {
            let tx = tx.clone();
            async move {
                drop(permit);
                let _ = tx.send(if i % 5 == 0 {
                    Err("bad".into())
                } else {
                    Ok(())
                });
            }
        })
        .await;
        assert_eq!((handles.len(), skipped), (10, 0));
        let (ok, failed, pending) = collect_ready(&mut rx, 10, deadline, "t", true).await;
        assert_eq!((ok, pending), (8, 0));
        assert_eq!(failed.get("bad"), Some(&2));
    }
}
