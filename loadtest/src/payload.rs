//! Event payloads carrying publisher id, sequence number and send time, and the shared clock.
//!
//! Wire form of the data string: `lt:{publisher}:{seq}:{sent_us}:` followed by `x` padding up
//! to the requested size. It needs no JSON escaping, so receivers can borrow it directly.

use std::sync::OnceLock;
use std::time::Instant;

const PREFIX: &str = "lt:";

/// Microseconds on a monotonic clock shared by all threads of this process.
pub fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_micros() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u32,
    pub seq: u64,
    pub sent_us: u64,
}

/// Encodes a stamp, padded with `x` to `size` bytes (never truncated below the header).
pub fn encode(stamp: Stamp, size: usize) -> String {
    let mut s = format!(
        "{PREFIX}{}:{}:{}:",
        stamp.publisher, stamp.seq, stamp.sent_us
    );
    if s.len() < size {
        s.extend(std::iter::repeat_n('x', size - s.len()));
    }
    s
}

/// Decodes a data string produced by [`encode`]; `None` for anything else.
pub fn decode(data: &str) -> Option<Stamp> {
    let rest = data.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(4, ':');
    let publisher = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent_us = parts.next()?.parse().ok()?;
    let padding = parts.next()?;
    if !padding.bytes().all(|b| b == b'x') {
        return None;
    }
    Some(Stamp {
        publisher,
        seq,
        sent_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_padding() {
        let st = Stamp {
            publisher: 7,
            seq: 123_456,
            sent_us: 987_654_321,
        };
        let s = encode(st, 100);
        assert_eq!(s.len(), 100);
        assert!(s.starts_with("lt:7:123456:987654321:xxx"));
        assert_eq!(decode(&s), Some(st));
    }

    #[test]
    fn small_sizes_keep_the_header() {
        let st = Stamp {
            publisher: 0,
            seq: 0,
            sent_us: 5,
        };
        let s = encode(st, 1);
        assert_eq!(s, "lt:0:0:5:");
        assert_eq!(decode(&s), Some(st));
    }

    #[test]
    fn rejects_foreign_data() {
        for s in [
            "",
            "hello",
            "lt:",
            "lt:1:2",
            "lt:1:2:3",
            "lt:a:2:3:",
            "lt:1:-2:3:",
            "lt:1:2:3:xxy",
            r#"{"some":"data"}"#,
        ] {
            assert_eq!(decode(s), None, "{s}");
        }
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_us();
        let b = now_us();
        assert!(b >= a);
    }
}
