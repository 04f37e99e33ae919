//! Fanout accounting: combines what publishers sent with what each subscriber saw into
//! deliveries, expected deliveries, loss, duplicates and reordering.

use super::publisher::PubResult;
use super::receiver::ReceiverResult;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Stamped events received, duplicates included.
    pub deliveries: u64,
    /// Distinct stamped events received.
    pub unique: u64,
    /// Events that subscribers still connected at the end should have received.
    pub expected: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
    /// Subscribers the server closed before the end (excluded from loss).
    pub closed_receivers: u64,
}

/// Subscribers per channel index for connection i → channel i mod k.
pub fn receiver_counts(c: u64, k: u32) -> Vec<u64> {
    let k = k.max(1) as u64;
    (0..k).map(|ch| c / k + u64::from(ch < c % k)).collect()
}

/// Publishes the server accepted (handed out minus failed or rejected).
pub fn accepted(pubs: &[&PubResult]) -> u64 {
    pubs.iter()
        .flat_map(|r| r.assigned.iter().zip(&r.failed))
        .map(|(a, f)| a.saturating_sub(*f))
        .sum()
}

/// Deliveries expected from accepted publishes if every subscriber got every event.
pub fn expected_deliveries(pubs: &[&PubResult], per_channel: &[u64]) -> u64 {
    pubs.iter()
        .flat_map(|r| r.assigned.iter().zip(&r.failed).zip(per_channel))
        .map(|((a, f), n)| a.saturating_sub(*f) * n)
        .sum()
}

pub fn account<'a>(
    receivers: impl IntoIterator<Item = &'a ReceiverResult>,
    pubs: &[&PubResult],
) -> Totals {
    let mut t = Totals::default();
    for r in receivers {
        t.deliveries += r.stamped;
        for tr in r.trackers.values() {
            t.out_of_order += tr.out_of_order();
            t.duplicates += tr.duplicates();
            t.unique += tr.received();
        }
        if r.closed {
            t.closed_receivers += 1;
            continue;
        }
        let ch = r.channel as usize;
        for p in pubs {
            let assigned = p.assigned.get(ch).copied().unwrap_or(0);
            let failed = p.failed.get(ch).copied().unwrap_or(0);
            if assigned == 0 {
                continue;
            }
            t.expected += assigned.saturating_sub(failed);
            let tracker = r.trackers.get(&p.id).cloned().unwrap_or_default();
            t.lost += tracker.lost(assigned, failed);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SeqTracker;
    use std::collections::{BTreeMap, HashMap};

    fn publisher(id: u32, assigned: Vec<u64>, failed: Vec<u64>) -> PubResult {
        PubResult {
            id,
            assigned,
            failed,
            failures: BTreeMap::new(),
        }
    }

    fn receiver(channel: u32, seen: &[(u32, &[u64])], closed: bool) -> ReceiverResult {
        let mut trackers: HashMap<u32, SeqTracker> = HashMap::new();
        let mut stamped = 0;
        for (p, seqs) in seen {
            for s in *seqs {
                trackers.entry(*p).or_default().observe(*s);
                stamped += 1;
            }
        }
        ReceiverResult {
            channel,
            url: 0,
            trackers,
            closed,
            stamped,
        }
    }

    #[test]
    fn round_robin_counts() {
        assert_eq!(receiver_counts(10, 3), vec![4, 3, 3]);
        assert_eq!(receiver_counts(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(receiver_counts(1000, 1), vec![1000]);
    }

    #[test]
    fn expected_and_accepted_skip_failures() {
        let p = publisher(0, vec![10, 5], vec![1, 0]);
        assert_eq!(expected_deliveries(&[&p], &[2, 3]), 9 * 2 + 5 * 3);
        assert_eq!(accepted(&[&p]), 14);
    }

    #[test]
    fn loss_order_and_duplicates_across_receivers() {
        let p0 = publisher(0, vec![4, 2], vec![0, 0]);
        let p1 = publisher(1, vec![3, 0], vec![1, 0]);
        let receivers = vec![
            // Channel 0, perfect except p1's rejected seq 1.
            receiver(0, &[(0, &[0, 1, 2, 3]), (1, &[0, 2])], false),
            // Channel 0: p0 seq 1 late, seq 3 duplicated, p1 never heard from.
            receiver(0, &[(0, &[0, 2, 1, 3, 3])], false),
            // Channel 1: lost p0's tail.
            receiver(1, &[(0, &[0])], false),
            // Closed by the server: its missing events are not loss.
            receiver(1, &[], true),
        ];
        let t = account(&receivers, &[&p0, &p1]);
        assert_eq!(t.deliveries, 6 + 5 + 1);
        assert_eq!(t.unique, 6 + 4 + 1);
        // Second receiver misses p1's two accepted events; third misses p0 seq 1 on ch 1.
        assert_eq!(t.lost, 2 + 1);
        assert_eq!(t.out_of_order, 1);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.expected, (4 + 2) + (4 + 2) + 2);
        assert_eq!(t.closed_receivers, 1);
    }
}
