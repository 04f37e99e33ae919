//! Loss, duplicate and reordering detection for one (publisher, channel) sequence stream.

use std::collections::VecDeque;

/// Missing ranges remembered for late-arrival matching; older ones stay counted as missing.
const MAX_GAPS: usize = 1024;

/// Tracks sequence numbers 0, 1, 2, … of one stream as seen by one receiver.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    /// Next sequence number expected in order.
    next: u64,
    /// Sorted, disjoint half-open ranges `[start, end)` of sequence numbers not yet seen.
    gaps: VecDeque<(u64, u64)>,
    /// Total count of sequence numbers below `next` not yet seen.
    missing: u64,
    received: u64,
    out_of_order: u64,
    duplicates: u64,
}

/// What one observation turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    InOrder,
    /// Arrived ahead of `n` earlier numbers that have not been seen yet.
    Gap(u64),
    /// Arrived after a higher number (fills an earlier gap).
    Late,
    Duplicate,
}

impl SeqTracker {
    pub fn observe(&mut self, seq: u64) -> Seen {
        if seq == self.next {
            self.next += 1;
            self.received += 1;
            return Seen::InOrder;
        }
        if seq > self.next {
            let gap = seq - self.next;
            self.gaps.push_back((self.next, seq));
            if self.gaps.len() > MAX_GAPS {
                self.gaps.pop_front();
            }
            self.missing += gap;
            self.next = seq + 1;
            self.received += 1;
            return Seen::Gap(gap);
        }
        // seq < next: either fills a remembered gap or was already seen.
        let idx = self.gaps.partition_point(|&(_, end)| end <= seq);
        match self.gaps.get(idx).copied() {
            Some((start, end)) if start <= seq => {
                match (seq == start, seq + 1 == end) {
                    (true, true) => {
                        self.gaps.remove(idx);
                    }
                    (true, false) => self.gaps[idx].0 = seq + 1,
                    (false, true) => self.gaps[idx].1 = seq,
                    (false, false) => {
                        self.gaps[idx].1 = seq;
                        self.gaps.insert(idx + 1, (seq + 1, end));
                    }
                }
                self.missing -= 1;
                self.received += 1;
                self.out_of_order += 1;
                Seen::Late
            }
            _ => {
                self.duplicates += 1;
                Seen::Duplicate
            }
        }
    }

    /// Messages lost given that the publisher assigned `published` sequence numbers
    /// (0..published) of which `failed` were rejected and never expected to arrive.
    pub fn lost(&self, published: u64, failed: u64) -> u64 {
        let tail = published.saturating_sub(self.next);
        (self.missing + tail).saturating_sub(failed)
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::default();
        for &s in seqs {
            t.observe(s);
        }
        t
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let t = feed(&[0, 1, 2, 3, 4]);
        assert_eq!(t.lost(5, 0), 0);
        assert_eq!((t.received(), t.out_of_order(), t.duplicates()), (5, 0, 0));
    }

    #[test]
    fn gaps_count_as_lost() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(0), Seen::InOrder);
        assert_eq!(t.observe(3), Seen::Gap(2));
        assert_eq!(t.observe(4), Seen::InOrder);
        assert_eq!(t.observe(9), Seen::Gap(4));
        assert_eq!(t.lost(10, 0), 6);
        assert_eq!(t.out_of_order(), 0);
    }

    #[test]
    fn missing_tail_counts_as_lost() {
        let t = feed(&[0, 1, 2]);
        assert_eq!(t.lost(10, 0), 7);
        assert_eq!(SeqTracker::default().lost(4, 0), 4);
    }

    #[test]
    fn failed_publishes_are_not_lost() {
        let t = feed(&[0, 2, 3]);
        assert_eq!(t.lost(5, 0), 2);
        assert_eq!(t.lost(5, 2), 0);
        assert_eq!(t.lost(5, 9), 0);
    }

    #[test]
    fn reordering_is_not_loss() {
        let mut t = SeqTracker::default();
        t.observe(0);
        t.observe(2);
        assert_eq!(t.observe(1), Seen::Late);
        t.observe(3);
        assert_eq!(t.lost(4, 0), 0);
        assert_eq!(t.out_of_order(), 1);
        assert_eq!(t.duplicates(), 0);
    }

    #[test]
    fn late_arrivals_split_gaps() {
        let mut t = feed(&[0, 10]);
        for s in [5, 1, 9, 7] {
            assert_eq!(t.observe(s), Seen::Late, "{s}");
        }
        assert_eq!(t.lost(11, 0), 5);
        assert_eq!(t.observe(5), Seen::Duplicate);
        for s in [2, 3, 4, 6, 8] {
            assert_eq!(t.observe(s), Seen::Late, "{s}");
        }
        assert_eq!(t.lost(11, 0), 0);
        assert_eq!(t.out_of_order(), 9);
    }

    #[test]
    fn duplicates_are_detected() {
        let mut t = feed(&[0, 1, 2]);
        assert_eq!(t.observe(1), Seen::Duplicate);
        assert_eq!(t.observe(2), Seen::Duplicate);
        assert_eq!(t.observe(0), Seen::Duplicate);
        assert_eq!(t.duplicates(), 3);
        assert_eq!(t.lost(3, 0), 0);
        assert_eq!(t.received(), 3);
    }

    #[test]
    fn gap_memory_is_bounded() {
        let mut t = SeqTracker::default();
        for i in 0..(MAX_GAPS as u64 + 10) {
            t.observe(i * 2 + 1);
        }
        assert!(t.gaps.len() <= MAX_GAPS);
        // Every even number is still accounted as missing.
        assert_eq!(t.lost(t.next, 0), MAX_GAPS as u64 + 10);
        // A late arrival whose gap was forgotten counts as a duplicate, not as found.
        assert_eq!(t.observe(0), Seen::Duplicate);
    }
}
