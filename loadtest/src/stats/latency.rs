//! Latency recording into sharded hdrhistograms (microseconds) and percentile summaries.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};

/// Highest trackable latency: one hour in microseconds (larger values are clamped).
const MAX_US: u64 = 3_600_000_000;
/// Samples buffered per connection before they are merged into a shard.
const BATCH: usize = 64;

pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

struct Shard {
    hist: Histogram<u64>,
    count: u64,
    last_us: u64,
}

/// Sharded latency sink shared by many connections; cheap to merge at the end.
pub struct LatencySink {
    shards: Vec<Mutex<Shard>>,
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LatencySink {
    pub fn new(shards: usize) -> Arc<Self> {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    hist: new_histogram(),
                    count: 0,
                    last_us: 0,
                })
            })
            .collect();
        Arc::new(Self { shards })
    }

    /// A per-connection buffer writing into shard `id % shards`.
    pub fn batch(self: &Arc<Self>, id: usize) -> Batch {
        Batch {
            sink: Arc::clone(self),
            shard: id % self.shards.len(),
            buf: Vec::with_capacity(BATCH),
            last_us: 0,
        }
    }

    /// Records one sample directly (for low-rate paths).
    pub fn record(&self, id: usize, value_us: u64, at_us: u64) {
        let mut s = lock(&self.shards[id % self.shards.len()]);
        s.hist.saturating_record(value_us.max(1));
        s.count += 1;
        s.last_us = s.last_us.max(at_us);
    }

    /// Samples merged so far.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).count).sum()
    }

    /// Latest receive time (µs on the shared clock) among merged samples, 0 if none.
    pub fn last_us(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| lock(s).last_us)
            .max()
            .unwrap_or(0)
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut out = new_histogram();
        for s in &self.shards {
            // Both histograms share bounds, so adding cannot fail.
            let _ = out.add(&lock(s).hist);
        }
        out
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary::from_histogram(&self.merged())
    }
}

/// Per-connection sample buffer; flushes into its shard when full and when dropped.
pub struct Batch {
    sink: Arc<LatencySink>,
    shard: usize,
    buf: Vec<u64>,
    last_us: u64,
}

impl Batch {
    /// Records a latency observed at time `at_us`.
    pub fn push(&mut self, value_us: u64, at_us: u64) {
        self.buf.push(value_us);
        self.last_us = self.last_us.max(at_us);
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut s = lock(&self.sink.shards[self.shard]);
        for &v in &self.buf {
            s.hist.saturating_record(v.max(1));
        }
        s.count += self.buf.len() as u64;
        s.last_us = s.last_us.max(self.last_us);
        drop(s);
        self.buf.clear();
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Percentiles of a latency distribution in microseconds (all 0 when `count` is 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
    pub count: u64,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean().round() as u64,
            count: h.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(actual: u64, expected: u64) -> bool {
        // 3 significant digits: relative error below 0.1 %.
        actual.abs_diff(expected) * 1000 <= expected
    }

    #[test]
    fn percentiles_of_uniform_samples() {
        let sink = LatencySink::new(4);
        for conn in 0..10usize {
            let mut b = sink.batch(conn);
            for v in 1..=1000u64 {
                if (v as usize) % 10 == conn {
                    b.push(v * 10, v);
                }
            }
        }
        let s = sink.summary();
        assert_eq!(s.count, 1000);
        assert!(within(s.p50, 5000), "{s:?}");
        assert!(within(s.p90, 9000), "{s:?}");
        assert!(within(s.p99, 9900), "{s:?}");
        assert!(within(s.p999, 9990), "{s:?}");
        assert!(within(s.max, 10_000), "{s:?}");
        assert!(within(s.mean, 5005), "{s:?}");
        assert_eq!(sink.last_us(), 1000);
    }

    #[test]
    fn batches_flush_when_full_and_on_drop() {
        let sink = LatencySink::new(2);
        let mut b = sink.batch(1);
        for _ in 0..BATCH - 1 {
            b.push(5, 1);
        }
        assert_eq!(sink.count(), 0);
        b.push(5, 2);
        assert_eq!(sink.count(), BATCH as u64);
        b.push(7, 3);
        drop(b);
        assert_eq!(sink.count(), BATCH as u64 + 1);
        assert_eq!(sink.last_us(), 3);
    }

    #[test]
    fn tail_and_clamping() {
        let sink = LatencySink::new(1);
        for _ in 0..999 {
            sink.record(0, 100, 0);
        }
        sink.record(0, u64::MAX, 0);
        let s = sink.summary();
        assert_eq!(s.p50, 100);
        assert_eq!(s.p99, 100);
        assert!(s.max >= MAX_US / 2, "{s:?}");
        assert_eq!(s.count, 1000);
        // Zero latency is recorded as 1 µs.
        let sink = LatencySink::new(1);
        sink.record(0, 0, 0);
        assert_eq!(sink.summary().max, 1);
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(LatencySink::new(3).summary(), LatencySummary::default());
    }
}
