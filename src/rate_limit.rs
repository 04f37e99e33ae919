//! REST rate limits per app, for the whole server: `max_backend_events_per_second` (events
//! published through `POST /events`, `/batch_events` and `/api/publish`) and
//! `max_read_requests_per_second` (the `GET …/channels…` queries).
//!
//! Each limited (app, kind) pair has a **fixed one-second window** held in one atomic word that
//! every shard updates with a compare-and-swap: the window's second (counted from server start)
//! and the points admitted in it. A request whose points still fit under the limit is
//! admitted and adds them; one that does not is refused and adds nothing. Within one window
//! an app never gets more than its limit, wherever its requests land; across a window
//! boundary a burst can reach twice the limit (the end of one second and the start of the
//! next). A refused client is told to retry after [`RETRY_AFTER_SECS`]: the window turns over
//! within a second. A request worth more points than the limit (a batch of 10 events under a
//! limit of 5) never fits and is always refused.
//!
//! Apps without a limit never touch their atomic; REST requests are not the fan-out path. The
//! refusals are counted per shard in plain cells and summed at scrape (`/metrics`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::config::App;

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 1;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestKind {
    /// Published events (`max_backend_events_per_second`).
    Events,
    /// Channel queries (`max_read_requests_per_second`).
    Reads,
}

impl RestKind {
    /// Every kind, in index order.
    pub const ALL: [RestKind; 2] = [RestKind::Events, RestKind::Reads];

    /// Position in per-app arrays.
    pub fn index(self) -> usize {
        match self {
            RestKind::Events => 0,
            RestKind::Reads => 1,
        }
    }

    /// The `kind` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            RestKind::Events => "events",
            RestKind::Reads => "reads",
        }
    }

    /// The app's limit of this kind, per second (`None`: unlimited).
    pub fn limit(self, app: &App) -> Option<u32> {
        match self {
            RestKind::Events => app.max_backend_events_per_second,
            RestKind::Reads => app.max_read_requests_per_second,
        }
    }
}

/// Admits `points` at window second `now` into the window `state` (second in the high 32
/// bits, points used in the low 32) under `limit`: the new state, or `None` when they do not
/// fit. A state from a later second than `now` (a shard that read the clock a moment
/// earlier than the one that opened that window) counts into that later window.
pub fn admit(state: u64, now: u32, points: u32, limit: u32) -> Option<u64> {
    let (window, used) = ((state >> 32) as u32, state as u32);
    let (window, used) = if window >= now {
        (window, used)
    } else {
        (now, 0)
    };
    let total = used.checked_add(points).filter(|&t| t <= limit)?;
    Some((u64::from(window) << 32) | u64::from(total))
}

/// The windows of every app, shared by all shards.
#[derive(Debug)]
pub struct RestWindows {
    epoch: Instant,
    windows: Vec<[AtomicU64; 2]>,
}

impl RestWindows {
    /// Empty windows for `apps` apps, seconds counted from now.
    pub fn new(apps: usize) -> Self {
        RestWindows {
            epoch: Instant::now(),
            windows: (0..apps)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
        }
    }

    /// Takes `points` from app `app`'s window of `kind` under `limit` at `now`; false: refused.
    pub fn take(&self, app: u32, kind: RestKind, points: u32, limit: u32, now: Instant) -> bool {
        let Some(cells) = self.windows.get(app as usize) else {
            return false;
        };
        let cell = &cells[kind.index()];
        let second = now.saturating_duration_since(self.epoch).as_secs() as u32;
        let mut state = cell.load(Ordering::Relaxed);
        loop {
            let Some(next) = admit(state, second, points, limit) else {
                return false;
            };
            match cell.compare_exchange_weak(state, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(current) => state = current,
            }
        }
    }
}

/// One shard's count of refused requests per app and kind (plain cells: only its own thread
/// writes them).
#[derive(Debug)]
pub struct Refusals(Vec<[Cell<u64>; 2]>);

impl Refusals {
    /// Zeroed counts for `apps` apps.
    pub fn new(apps: usize) -> Self {
        Refusals((0..apps).map(|_| [Cell::new(0), Cell::new(0)]).collect())
    }

    /// Counts one refused request.
    pub fn count(&self, app: u32, kind: RestKind) {
        if let Some(cells) = self.0.get(app as usize) {
            let c = &cells[kind.index()];
            c.set(c.get() + 1);
        }
    }

    /// The counts, indexed by app then [`RestKind::index`].
    pub fn snapshot(&self) -> Vec<[u64; 2]> {
        self.0.iter().map(|[a, b]| [a.get(), b.get()]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_window_admits_up_to_the_limit_then_refuses() {
        let mut state = 0;
        for _ in 0..3 {
            state = admit(state, 7, 1, 3).expect("within the limit");
        }
        assert_eq!(admit(state, 7, 1, 3), None);
        assert_eq!(state, (7 << 32) | 3);
    }

    #[test]
    fn points_count_and_a_refused_request_uses_nothing() {
        let state = admit(0, 1, 8, 10).unwrap();
        assert_eq!(admit(state, 1, 3, 10), None);
        let state = admit(state, 1, 2, 10).unwrap();
        assert_eq!(state as u32, 10);
        assert_eq!(admit(0, 1, 11, 10), None, "more than the limit never fits");
        assert_eq!(admit(0, 1, u32::MAX, u32::MAX - 1), None);
        assert_eq!(admit(admit(0, 1, 5, 10).unwrap(), 1, u32::MAX, 10), None);
    }

    #[test]
    fn a_new_second_starts_a_new_window() {
        let full = admit(0, 4, 5, 5).unwrap();
        assert_eq!(admit(full, 4, 1, 5), None);
        assert_eq!(admit(full, 5, 5, 5), Some((5 << 32) | 5));
        assert_eq!(
            admit(full, 3, 1, 5),
            None,
            "a late reader counts into the open window"
        );
    }

    #[test]
    fn windows_are_per_app_and_kind_and_shared_by_every_thread() {
        let windows = std::sync::Arc::new(RestWindows::new(2));
        let now = windows.epoch;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = std::sync::Arc::clone(&windows);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| w.take(0, RestKind::Events, 1, 50, now))
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 50);
        assert!(windows.take(0, RestKind::Reads, 1, 50, now));
        assert!(windows.take(1, RestKind::Events, 1, 50, now));
        assert!(!windows.take(0, RestKind::Events, 1, 50, now));
        assert!(windows.take(0, RestKind::Events, 1, 50, now + Duration::from_secs(1)));
        assert!(!windows.take(9, RestKind::Events, 1, 50, now));
    }

    #[test]
    fn refusals_are_counted_per_app_and_kind() {
        let r = Refusals::new(2);
        r.count(1, RestKind::Reads);
        r.count(1, RestKind::Reads);
        r.count(0, RestKind::Events);
        r.count(5, RestKind::Events);
        assert_eq!(r.snapshot(), vec![[1, 0], [0, 2]]);
        assert_eq!(RestKind::Reads.label(), "reads");
    }
}
