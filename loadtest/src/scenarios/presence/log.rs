//! Expected member events (joins and leaves as performed) and per-observer matching of the
//! member events actually received: latency, missed and duplicated events.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Added,
    Removed,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: Kind,
    at_us: u64,
    /// The join was refused, so no member event is expected for it.
    failed: bool,
}

/// All joins/leaves per (channel, user), in the order the user performed them.
#[derive(Default)]
pub struct PresenceLog {
    entries: Mutex<HashMap<(u32, u32), Vec<Entry>>>,
}

/// Outcome of matching one received member event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// Expected; latency since the action in µs, and how many earlier events were skipped.
    Ok { latency_us: u64, missed: u64 },
    /// Same kind as the previous event for that user (seen twice).
    Duplicate,
    /// No such action was performed.
    Unexpected,
}

/// One observer's progress through the log of its channel.
#[derive(Debug, Default)]
pub struct Cursor {
    next: HashMap<u32, usize>,
    last: HashMap<u32, Kind>,
}

impl PresenceLog {
    /// Records an action before it is sent; returns its index for [`PresenceLog::mark_failed`].
    pub fn push(&self, channel: u32, user: u32, kind: Kind, at_us: u64) -> usize {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let v = m.entry((channel, user)).or_default();
        v.push(Entry {
            kind,
            at_us,
            failed: false,
        });
        v.len() - 1
    }

    pub fn mark_failed(&self, channel: u32, user: u32, index: usize) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(&(channel, user)).and_then(|v| v.get_mut(index)) {
            e.failed = true;
        }
    }

    /// Matches a member event seen by an observer of `channel`.
    pub fn observe(
        &self,
        cur: &mut Cursor,
        channel: u32,
        user: u32,
        kind: Kind,
        now: u64,
    ) -> Matched {
        let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(v) = m.get(&(channel, user)) else {
            return Matched::Unexpected;
        };
        let start = cur.next.get(&user).copied().unwrap_or(0);
        let found = v
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, e)| !e.failed && e.kind == kind);
        match found {
            Some((idx, e)) => {
                let skipped = v[start..idx].iter().filter(|e| !e.failed).count() as u64;
                let dup_of_last = cur.last.get(&user) == Some(&kind);
                if dup_of_last && skipped > 0 && now < e.at_us {
                    // The same kind again, before the action it could belong to happened.
                    return Matched::Duplicate;
                }
                cur.next.insert(user, idx + 1);
                cur.last.insert(user, kind);
                Matched::Ok {
                    latency_us: now.saturating_sub(e.at_us),
                    missed: skipped,
                }
            }
            None if cur.last.get(&user) == Some(&kind) => Matched::Duplicate,
            None => Matched::Unexpected,
        }
    }

    /// Expected events on `channel` that this observer never matched.
    pub fn unmatched(&self, cur: &Cursor, channel: u32) -> u64 {
        let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((ch, _), _)| *ch == channel)
            .map(|((_, user), v)| {
                let start = cur.next.get(user).copied().unwrap_or(0).min(v.len());
                v[start..].iter().filter(|e| !e.failed).count() as u64
            })
            .sum()
    }

    /// Member events expected per observer of `channel`.
    pub fn expected(&self, channel: u32) -> u64 {
        let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((ch, _), _)| *ch == channel)
            .map(|(_, v)| v.iter().filter(|e| !e.failed).count() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;

    #[test]
    fn exact_sequence_matches_with_latency() {
        let log = PresenceLog::default();
        log.push(0, 1, Added, 100);
        log.push(0, 1, Removed, 300);
        let mut c = Cursor::default();
        assert_eq!(
            log.observe(&mut c, 0, 1, Added, 150),
            Matched::Ok {
                latency_us: 50,
                missed: 0
            }
        );
        assert_eq!(
            log.observe(&mut c, 0, 1, Removed, 310),
            Matched::Ok {
                latency_us: 10,
                missed: 0
            }
        );
        assert_eq!(log.unmatched(&c, 0), 0);
        assert_eq!(log.expected(0), 2);
    }

    #[test]
    fn duplicates_and_unexpected() {
        let log = PresenceLog::default();
        log.push(0, 1, Added, 0);
        log.push(0, 1, Removed, 10);
        log.push(0, 1, Added, 20);
        let mut c = Cursor::default();
        assert!(matches!(
            log.observe(&mut c, 0, 1, Added, 1),
            Matched::Ok { .. }
        ));
        assert_eq!(log.observe(&mut c, 0, 1, Added, 2), Matched::Duplicate);
        assert!(matches!(
            log.observe(&mut c, 0, 1, Removed, 11),
            Matched::Ok { missed: 0, .. }
        ));
        assert!(matches!(
            log.observe(&mut c, 0, 1, Added, 21),
            Matched::Ok { missed: 0, .. }
        ));
        assert_eq!(log.observe(&mut c, 0, 1, Added, 22), Matched::Duplicate);
        assert_eq!(log.observe(&mut c, 0, 2, Added, 22), Matched::Unexpected);
        assert_eq!(log.observe(&mut c, 1, 1, Added, 22), Matched::Unexpected);
        assert_eq!(log.unmatched(&c, 0), 0);
    }

    #[test]
    fn missed_events_are_counted() {
        let log = PresenceLog::default();
        for (i, k) in [Added, Removed, Added, Removed].into_iter().enumerate() {
            log.push(3, 9, k, i as u64 * 10);
        }
        let mut c = Cursor::default();
        // Only the second join's event arrives: it is attributed to the earliest action it
        // could belong to, and the missing ones are counted at the end.
        assert_eq!(
            log.observe(&mut c, 3, 9, Added, 25),
            Matched::Ok {
                latency_us: 25,
                missed: 0
            }
        );
        assert_eq!(log.unmatched(&c, 3), 3);
        assert_eq!(
            log.observe(&mut c, 3, 9, Removed, 40),
            Matched::Ok {
                latency_us: 30,
                missed: 0
            }
        );
        // A join while a leave is expected skips (misses) that leave.
        let mut c = Cursor::default();
        assert!(matches!(
            log.observe(&mut c, 3, 9, Added, 1),
            Matched::Ok { .. }
        ));
        assert_eq!(
            log.observe(&mut c, 3, 9, Added, 21),
            Matched::Ok {
                latency_us: 1,
                missed: 1
            }
        );
        assert_eq!(log.unmatched(&c, 3), 1);
        // Nothing seen at all by a second observer.
        assert_eq!(log.unmatched(&Cursor::default(), 3), 4);
    }

    #[test]
    fn same_kind_twice_after_the_next_action_is_a_miss_not_a_duplicate() {
        let log = PresenceLog::default();
        log.push(0, 1, Added, 0);
        log.push(0, 1, Removed, 10);
        log.push(0, 1, Added, 20);
        let mut c = Cursor::default();
        assert!(matches!(
            log.observe(&mut c, 0, 1, Added, 1),
            Matched::Ok { .. }
        ));
        assert_eq!(
            log.observe(&mut c, 0, 1, Added, 25),
            Matched::Ok {
                latency_us: 5,
                missed: 1
            }
        );
    }

    #[test]
    fn failed_joins_are_not_expected() {
        let log = PresenceLog::default();
        let i = log.push(0, 1, Added, 0);
        log.mark_failed(0, 1, i);
        log.push(0, 1, Added, 50);
        let mut c = Cursor::default();
        assert_eq!(log.expected(0), 1);
        assert_eq!(
            log.observe(&mut c, 0, 1, Added, 60),
            Matched::Ok {
                latency_us: 10,
                missed: 0
            }
        );
        assert_eq!(log.unmatched(&c, 0), 0);
    }
}
