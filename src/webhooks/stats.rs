//! Webhook delivery counters, kept by the sender threads (plain atomics: they are never touched
//! by a shard), and their Prometheus text for `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why events were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A shard found the queue to the sender full.
    QueueFull,
    /// A webhook URL's backlog was full: its oldest waiting POST was dropped.
    BacklogFull,
    /// Retries went on for the longest time allowed without a 2xx.
    Expired,
    /// Still undelivered when the flush at shutdown ended.
    Shutdown,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::BacklogFull,
        DropReason::Expired,
        DropReason::Shutdown,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::BacklogFull => "backlog_full",
            DropReason::Expired => "expired",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Upper bounds (seconds) of the delivery latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Counters of the webhook sender.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// POSTs answered with a 2xx.
    pub posts_sent: AtomicU64,
    /// Events in those POSTs.
    pub events_sent: AtomicU64,
    /// Attempts that failed (network error, timeout, non-2xx).
    pub failed_attempts: AtomicU64,
    /// Attempts that were retries.
    pub retries: AtomicU64,
    /// Events dropped by the sender, by [`DropReason`] index (queue-full drops are counted
    /// per shard instead).
    dropped: [AtomicU64; 4],
    /// Events accepted by the sender and not yet delivered or dropped.
    pub pending: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl WebhookStats {
    /// Counts `events` dropped for `reason`.
    pub fn drop_events(&self, reason: DropReason, events: u64) {
        self.dropped[reason as usize].fetch_add(events, Ordering::Relaxed);
    }

    /// Events dropped by the sender for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Records one delivery that took `latency` from its batch's creation to the 2xx.
    pub fn observe_latency(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Writes every webhook series; `shard_drops` are the queue-full drops the shards counted
    /// and `queued` the events waiting between the shards and the sender.
    pub fn render(&self, out: &mut String, shard_drops: u64, queued: u64) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "corecast_webhooks_sent_total",
                "Webhook POSTs answered with a 2xx.",
                load(&self.posts_sent),
            ),
            (
                "corecast_webhook_events_sent_total",
                "Webhook events delivered (in POSTs answered with a 2xx).",
                load(&self.events_sent),
            ),
            (
                "corecast_webhook_failed_attempts_total",
                "Webhook POST attempts that failed (network error, timeout or non-2xx).",
                load(&self.failed_attempts),
            ),
            (
                "corecast_webhook_retries_total",
                "Webhook POST attempts that were retries.",
                load(&self.retries),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "corecast_webhook_dropped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Webhook events dropped, by reason.\n# TYPE {name} counter"
        );
        for reason in DropReason::ALL {
            let value = match reason {
                DropReason::QueueFull => shard_drops,
                r => self.dropped(r),
            };
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {value}", reason.label());
        }
        let name = "corecast_webhook_queue_depth";
        let _ = writeln!(
            out,
            "# HELP {name} Webhook events waiting to be delivered.\n# TYPE {name} gauge\n\
             {name} {}",
            queued + load(&self.pending)
        );
        let name = "corecast_webhook_delivery_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a webhook batch's creation to its 2xx answer.\n\
             # TYPE {name} histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", load(count));
        }
        let count = load(&self.latency_count);
        let sum = load(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let s = WebhookStats::default();
        s.observe_latency(Duration::from_millis(20));
        s.observe_latency(Duration::from_secs(3));
        s.drop_events(DropReason::Expired, 2);
        s.pending.store(4, Ordering::Relaxed);
        let mut out = String::new();
        s.render(&mut out, 5, 1);
        for line in [
            "corecast_webhooks_sent_total 0",
            "corecast_webhook_dropped_total{reason=\"queue_full\"} 5",
            "corecast_webhook_dropped_total{reason=\"expired\"} 2",
            "corecast_webhook_queue_depth 5",
            "corecast_webhook_delivery_seconds_bucket{le=\"0.025\"} 1",
            "corecast_webhook_delivery_seconds_bucket{le=\"5\"} 2",
            "corecast_webhook_delivery_seconds_count 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
        }
    }
}
