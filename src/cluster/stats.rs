//! The link's counters. Only the link thread writes them (a few relaxed atomics per link turn,
//! never per message on a shard); `/metrics` and `/ready` read them on any shard.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one node's link to Redis.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Whether the link is subscribed and publishing (false while Redis is unreachable).
    pub connected: AtomicBool,
    /// Records published to the bus.
    pub records_sent: AtomicU64,
    /// Records received from other nodes and handed to the shards.
    pub records_received: AtomicU64,
    /// Envelopes published (`PUBLISH` calls).
    pub envelopes_sent: AtomicU64,
    /// Envelopes received from other nodes.
    pub envelopes_received: AtomicU64,
    /// Outbound records dropped: buffer full or too old while Redis was unreachable, or not
    /// encodable.
    pub dropped_records: AtomicU64,
    /// Received records skipped: unreadable, or for an app this node does not have.
    pub invalid_records: AtomicU64,
    /// Received envelopes dropped because their version is not 1.
    pub dropped_version: AtomicU64,
    /// Received envelopes dropped because they are not valid envelopes.
    pub dropped_invalid: AtomicU64,
    /// Received envelopes dropped as repeats of one already delivered (same node and `s`).
    pub dropped_duplicate: AtomicU64,
    /// Connections to Redis re-established after a loss.
    pub reconnects: AtomicU64,
    /// Cross-node count questions answered without some node's share (deadline passed).
    pub query_timeouts: AtomicU64,
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl LinkStats {
    /// Whether the node currently reaches Redis.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP corecast_cluster_connected Whether the node reaches Redis (1) or not (0).\n\
             # TYPE corecast_cluster_connected gauge\ncorecast_cluster_connected {}",
            u8::from(self.is_connected())
        );
        let counters: [(&str, &str, u64); 8] = [
            (
                "corecast_cluster_records_sent_total",
                "Records published to the cluster bus.",
                get(&self.records_sent),
            ),
            (
                "corecast_cluster_records_received_total",
                "Records received from other nodes.",
                get(&self.records_received),
            ),
            (
                "corecast_cluster_envelopes_sent_total",
                "Envelopes published to the cluster bus (PUBLISH calls).",
                get(&self.envelopes_sent),
            ),
            (
                "corecast_cluster_envelopes_received_total",
                "Envelopes received from other nodes.",
                get(&self.envelopes_received),
            ),
            (
                "corecast_cluster_dropped_records_total",
                "Outbound records dropped (outage buffer full or expired, or not encodable).",
                get(&self.dropped_records),
            ),
            (
                "corecast_cluster_invalid_records_total",
                "Received records skipped (unreadable, or of an unknown app).",
                get(&self.invalid_records),
            ),
            (
                "corecast_cluster_reconnects_total",
                "Connections to Redis re-established after a loss.",
                get(&self.reconnects),
            ),
            (
                "corecast_cluster_query_timeouts_total",
                "REST counts answered without some live node's share (no answer in time).",
                get(&self.query_timeouts),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "corecast_cluster_dropped_envelopes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Received envelopes dropped, by reason.\n# TYPE {name} counter"
        );
        for (reason, c) in [
            ("version", &self.dropped_version),
            ("invalid", &self.dropped_invalid),
            ("duplicate", &self.dropped_duplicate),
        ] {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", get(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let s = LinkStats::default();
        add(&s.records_sent, 3);
        add(&s.dropped_version, 1);
        s.connected.store(true, Ordering::Relaxed);
        let mut out = String::new();
        s.render(&mut out);
        assert!(out.contains("\ncorecast_cluster_connected 1\n"), "{out}");
        assert!(out.contains("\ncorecast_cluster_records_sent_total 3\n"));
        assert!(out.contains("\ncorecast_cluster_reconnects_total 0\n"));
        assert!(out.contains("corecast_cluster_dropped_envelopes_total{reason=\"version\"} 1\n"));
        assert!(out.contains("\ncorecast_cluster_query_timeouts_total 0\n"));
        assert_eq!(out.matches("# TYPE ").count(), 10);
    }
}
