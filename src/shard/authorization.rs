//! Authorized connections (per app `enable_user_authentication`): a Pusher connection of such
//! an app must sign in (`pusher:signin`) or successfully join a `private-…` or `presence-…`
//! channel (encrypted and cache variants included) within the app's
//! `user_authentication_timeout`; otherwise it gets `pusher:error` 4009 "Connection not
//! authorized within timeout." and a 4009 close. Public channels do not count, and having
//! been authorized once is enough for the connection's whole life.
//!
//! Cost: only connections of apps with the feature are tracked, one deadline entry each in a
//! shard-local min-heap, from connect until its deadline (authorized or not); the
//! connection itself carries one flag (in space its struct pads anyway). The housekeeping
//! sweep pops the due deadlines every tick (250 ms), so a connection is closed at most a tick
//! after its deadline. Nothing is added to the per-message path.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::Shard;
use crate::protocol::codes::{CloseCode, NOT_AUTHORIZED_IN_TIME};
use crate::protocol::SocketId;

/// Deadlines of one shard's connections that must become authorized, soonest first.
#[derive(Debug, Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
}

impl Deadlines {
    /// Tracks `socket` until `deadline`.
    pub fn push(&mut self, deadline: Instant, socket: SocketId) {
        self.heap
            .push(Reverse((deadline, socket.serial, socket.nonce)));
    }

    /// Takes the next connection whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<SocketId> {
        let Reverse((deadline, _, _)) = self.heap.peek()?;
        if *deadline > now {
            return None;
        }
        let Reverse((_, serial, nonce)) = self.heap.pop()?;
        Some(SocketId { nonce, serial })
    }
}

/// Whether a channel name makes its subscriber authorized: the kinds whose subscription is
/// signed by the app server.
pub fn authorizes(channel: &str) -> bool {
    channel.starts_with("private-") || channel.starts_with("presence-")
}

impl Shard {
    /// Starts the authorization clock of a new connection, if its app requires one.
    pub fn expect_authorization(&self, app: u32, socket: SocketId, now: Instant) {
        if let Some(timeout) = self.app(app).user_authentication_timeout {
            self.deadlines.borrow_mut().push(now + timeout, socket);
        }
    }

    /// Closes with 4009 every connection whose deadline has passed without authorization.
    pub fn expire_unauthorized(&self, now: Instant) {
        loop {
            let Some(socket) = self.deadlines.borrow_mut().pop_due(now) else {
                return;
            };
            let Some(key) = self.conn_of(socket) else {
                continue;
            };
            let authorized = self.conns.borrow().get(key).is_some_and(|c| c.authorized);
            if !authorized {
                self.close(key, CloseCode::Unauthorized, NOT_AUTHORIZED_IN_TIME);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sid(n: u64) -> SocketId {
        SocketId::new(7, n, 0, 1)
    }

    #[test]
    fn deadlines_come_out_soonest_first_and_only_when_due() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.push(t0 + Duration::from_secs(30), sid(1));
        d.push(t0 + Duration::from_secs(5), sid(2));
        d.push(t0 + Duration::from_secs(5), sid(3));
        assert_eq!(d.pop_due(t0), None);
        assert_eq!(d.pop_due(t0 + Duration::from_secs(4)), None);
        let later = t0 + Duration::from_secs(10);
        let mut due = vec![d.pop_due(later).unwrap(), d.pop_due(later).unwrap()];
        due.sort_by_key(|s| s.serial);
        assert_eq!(due, vec![sid(2), sid(3)]);
        assert_eq!(d.pop_due(later), None);
        let end = t0 + Duration::from_secs(60);
        assert_eq!(d.pop_due(end), Some(sid(1)));
        assert_eq!(d.pop_due(end), None);
    }

    #[test]
    fn only_signed_channel_kinds_authorize() {
        for yes in [
            "private-a",
            "private-encrypted-a",
            "private-cache-a",
            "private-encrypted-cache-a",
            "presence-a",
            "presence-cache-a",
        ] {
            assert!(authorizes(yes), "{yes}");
        }
        for no in ["a", "cache-a", "my-private-a", "#server-to-user-1"] {
            assert!(!authorizes(no), "{no}");
        }
    }
}
