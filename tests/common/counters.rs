//! Reading single series (any labels) off `GET /metrics`.

use std::time::{Duration, Instant};

use super::{Server, WAIT};

impl Server {
    /// The value of the series written exactly `series` (name and labels, e.g.
    /// `corecast_x_total{app="a",kind="events"}`) in `GET /metrics`, if present.
    pub fn metric(&self, series: &str) -> Option<u64> {
        let reply = self.rest().send("GET", "/metrics", b"", &[]);
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
        reply.text().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(value.trim().parse().expect("metric value"))
        })
    }

    /// Waits (bounded by [`WAIT`]) until `series` reads `want`; panics with the last value.
    pub fn wait_metric(&self, series: &str, want: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.metric(series);
            if now == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} stayed {now:?}, expected {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
