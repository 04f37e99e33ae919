//! Subscriptions and presence across shards. A presence channel's members live on its owner
//! shard (`hash(app, channel) % shards`): joins and leaves travel there, the owner broadcasts
//! `member_added` / `member_removed` and answers the joiner's shard with the member list. Every
//! owner-originated event reaches a shard in the order the owner sent it, so each subscriber
//! sees one consistent member list.

use std::sync::Arc;
use std::time::Instant;

use super::conn::Presence;
use super::presence::Joined;
use super::{session, ConnKey, Shard};
use crate::bus::{BusMessage, PresenceJoin, PresenceJoined, PresenceLeave};
use crate::protocol::presence::{self, Member};
use crate::protocol::{outbound, raw, SocketId};
use crate::ws::frame;

/// FNV-1a over the app index and channel name: the same owner on every shard.
pub fn owner_of(app: u32, channel: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in app.to_le_bytes().iter().chain(channel.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards as u64) as usize
}

impl Shard {
    /// The owner shard of a channel.
    pub fn owner(&self, app: u32, channel: &str) -> usize {
        owner_of(app, channel, self.bus.shards())
    }

    /// Adds a connection to a channel locally and confirms with `subscription_succeeded`,
    /// followed by the cached event (or `pusher:cache_miss`) on cache channels.
    pub fn confirm_subscription(&self, key: ConnKey, channel: &str, data: &str, cached: bool) {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(key) else {
            return;
        };
        let app = conn.app;
        conn.authorized |= super::authorization::authorizes(channel);
        // The shard's table answers "already subscribed?" in O(1); the connection's own list
        // would take a scan of every channel it holds.
        let added = self.channels.borrow_mut().add(app, channel, key);
        if added {
            conn.add_channel(channel);
        }
        drop(conns);
        self.send_text(key, &outbound::subscription_succeeded(channel, data));
        if cached {
            let ttl = self.app(app).cache_ttl;
            let hit = self
                .cache
                .borrow()
                .get(app, channel, ttl, Instant::now())
                .map(|e| e.frame.clone());
            match hit {
                Some(frame) => self.send(key, frame),
                None => {
                    self.send_text(key, &outbound::cache_miss(channel));
                    self.cache_missed(app, channel);
                }
            }
        }
        if added {
            // After the confirmation (and cached event): a subscription count it causes comes
            // after them.
            self.report_local(app, channel, true);
        }
    }

    /// Removes a connection from a channel locally (and from its presence room).
    pub fn drop_subscription(&self, key: ConnKey, channel: &str) {
        let (app, socket_id, presence_id) = {
            let mut conns = self.conns.borrow_mut();
            let Some(conn) = conns.get_mut(key) else {
                return;
            };
            let Some(pos) = conn.channels.iter().position(|c| &**c == channel) else {
                return;
            };
            conn.channels.swap_remove(pos);
            let presence_id = conn
                .presence
                .iter()
                .position(|p| &*p.channel == channel)
                .map(|i| conn.presence.swap_remove(i).user_id);
            (conn.app, conn.socket_id, presence_id)
        };
        self.remove_local(app, channel, key);
        if let Some(user_id) = presence_id {
            self.presence_leave(app, channel, socket_id, &user_id);
        }
    }

    /// Asks the owner shard to admit `member` into a presence channel.
    pub fn presence_join(&self, app: u32, channel: &str, socket_id: SocketId, member: Member) {
        let join = PresenceJoin {
            from: self.id(),
            app,
            channel: Arc::from(channel),
            socket_id,
            member,
        };
        match self.owner(app, channel) {
            o if o == self.id() => self.on_presence_join(join),
            o => self.bus.send(o, BusMessage::PresenceJoin(join)),
        }
    }

    /// Owner side of a join.
    pub fn on_presence_join(&self, j: PresenceJoin) {
        if raw::is_internal(&j.channel) {
            return self.on_raw_join(j);
        }
        let limit = self.app(j.app).max_presence_members as usize;
        let added = presence::member_added_data(&j.member);
        let mut reply = join_reply(&j);
        let outcome = self
            .rooms
            .borrow_mut()
            .join(j.app, &j.channel, j.socket_id, j.member, limit);
        let data = match outcome {
            Joined::Admitted {
                data,
                added: is_new,
            } => {
                if is_new {
                    self.member_added_hook(j.app, &j.channel, &reply.user_id);
                    let json = outbound::internal_event(
                        "pusher_internal:member_added",
                        &j.channel,
                        &added,
                    );
                    let json = self.app(j.app).event_prefix.outbound(json);
                    self.publish_on_node(
                        j.app,
                        &j.channel,
                        frame::text_frame(json.as_bytes()),
                        Some(j.socket_id),
                    );
                }
                Some(data)
            }
            Joined::Full => None,
        };
        reply.data = data;
        self.route(j.from, BusMessage::PresenceJoined(reply));
    }

    /// Owner side of a raw channel join: every connection is a member (keyed by its uuid);
    /// `presence=1` connections hear about joins while the channel has at most 100 members.
    fn on_raw_join(&self, j: PresenceJoin) {
        let member = j.member.clone();
        let mut reply = join_reply(&j);
        let added = matches!(
            self.rooms
                .borrow_mut()
                .join(j.app, &j.channel, j.socket_id, j.member, usize::MAX),
            Joined::Admitted { added: true, .. }
        );
        let (list, joined) = {
            let rooms = self.rooms.borrow();
            let members = rooms.members(j.app, &j.channel);
            if members.len() > raw::MAX_ANNOUNCED_MEMBERS {
                (String::new(), None)
            } else {
                let list = raw::member_list(members.iter().copied());
                let joined = added.then(|| {
                    raw::member_event("system:member_joined", &member, members.into_iter())
                });
                (list, joined)
            }
        };
        if let Some(json) = joined {
            let listeners = raw::presence_listeners(&j.channel);
            self.publish_on_node(
                j.app,
                &listeners,
                frame::text_frame(json.as_bytes()),
                Some(j.socket_id),
            );
        }
        reply.data = Some(list);
        self.route(j.from, BusMessage::PresenceJoined(reply));
    }

    /// Joiner side: subscribe the connection, or refuse when the channel is full.
    pub fn on_presence_joined(&self, j: PresenceJoined) {
        let Some(key) = self.conn_of(j.socket_id) else {
            // The connection left while the join travelled: undo it.
            if j.data.is_some() {
                self.presence_leave(j.app, &j.channel, j.socket_id, &j.user_id);
            }
            return;
        };
        let Some(data) = j.data else {
            let limit = self.app(j.app).max_presence_members;
            let msg = format!("Presence channel is full: at most {limit} members");
            self.send_text(
                key,
                &outbound::subscription_error(&j.channel, "LimitReached", &msg, 403),
            );
            return;
        };
        if !raw::is_internal(&j.channel) {
            // Other subscriptions may have filled the connection while the join travelled.
            let cap = self.app(j.app).max_channels_per_connection;
            let full = self
                .conns
                .borrow()
                .get(key)
                .is_some_and(|c| session::at_channel_limit(c, &j.channel, cap));
            if full {
                self.presence_leave(j.app, &j.channel, j.socket_id, &j.user_id);
                return session::channel_limit_reached(self, key, &j.channel, cap);
            }
        }
        if let Some(conn) = self.conns.borrow_mut().get_mut(key) {
            if conn.presence_id(&j.channel).is_none() {
                conn.presence.push(Presence {
                    channel: Box::from(&*j.channel),
                    user_id: j.user_id.into(),
                    user_id_json: j.user_id_json.into(),
                });
            }
        }
        if raw::is_internal(&j.channel) {
            // Raw connections are subscribed already; a `presence=1` one gets the member list.
            let listening = self
                .conns
                .borrow()
                .get(key)
                .is_some_and(|c| c.is_subscribed(&raw::presence_listeners(&j.channel)));
            if listening && !data.is_empty() {
                self.send(key, frame::text_frame(data.as_bytes()));
            }
            return;
        }
        let cached = j.channel.starts_with("presence-cache-");
        self.confirm_subscription(key, &j.channel, &data, cached);
    }

    /// Tells the owner shard that a connection left a presence channel.
    pub fn presence_leave(&self, app: u32, channel: &str, socket_id: SocketId, user_id: &str) {
        let leave = PresenceLeave {
            app,
            channel: Arc::from(channel),
            socket_id,
            user_id: user_id.to_string(),
        };
        match self.owner(app, channel) {
            o if o == self.id() => self.on_presence_leave(leave),
            o => self.bus.send(o, BusMessage::PresenceLeave(leave)),
        }
    }

    /// Owner side of a leave: `member_removed` when the user's last connection left.
    pub fn on_presence_leave(&self, l: PresenceLeave) {
        let removed = self
            .rooms
            .borrow_mut()
            .leave(l.app, &l.channel, l.socket_id, &l.user_id);
        if let Some(member) = removed {
            if raw::is_internal(&l.channel) {
                let rooms = self.rooms.borrow();
                let members = rooms.members(l.app, &l.channel);
                if members.len() <= raw::MAX_ANNOUNCED_MEMBERS {
                    let json =
                        raw::member_event("system:member_left", &member, members.into_iter());
                    drop(rooms);
                    let listeners = raw::presence_listeners(&l.channel);
                    self.publish_on_node(
                        l.app,
                        &listeners,
                        frame::text_frame(json.as_bytes()),
                        None,
                    );
                }
                return;
            }
            self.member_removed_hook(l.app, &l.channel, &member.id);
            let data = presence::member_removed_data(&member);
            let json =
                outbound::internal_event("pusher_internal:member_removed", &l.channel, &data);
            let json = self.app(l.app).event_prefix.outbound(json);
            self.publish_on_node(l.app, &l.channel, frame::text_frame(json.as_bytes()), None);
        }
    }
}

/// The owner's answer to a join, without its outcome yet (`data`: none, i.e. refused).
fn join_reply(j: &PresenceJoin) -> PresenceJoined {
    PresenceJoined {
        app: j.app,
        channel: Arc::clone(&j.channel),
        socket_id: j.socket_id,
        user_id: j.member.id.clone(),
        user_id_json: j.member.id_json.clone(),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::owner_of;

    #[test]
    fn owner_is_stable_and_in_range() {
        for shards in 1..8 {
            for name in ["presence-a", "presence-b", "cache-x"] {
                let o = owner_of(0, name, shards);
                assert!(o < shards);
                assert_eq!(o, owner_of(0, name, shards));
            }
        }
        let spread: std::collections::HashSet<usize> = (0..64)
            .map(|i| owner_of(0, &format!("presence-{i}"), 4))
            .collect();
        assert_eq!(spread.len(), 4);
    }
}
