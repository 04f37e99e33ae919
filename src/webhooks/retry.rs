//! The retry policy of webhooks.md §5: retry on network errors, timeouts and any non-2xx;
//! wait 1 s, then twice as long each time, at most 60 s; give up once 300 s have passed since
//! the first attempt. Pure.

use std::time::Duration;

/// Wait before the first retry.
pub const INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const CAP: Duration = Duration::from_secs(60);
/// Time after the first attempt beyond which no attempt is started.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// Longest a single request may take (connect, send, answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether an HTTP status counts as delivered.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The wait after failed attempt number `failures` (1 for the first failure), or `None` when
/// the next attempt would start more than [`GIVE_UP_AFTER`] after the first (`elapsed` is the
/// time since the first attempt began).
pub fn next_wait(failures: u32, elapsed: Duration) -> Option<Duration> {
    let shift = failures.saturating_sub(1).min(16);
    let wait = INITIAL.saturating_mul(1 << shift).min(CAP);
    (elapsed + wait <= GIVE_UP_AFTER).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_after_five_minutes() {
        let secs = |n| Duration::from_secs(n);
        let waits: Vec<u64> = (1..=9)
            .map(|n| next_wait(n, Duration::ZERO).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(next_wait(40, secs(0)), Some(CAP));
        assert_eq!(next_wait(3, secs(296)), Some(secs(4)));
        assert_eq!(next_wait(3, secs(297)), None);
        assert!(delivered(200) && delivered(204) && !delivered(301) && !delivered(500));
    }
}
