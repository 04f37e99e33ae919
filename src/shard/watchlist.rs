//! Watchlist events: a user is online while at least one connection is signed in as them,
//! anywhere. Each user's connection count lives on the user's owner shard, which broadcasts
//! the 0→1 and 1→0 transitions; every shard delivers them to its local watchers.
//!
//! Ordering: `pusher:signin_success` goes out only once the owner has counted the sign-in, so
//! whoever sees it also sees the user online. A new watcher asks every shard for the online
//! users it owns; each answer travels the same queue as that shard's later transitions, so a
//! transition that arrives before its shard's answer is already in the answer (dropped), and
//! one that arrives after it is newer (held until the first list is sent, then delivered).

use std::sync::Arc;

use super::{ConnKey, Shard};
use crate::bus::{BusMessage, SigninAck};
use crate::protocol::codes::WATCHLIST_LIMIT;
use crate::protocol::outbound;
use crate::protocol::user::MAX_WATCHLIST;
use crate::protocol::SocketId;

/// A watcher waiting for every shard's answer before its first list.
#[derive(Debug, Default)]
pub struct WatchSync {
    /// Shards that answered.
    answered: Vec<bool>,
    /// Online users reported so far.
    online: Vec<String>,
    /// Transitions newer than their shard's answer, in arrival order.
    held: Vec<(String, bool)>,
}

/// Owner-shard key of a user (users and channels share one hash space, so prefix it).
fn owner_key(user_id: &str) -> String {
    format!("#user:{user_id}")
}

impl Shard {
    fn user_owner(&self, app: u32, user_id: &str) -> usize {
        self.owner(app, &owner_key(user_id))
    }

    /// Counts a new sign-in on the user's owner, then confirms it (`signin_success`).
    pub fn watch_signin(&self, key: ConnKey, app: u32, user_id: &str, user_data: &str) {
        let Some(socket_id) = self.conns.borrow().get(key).map(|c| c.socket_id) else {
            return;
        };
        let ack = SigninAck {
            shard: self.id(),
            socket_id,
            user_data: Arc::from(user_data),
        };
        if !self.app(app).enable_watchlist_events {
            return self.on_signin_done(ack);
        }
        self.route(
            self.user_owner(app, user_id),
            BusMessage::UserPresence {
                app,
                user_id: user_id.to_string(),
                delta: 1,
                ack: Some(ack),
            },
        );
    }

    /// The sign-in is counted: confirm it and start the watchlist.
    pub fn on_signin_done(&self, ack: SigninAck) {
        let Some(key) = self.conn_of(ack.socket_id) else {
            return;
        };
        self.send_text(key, &outbound::signin_success(&ack.user_data));
        let (app, watchlist, truncated) = {
            let conns = self.conns.borrow();
            let Some(conn) = conns.get(key) else { return };
            let Some(user) = &conn.user else { return };
            (conn.app, user.watchlist.clone(), user.watchlist_truncated)
        };
        if truncated {
            let msg = format!(
                "Watchlist limit exceeded. Only the first {MAX_WATCHLIST} user IDs are accepted."
            );
            self.send_text(key, &outbound::error(Some(WATCHLIST_LIMIT), &msg, None));
        }
        if !self.app(app).enable_watchlist_events || watchlist.is_empty() {
            return;
        }
        {
            let mut watchers = self.watchers.borrow_mut();
            for id in &watchlist {
                watchers.entry((app, id.clone())).or_default().push(key);
            }
        }
        if let Some(conn) = self.conns.borrow_mut().get_mut(key) {
            conn.watch_sync = Some(Box::new(WatchSync {
                answered: vec![false; self.bus.shards()],
                ..WatchSync::default()
            }));
        }
        for to in 0..self.bus.shards() {
            self.route(
                to,
                BusMessage::WatchQuery {
                    from: self.id(),
                    socket_id: ack.socket_id,
                    app,
                    ids: watchlist.clone(),
                },
            );
        }
    }

    /// Answers a new watcher with the watched users this shard owns that are online.
    pub fn on_watch_query(&self, from: usize, socket_id: SocketId, app: u32, ids: Vec<String>) {
        let online = {
            let counts = self.online.borrow();
            ids.into_iter()
                .filter(|id| {
                    self.user_owner(app, id) == self.id() && counts.contains_key(&(app, id.clone()))
                })
                .collect()
        };
        let msg = BusMessage::WatchState {
            socket_id,
            shard: self.id(),
            online,
        };
        self.route(from, msg);
    }

    /// One shard's answer to a new watcher; the first list goes out with the last answer.
    pub fn on_watch_state(&self, socket_id: SocketId, shard: usize, online: Vec<String>) {
        let Some(key) = self.conn_of(socket_id) else {
            return;
        };
        let done = {
            let mut conns = self.conns.borrow_mut();
            let Some(conn) = conns.get_mut(key) else {
                return;
            };
            let Some(sync) = conn.watch_sync.as_mut() else {
                return;
            };
            if let Some(a) = sync.answered.get_mut(shard) {
                *a = true;
            }
            sync.online.extend(online);
            if sync.answered.iter().all(|a| *a) {
                let watchlist = conn
                    .user
                    .as_ref()
                    .map(|u| u.watchlist.clone())
                    .unwrap_or_default();
                conn.watch_sync.take().map(|s| (s, watchlist))
            } else {
                None
            }
        };
        let Some((sync, watchlist)) = done else {
            return;
        };
        let offline: Vec<String> = watchlist
            .into_iter()
            .filter(|id| !sync.online.contains(id))
            .collect();
        self.send_text(key, &outbound::watchlist_events(&sync.online, &offline));
        for (user_id, online) in sync.held {
            self.send_text(key, &transition(&user_id, online));
        }
    }

    /// Undoes the sign-in's count and watchlist for a leaving connection.
    pub fn watch_signout(&self, key: ConnKey, app: u32, user_id: &str, watchlist: &[String]) {
        if !self.app(app).enable_watchlist_events {
            return;
        }
        self.route(
            self.user_owner(app, user_id),
            BusMessage::UserPresence {
                app,
                user_id: user_id.to_string(),
                delta: -1,
                ack: None,
            },
        );
        let mut watchers = self.watchers.borrow_mut();
        for id in watchlist {
            let k = (app, id.clone());
            if let Some(keys) = watchers.get_mut(&k) {
                keys.retain(|c| *c != key);
                if keys.is_empty() {
                    watchers.remove(&k);
                }
            }
        }
    }

    /// Owner side: counts a user's connections; announces transitions to every shard, then
    /// acknowledges the sign-in that caused the change.
    pub fn on_user_presence(&self, app: u32, user_id: String, delta: i32, ack: Option<SigninAck>) {
        let transition = {
            let mut online = self.online.borrow_mut();
            let count = online.entry((app, user_id.clone())).or_insert(0);
            let before = *count;
            *count = (i64::from(*count) + i64::from(delta)).max(0) as u32;
            let after = *count;
            if after == 0 {
                online.remove(&(app, user_id.clone()));
            }
            match (before, after) {
                (0, a) if a > 0 => Some(true),
                (b, 0) if b > 0 => Some(false),
                _ => None,
            }
        };
        if let Some(is_online) = transition {
            for to in 0..self.bus.shards() {
                self.route(
                    to,
                    BusMessage::WatchEvent {
                        app,
                        user_id: user_id.clone(),
                        online: is_online,
                    },
                );
            }
        }
        if let Some(ack) = ack {
            self.route(ack.shard, BusMessage::SigninDone(ack));
        }
    }

    /// Delivers an online/offline transition to this shard's watchers of the user.
    pub fn on_watch_event(&self, app: u32, user_id: &str, online: bool) {
        let keys = self
            .watchers
            .borrow()
            .get(&(app, user_id.to_string()))
            .cloned()
            .unwrap_or_default();
        let owner = self.user_owner(app, user_id);
        let json = transition(user_id, online);
        for key in keys {
            let mut conns = self.conns.borrow_mut();
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            match conn.watch_sync.as_mut() {
                None => {
                    drop(conns);
                    self.send_text(key, &json);
                }
                Some(sync) if sync.answered.get(owner).copied().unwrap_or(false) => {
                    sync.held.push((user_id.to_string(), online));
                }
                // Not answered yet: that shard's answer already reflects this transition.
                Some(_) => {}
            }
        }
    }
}

/// One user's transition as a `pusher_internal:watchlist_events` frame.
fn transition(user_id: &str, online: bool) -> String {
    let ids = [user_id.to_string()];
    if online {
        outbound::watchlist_events(&ids, &[])
    } else {
        outbound::watchlist_events(&[], &ids)
    }
}
