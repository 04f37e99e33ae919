//! The outage buffer, pure: encoded records waiting for Redis while it is unreachable, bounded
//! in bytes (`CORECAST_REDIS_BUFFER_KB`: the oldest go first) and in age
//! (`CORECAST_REDIS_BUFFER_MS`). Every record it drops is counted, none is lost silently.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One encoded record and when the link received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The record's JSON text.
    pub json: Vec<u8>,
    /// When it reached the link.
    pub at: Instant,
}

/// Records waiting to be published, oldest first.
#[derive(Debug)]
pub struct OutageBuffer {
    records: VecDeque<Pending>,
    bytes: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl OutageBuffer {
    /// An empty buffer holding at most `max_bytes` of records, none older than `max_age`.
    pub fn new(max_bytes: usize, max_age: Duration) -> Self {
        OutageBuffer {
            records: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_age,
        }
    }

    /// Appends a record; returns how many records were dropped to make room (the new one
    /// itself when it alone is larger than the whole buffer).
    pub fn push(&mut self, record: Pending) -> u64 {
        if record.json.len() > self.max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while self.bytes + record.json.len() > self.max_bytes {
            match self.records.pop_front() {
                Some(old) => {
                    self.bytes -= old.json.len();
                    dropped += 1;
                }
                None => break,
            }
        }
        self.bytes += record.json.len();
        self.records.push_back(record);
        dropped
    }

    /// Drops records older than the age bound at `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> u64 {
        let mut dropped = 0;
        while let Some(first) = self.records.front() {
            if now.saturating_duration_since(first.at) <= self.max_age {
                break;
            }
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.json.len();
                dropped += 1;
            }
        }
        dropped
    }

    /// Takes every record, oldest first.
    pub fn take(&mut self) -> VecDeque<Pending> {
        self.bytes = 0;
        std::mem::take(&mut self.records)
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize, at: Instant) -> Pending {
        Pending {
            json: vec![b'x'; n],
            at,
        }
    }

    #[test]
    fn keeps_within_bytes_dropping_the_oldest() {
        let t = Instant::now();
        let mut b = OutageBuffer::new(10, Duration::from_secs(1));
        assert_eq!(b.push(rec(4, t)), 0);
        assert_eq!(b.push(rec(4, t)), 0);
        assert_eq!(b.push(rec(4, t)), 1);
        assert_eq!((b.len(), b.bytes()), (2, 8));
        assert_eq!(
            b.push(rec(11, t)),
            1,
            "larger than the buffer: itself dropped"
        );
        assert_eq!(b.len(), 2);
        let none = OutageBuffer::new(0, Duration::ZERO).push(rec(1, t));
        assert_eq!(none, 1, "a zero buffer keeps nothing");
    }

    #[test]
    fn expires_by_age() {
        let t = Instant::now();
        let mut b = OutageBuffer::new(100, Duration::from_millis(500));
        b.push(rec(1, t));
        b.push(rec(1, t + Duration::from_millis(300)));
        assert_eq!(b.expire(t + Duration::from_millis(500)), 0);
        assert_eq!(b.expire(t + Duration::from_millis(600)), 1);
        assert_eq!(b.expire(t + Duration::from_millis(900)), 1);
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
    }
}
