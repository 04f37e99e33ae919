//! Batching per (app, URL), webhooks.md §4: the first event opens a batch, which closes when
//! its window (`batch_ms`) has passed or it holds [`MAX_EVENTS`]; a window of 0 sends every
//! event on its own (Pusher's default). Pure: the caller passes the time.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most events in one POST.
pub const MAX_EVENTS: usize = 100;

/// A closed batch, ready to become a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Serialized events, in arrival order.
    pub events: Vec<Arc<str>>,
    /// Unix ms when the batch was opened (the body's `time_ms`).
    pub time_ms: u64,
    /// When it was opened (for delivery latency).
    pub opened: Instant,
}

/// One target's open batch.
#[derive(Debug)]
pub struct Batcher {
    window: Duration,
    open: Option<Batch>,
}

impl Batcher {
    /// A batcher with window `window`.
    pub fn new(window: Duration) -> Self {
        Batcher { window, open: None }
    }

    /// Adds an event at `now` (Unix ms `time_ms`); returns the batch it closed, if any.
    pub fn push(&mut self, event: Arc<str>, now: Instant, time_ms: u64) -> Option<Batch> {
        let batch = self.open.get_or_insert_with(|| Batch {
            events: Vec::new(),
            time_ms,
            opened: now,
        });
        batch.events.push(event);
        if self.window.is_zero() || batch.events.len() >= MAX_EVENTS {
            return self.open.take();
        }
        None
    }

    /// When the open batch closes, if one is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.open.as_ref().map(|b| b.opened + self.window)
    }

    /// The open batch if its window has passed at `now`.
    pub fn due(&mut self, now: Instant) -> Option<Batch> {
        if self.deadline().is_some_and(|d| d <= now) {
            return self.open.take();
        }
        None
    }

    /// The open batch, whatever its age (shutdown).
    pub fn take(&mut self) -> Option<Batch> {
        self.open.take()
    }

    /// Events in the open batch.
    pub fn len(&self) -> usize {
        self.open.as_ref().map_or(0, |b| b.events.len())
    }

    /// Whether no batch is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize) -> Arc<str> {
        Arc::from(format!("{{\"n\":{n}}}"))
    }

    #[test]
    fn window_groups_events_until_it_passes() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Duration::from_millis(50));
        assert!(b.push(ev(1), t0, 1000).is_none());
        assert!(b
            .push(ev(2), t0 + Duration::from_millis(49), 1049)
            .is_none());
        assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(50)));
        assert!(b.due(t0 + Duration::from_millis(49)).is_none());
        let batch = b.due(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!(batch.events, vec![ev(1), ev(2)]);
        assert_eq!(batch.time_ms, 1000);
        assert!(b.is_empty() && b.deadline().is_none());
    }

    #[test]
    fn zero_window_sends_each_event_alone() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Duration::ZERO);
        for n in 0..3 {
            assert_eq!(b.push(ev(n), t0, 5).unwrap().events, vec![ev(n)]);
        }
        assert!(b.is_empty());
    }

    #[test]
    fn a_full_batch_closes_at_once() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Duration::from_secs(60));
        for n in 0..MAX_EVENTS - 1 {
            assert!(b.push(ev(n), t0, 5).is_none());
        }
        assert_eq!(b.len(), MAX_EVENTS - 1);
        let full = b.push(ev(MAX_EVENTS), t0, 5).unwrap();
        assert_eq!(full.events.len(), MAX_EVENTS);
        assert!(b.push(ev(0), t0, 5).is_none());
        assert_eq!(b.take().map(|b| b.events.len()), Some(1));
    }
}
