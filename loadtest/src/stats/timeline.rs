//! Per-second timeline of a counter (deliveries): sampled once a second by a background task,
//! turned into rates per interval. One atomic sum per second; nothing on the per-event path.

use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Shortest final interval worth a point (the run rarely ends on a whole second).
const MIN_TAIL_SECS: f64 = 0.2;

/// Samples `read()` (a cumulative count) now, then every second until `stop` is set; returns
/// `(seconds since start, count)` pairs, the first being `(0, count at start)`.
pub fn spawn_sampler<F>(mut read: F, mut stop: watch::Receiver<bool>) -> JoinHandle<Vec<(f64, u64)>>
where
    F: FnMut() -> u64 + Send + 'static,
{
    let start = Instant::now();
    let first = read();
    tokio::spawn(async move {
        let mut samples = vec![(0.0, first)];
        let mut tick =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => samples.push((start.elapsed().as_secs_f64(), read())),
                _ = crate::scenarios::stopped(&mut stop) => break,
            }
        }
        samples.push((start.elapsed().as_secs_f64(), read()));
        samples
    })
}

/// Rates between consecutive samples: `(end of interval in seconds, count per second)`. A
/// last interval shorter than [`MIN_TAIL_SECS`] is left out (its rate would be noise).
pub fn rates(samples: &[(f64, u64)]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            let dt = t1 - t0;
            (dt >= MIN_TAIL_SECS).then(|| (t1, c1.saturating_sub(c0) as f64 / dt))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_interval_and_a_short_tail_dropped() {
        let samples = [(0.0, 0), (1.0, 1000), (2.0, 3000), (2.5, 3600), (2.6, 3700)];
        assert_eq!(
            rates(&samples),
            vec![(1.0, 1000.0), (2.0, 2000.0), (2.5, 1200.0)]
        );
        assert!(rates(&[(0.0, 5)]).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn samples_every_second_until_stopped() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let n = Arc::new(AtomicU64::new(0));
        let (tx, rx) = watch::channel(false);
        let reader = Arc::clone(&n);
        let task = spawn_sampler(move || reader.load(Ordering::Relaxed), rx);
        for _ in 0..3 {
            n.fetch_add(100, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        let _ = tx.send(true);
        let samples = task.await.expect("sampler");
        let counts: Vec<u64> = samples.iter().map(|s| s.1).collect();
        assert_eq!(counts.first(), Some(&0));
        assert_eq!(counts.last(), Some(&300));
        assert!(samples.len() >= 4, "{samples:?}");
        assert!(samples.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
