//! The local subscriber table: per app, `channel name → this shard's subscribed connections`.
//! A channel with no local subscriber has no entry.

use std::collections::HashMap;

use indexmap::IndexSet;

use super::ConnKey;

/// Per-app maps of channel name to local subscribers (insertion-ordered, O(1) removal).
#[derive(Debug, Default)]
pub struct Channels {
    apps: Vec<HashMap<Box<str>, IndexSet<ConnKey>>>,
}

impl Channels {
    /// An empty table for `apps` apps.
    pub fn new(apps: usize) -> Self {
        Channels {
            apps: (0..apps).map(|_| HashMap::new()).collect(),
        }
    }

    /// Adds a subscriber; true when it was not subscribed yet.
    pub fn add(&mut self, app: u32, channel: &str, key: ConnKey) -> bool {
        let map = &mut self.apps[app as usize];
        match map.get_mut(channel) {
            Some(set) => set.insert(key),
            None => {
                let mut set = IndexSet::with_capacity(1);
                set.insert(key);
                map.insert(channel.into(), set);
                true
            }
        }
    }

    /// Removes a subscriber; true when it was subscribed. Drops the channel when it empties.
    pub fn remove(&mut self, app: u32, channel: &str, key: ConnKey) -> bool {
        let map = &mut self.apps[app as usize];
        let Some(set) = map.get_mut(channel) else {
            return false;
        };
        let removed = set.swap_remove(&key);
        if set.is_empty() {
            map.remove(channel);
        }
        removed
    }

    /// Local subscribers of a channel.
    pub fn subscribers(&self, app: u32, channel: &str) -> Option<&IndexSet<ConnKey>> {
        self.apps.get(app as usize)?.get(channel)
    }

    /// Local subscriber count of a channel.
    pub fn count(&self, app: u32, channel: &str) -> usize {
        self.subscribers(app, channel).map_or(0, IndexSet::len)
    }

    /// Total local subscriptions and occupied channels over all apps.
    pub fn totals(&self) -> (usize, usize) {
        self.apps.iter().fold((0, 0), |(subs, chans), map| {
            (
                subs + map.values().map(IndexSet::len).sum::<usize>(),
                chans + map.len(),
            )
        })
    }

    /// Occupied channels of an app whose name starts with `prefix`, with local counts.
    pub fn list(&self, app: u32, prefix: Option<&str>) -> Vec<(String, usize)> {
        let Some(map) = self.apps.get(app as usize) else {
            return Vec::new();
        };
        map.iter()
            .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
            .map(|(name, set)| (name.to_string(), set.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_remove_and_count() {
        let mut c = Channels::new(2);
        assert!(c.add(0, "a", 1));
        assert!(!c.add(0, "a", 1));
        assert!(c.add(0, "a", 2));
        assert!(c.add(1, "a", 3));
        assert_eq!(c.count(0, "a"), 2);
        assert_eq!(c.count(1, "a"), 1);
        assert!(c.remove(0, "a", 1));
        assert!(!c.remove(0, "a", 1));
        assert!(c.remove(0, "a", 2));
        assert!(c.subscribers(0, "a").is_none());
        assert_eq!(c.list(1, Some("a")), vec![("a".to_string(), 1)]);
        assert!(c.list(1, Some("b")).is_empty());
    }
}
