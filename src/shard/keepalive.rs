//! Keep-alive decisions, pure: when to probe a silent connection and when to give up on it.

use std::time::{Duration, Instant};

/// What the keep-alive sweep should do with one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Nothing.
    Idle,
    /// Send a probe (`pusher:ping`, or a WebSocket ping on raw connections).
    Probe,
    /// No answer to the probe in time: close with 4201.
    Expire,
}

/// Decides for a connection that last received at `last_rx` and (maybe) was probed at `probed`.
pub fn check(
    now: Instant,
    last_rx: Instant,
    probed: Option<Instant>,
    activity_timeout: Duration,
    pong_timeout: Duration,
) -> KeepAlive {
    match probed {
        Some(at) if at >= last_rx => {
            if now.saturating_duration_since(at) >= pong_timeout {
                KeepAlive::Expire
            } else {
                KeepAlive::Idle
            }
        }
        _ if now.saturating_duration_since(last_rx) >= activity_timeout => KeepAlive::Probe,
        _ => KeepAlive::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_then_expires() {
        let t0 = Instant::now();
        let a = Duration::from_secs(120);
        let p = Duration::from_secs(30);
        assert_eq!(
            check(t0 + Duration::from_secs(119), t0, None, a, p),
            KeepAlive::Idle
        );
        assert_eq!(check(t0 + a, t0, None, a, p), KeepAlive::Probe);
        let probed = t0 + a;
        assert_eq!(
            check(probed + Duration::from_secs(29), t0, Some(probed), a, p),
            KeepAlive::Idle
        );
        assert_eq!(check(probed + p, t0, Some(probed), a, p), KeepAlive::Expire);
    }

    #[test]
    fn traffic_after_probe_resets() {
        let t0 = Instant::now();
        let a = Duration::from_secs(10);
        let p = Duration::from_secs(5);
        let probed = t0 + a;
        let answered = probed + Duration::from_secs(1);
        assert_eq!(
            check(probed + p, answered, Some(probed), a, p),
            KeepAlive::Idle
        );
        assert_eq!(
            check(answered + a, answered, Some(probed), a, p),
            KeepAlive::Probe
        );
    }
}
