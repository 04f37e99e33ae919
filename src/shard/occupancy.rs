//! What a channel's owner shard knows about the channel node-wide, pure: each shard's local
//! subscription count (shards report changes over the bus), so the owner sees the node going
//! 0 → ≥1 (occupied) and back to 0 (vacated) exactly once per change, and the node's
//! subscription count with Pusher's throttle (more than 100 subscribers: at most one count
//! every 5 s, the last change sent when the period ends). Also the pending vacates and member
//! removals of `vacate_grace_ms`, cancelled by a return within the grace.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Subscribers above which counts are throttled.
pub const THROTTLE_ABOVE: u64 = 100;
/// Shortest interval between two throttled counts.
pub const THROTTLE_PERIOD: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Tally {
    /// (shard, local subscriptions), shards with ≥ 1 only.
    shards: Vec<(usize, u32)>,
    total: u64,
    count_sent: Option<u64>,
    count_sent_at: Option<Instant>,
    count_timer: bool,
}

/// How the node's occupancy of a channel changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    /// 0 → ≥ 1 subscriptions on the node.
    Occupied,
    /// ≥ 1 → 0.
    Vacated,
    /// No change of occupancy.
    Same,
}

/// Whether (and when) a subscription count is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountDue {
    /// Send this count now.
    Now(u64),
    /// Throttled: ask again at this time (the caller sets a timer).
    At(Instant),
    /// Nothing to send (unchanged, or a timer is already set).
    Nothing,
}

/// The owner's tallies of the channels it owns.
#[derive(Debug, Default)]
pub struct Tallies {
    map: HashMap<(u32, Box<str>), Tally>,
}

impl Tallies {
    /// Shard `shard` now has `count` local subscriptions of the channel.
    pub fn set(&mut self, app: u32, channel: &str, shard: usize, count: u32) -> Occupancy {
        let key = (app, Box::from(channel));
        let tally = self.map.entry(key).or_default();
        let before = tally.total;
        match tally.shards.iter().position(|(s, _)| *s == shard) {
            Some(i) if count == 0 => {
                tally.shards.swap_remove(i);
            }
            Some(i) => tally.shards[i].1 = count,
            None if count > 0 => tally.shards.push((shard, count)),
            None => {}
        }
        tally.total = tally.shards.iter().map(|(_, n)| u64::from(*n)).sum();
        let after = tally.total;
        if after == 0 {
            self.map.remove(&(app, Box::from(channel)));
        }
        match (before, after) {
            (0, a) if a > 0 => Occupancy::Occupied,
            (b, 0) if b > 0 => Occupancy::Vacated,
            _ => Occupancy::Same,
        }
    }

    /// Subscriptions of the channel on the node.
    pub fn total(&self, app: u32, channel: &str) -> u64 {
        self.map
            .get(&(app, Box::from(channel)))
            .map_or(0, |t| t.total)
    }

    /// Whether the channel's count should be sent at `now` (0 never is: vacated says it).
    pub fn count_due(&mut self, app: u32, channel: &str, now: Instant) -> CountDue {
        let Some(t) = self.map.get_mut(&(app, Box::from(channel))) else {
            return CountDue::Nothing;
        };
        if t.count_sent == Some(t.total) {
            return CountDue::Nothing;
        }
        let free = t.total <= THROTTLE_ABOVE
            || t.count_sent_at
                .is_none_or(|at| now.saturating_duration_since(at) >= THROTTLE_PERIOD);
        if free {
            t.count_sent = Some(t.total);
            t.count_sent_at = Some(now);
            return CountDue::Now(t.total);
        }
        if t.count_timer {
            return CountDue::Nothing;
        }
        t.count_timer = true;
        CountDue::At(t.count_sent_at.map_or(now, |at| at + THROTTLE_PERIOD))
    }

    /// A count timer set after [`CountDue::At`] went off at `now`.
    pub fn count_timer_fired(&mut self, app: u32, channel: &str, now: Instant) -> CountDue {
        if let Some(t) = self.map.get_mut(&(app, Box::from(channel))) {
            t.count_timer = false;
        }
        self.count_due(app, channel, now)
    }
}

/// Transitions waiting out a grace period, each with a generation so a timer set for an
/// earlier wait does nothing.
#[derive(Debug)]
pub struct Pending<K> {
    map: HashMap<K, u64>,
    next: u64,
}

impl<K> Default for Pending<K> {
    fn default() -> Self {
        Pending {
            map: HashMap::new(),
            next: 1,
        }
    }
}

impl<K: Hash + Eq> Pending<K> {
    /// Starts (or restarts) a wait for `key`; returns its generation.
    pub fn start(&mut self, key: K) -> u64 {
        let generation = self.next;
        self.next += 1;
        self.map.insert(key, generation);
        generation
    }

    /// Cancels the wait for `key`; true when one was pending.
    pub fn cancel(&mut self, key: &K) -> bool {
        self.map.remove(key).is_some()
    }

    /// The timer of generation `generation` went off: true (and the wait ends) when it is
    /// still the pending one.
    pub fn fire(&mut self, key: &K, generation: u64) -> bool {
        if self.map.get(key) == Some(&generation) {
            self.map.remove(key);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_changes_once_across_shards() {
        let mut t = Tallies::default();
        assert_eq!(t.set(0, "a", 0, 1), Occupancy::Occupied);
        assert_eq!(t.set(0, "a", 1, 1), Occupancy::Same);
        assert_eq!(t.set(0, "a", 1, 3), Occupancy::Same);
        assert_eq!(t.total(0, "a"), 4);
        assert_eq!(t.set(0, "a", 0, 0), Occupancy::Same);
        assert_eq!(t.set(1, "a", 0, 1), Occupancy::Occupied);
        assert_eq!(t.set(0, "a", 1, 0), Occupancy::Vacated);
        assert_eq!(t.total(0, "a"), 0);
        assert_eq!(t.set(0, "a", 1, 0), Occupancy::Same);
        assert_eq!(t.set(1, "a", 0, 0), Occupancy::Vacated);
    }

    #[test]
    fn counts_are_sent_on_change_and_throttled_above_100() {
        let mut t = Tallies::default();
        let t0 = Instant::now();
        t.set(0, "c", 0, 1);
        assert_eq!(t.count_due(0, "c", t0), CountDue::Now(1));
        assert_eq!(t.count_due(0, "c", t0), CountDue::Nothing);
        t.set(0, "c", 1, 99);
        assert_eq!(t.count_due(0, "c", t0), CountDue::Now(100));
        t.set(0, "c", 1, 100);
        let later = t0 + THROTTLE_PERIOD;
        assert_eq!(t.count_due(0, "c", t0), CountDue::At(later));
        t.set(0, "c", 1, 102);
        assert_eq!(t.count_due(0, "c", t0), CountDue::Nothing);
        assert_eq!(t.count_timer_fired(0, "c", later), CountDue::Now(103));
        t.set(0, "c", 1, 103);
        let much_later = later + THROTTLE_PERIOD;
        assert_eq!(t.count_due(0, "c", much_later), CountDue::Now(104));
        t.set(0, "c", 1, 10);
        assert_eq!(t.count_due(0, "c", much_later), CountDue::Now(11));
        t.set(0, "c", 1, 0);
        t.set(0, "c", 0, 0);
        assert_eq!(t.count_due(0, "c", much_later), CountDue::Nothing);
    }

    #[test]
    fn a_return_within_the_grace_cancels_the_wait() {
        let mut p: Pending<(u32, Box<str>)> = Pending::default();
        let k = (0, Box::from("a"));
        let g1 = p.start(k.clone());
        assert!(p.cancel(&k));
        assert!(!p.fire(&k, g1));
        let g2 = p.start(k.clone());
        let g3 = p.start(k.clone());
        assert!(!p.fire(&k, g2));
        assert!(p.fire(&k, g3));
        assert!(!p.cancel(&k));
    }
}
