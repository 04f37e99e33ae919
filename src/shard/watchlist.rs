//! Watchlist events: a user is online while at least one connection is signed in as them,
//! anywhere. Each user's connection count lives on the user's owner shard, which broadcasts
//! the 0→1 and 1→0 transitions; every shard delivers them to its local watchers.

use std::rc::Rc;

use super::{ConnKey, Shard};
use crate::bus::{BusMessage, Query, Reply};
use crate::protocol::outbound;

/// Owner-shard key of a user (users and channels share one hash space, so prefix it).
fn owner_key(user_id: &str) -> String {
    format!("#user:{user_id}")
}

impl Shard {
    /// Registers a newly signed-in connection's user and watchlist (when the app wants events),
    /// then sends it the current online/offline state of its watchlist.
    pub fn watch_signin(
        self: &Rc<Self>,
        key: ConnKey,
        app: u32,
        user_id: &str,
        watchlist: &[String],
    ) {
        if !self.app(app).enable_watchlist_events {
            return;
        }
        self.user_presence(app, user_id, 1);
        {
            let mut watchers = self.watchers.borrow_mut();
            for id in watchlist {
                watchers.entry((app, id.clone())).or_default().push(key);
            }
        }
        if watchlist.is_empty() {
            return;
        }
        let shard = Rc::clone(self);
        let ids = watchlist.to_vec();
        let Some(socket_id) = self.conns.borrow().get(key).map(|c| c.socket_id) else {
            return;
        };
        glommio::spawn_local(async move {
            let mut online = Vec::new();
            for r in shard
                .ask_all(Query::Online {
                    app,
                    ids: ids.clone(),
                })
                .await
            {
                if let Reply::Members(list) = r {
                    online.extend(list);
                }
            }
            let offline: Vec<String> = ids.into_iter().filter(|i| !online.contains(i)).collect();
            if shard.conn_of(socket_id) == Some(key) {
                shard.send_text(key, &outbound::watchlist_events(&online, &offline));
            }
        })
        .detach();
    }

    /// Undoes [`Shard::watch_signin`] for a leaving connection.
    pub fn watch_signout(&self, key: ConnKey, app: u32, user_id: &str, watchlist: &[String]) {
        if !self.app(app).enable_watchlist_events {
            return;
        }
        self.user_presence(app, user_id, -1);
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

    fn user_presence(&self, app: u32, user_id: &str, delta: i32) {
        let msg = BusMessage::UserPresence {
            app,
            user_id: user_id.to_string(),
            delta,
        };
        match self.owner(app, &owner_key(user_id)) {
            o if o == self.id() => self.handle_local(msg),
            o => self.bus.send(o, msg),
        }
    }

    /// Owner side: counts a user's connections; announces transitions to every shard.
    pub fn on_user_presence(&self, app: u32, user_id: String, delta: i32) {
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
            for to in (0..self.bus.shards()).filter(|&s| s != self.id()) {
                self.bus.send(
                    to,
                    BusMessage::WatchEvent {
                        app,
                        user_id: user_id.clone(),
                        online: is_online,
                    },
                );
            }
            self.on_watch_event(app, &user_id, is_online);
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
        if keys.is_empty() {
            return;
        }
        let ids = [user_id.to_string()];
        let json = if online {
            outbound::watchlist_events(&ids, &[])
        } else {
            outbound::watchlist_events(&[], &ids)
        };
        for key in keys {
            self.send_text(key, &json);
        }
    }

    /// Which of `ids` this shard knows to be online (as their owner).
    pub fn online_of(&self, app: u32, ids: &[String]) -> Vec<String> {
        let online = self.online.borrow();
        ids.iter()
            .filter(|id| {
                self.owner(app, &owner_key(id)) == self.id()
                    && online.contains_key(&(app, (*id).clone()))
            })
            .cloned()
            .collect()
    }
}
