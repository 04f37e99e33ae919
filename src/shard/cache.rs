//! Cache channels' last events. Every shard keeps a replica: each publish to a cache channel
//! already travels to every shard, so storing it where it is delivered makes the subscribe-time
//! lookup local and ordered with the live stream (no event can overtake the cached one).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// One channel's last event.
#[derive(Debug, Clone)]
pub struct CachedEvent {
    /// The framed event, ready to send.
    pub frame: Bytes,
    /// Its `data` string (for the REST `info=cache` attribute).
    pub data: Arc<str>,
    /// When it was stored.
    pub stored: Instant,
}

/// Last events by (app, channel).
#[derive(Debug, Default)]
pub struct CacheTable {
    entries: HashMap<(u32, Box<str>), CachedEvent>,
}

impl CacheTable {
    /// Stores (replaces) a channel's last event.
    pub fn store(&mut self, app: u32, channel: &str, frame: Bytes, data: Arc<str>, now: Instant) {
        self.entries.insert(
            (app, channel.into()),
            CachedEvent {
                frame,
                data,
                stored: now,
            },
        );
    }

    /// The channel's last event if younger than `ttl`.
    pub fn get(
        &self,
        app: u32,
        channel: &str,
        ttl: Duration,
        now: Instant,
    ) -> Option<&CachedEvent> {
        self.entries
            .get(&(app, Box::from(channel)))
            .filter(|e| now.saturating_duration_since(e.stored) < ttl)
    }

    /// Drops entries older than their app's TTL.
    pub fn purge(&mut self, ttl_of: impl Fn(u32) -> Duration, now: Instant) {
        self.entries
            .retain(|(app, _), e| now.saturating_duration_since(e.stored) < ttl_of(*app));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_ttl() {
        let mut c = CacheTable::default();
        let t0 = Instant::now();
        c.store(0, "cache-a", Bytes::from_static(b"f"), Arc::from("d"), t0);
        let ttl = Duration::from_secs(10);
        assert!(c
            .get(0, "cache-a", ttl, t0 + Duration::from_secs(9))
            .is_some());
        assert!(c.get(0, "cache-a", ttl, t0 + ttl).is_none());
        assert!(c.get(1, "cache-a", ttl, t0).is_none());
        c.purge(|_| ttl, t0 + ttl);
        assert!(c.get(0, "cache-a", ttl, t0).is_none());
    }
}
