//! Presence rooms as their owner shard keeps them: members per user id (insertion-ordered),
//! each with the set of connections it has in the channel. Pure state; the bus and fan-out
//! around it live in the shard's `membership` module.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::protocol::presence::{self, Member};
use crate::protocol::SocketId;

/// One presence channel's members.
#[derive(Debug, Default)]
struct Room {
    members: IndexMap<String, (Member, Vec<SocketId>)>,
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// Admitted. `data` is the member list (with the joiner); `added` is set when the user is new.
    Admitted {
        /// The `subscription_succeeded` data string.
        data: String,
        /// Whether this join added a new member (so `member_added` is due).
        added: bool,
    },
    /// A new user would exceed the member limit.
    Full,
}

/// All presence rooms owned by one shard.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<(u32, Box<str>), Room>,
}

impl Rooms {
    /// Adds connection `socket` as `member`; `limit` caps distinct users.
    pub fn join(
        &mut self,
        app: u32,
        channel: &str,
        socket: SocketId,
        member: Member,
        limit: usize,
    ) -> Joined {
        let room = self.rooms.entry((app, channel.into())).or_default();
        let added = match room.members.get_mut(&member.id) {
            Some((_, sockets)) => {
                if !sockets.contains(&socket) {
                    sockets.push(socket);
                }
                false
            }
            None => {
                if room.members.len() >= limit {
                    if room.members.is_empty() {
                        self.rooms.remove(&(app, Box::from(channel)));
                    }
                    return Joined::Full;
                }
                room.members
                    .insert(member.id.clone(), (member, vec![socket]));
                true
            }
        };
        let data = presence::presence_data(room.members.values().map(|(m, _)| m));
        Joined::Admitted { data, added }
    }

    /// Removes connection `socket` of `user_id`; returns the member when its last connection left.
    pub fn leave(
        &mut self,
        app: u32,
        channel: &str,
        socket: SocketId,
        user_id: &str,
    ) -> Option<Member> {
        let key = (app, Box::from(channel));
        let room = self.rooms.get_mut(&key)?;
        let (_, sockets) = room.members.get_mut(user_id)?;
        sockets.retain(|s| *s != socket);
        if !sockets.is_empty() {
            return None;
        }
        let (member, _) = room.members.shift_remove(user_id)?;
        if room.members.is_empty() {
            self.rooms.remove(&key);
        }
        Some(member)
    }

    /// The member with this id, if present.
    pub fn member(&self, app: u32, channel: &str, user_id: &str) -> Option<&Member> {
        let room = self.rooms.get(&(app, Box::from(channel)))?;
        room.members.get(user_id).map(|(m, _)| m)
    }

    /// Members of a channel, in join order.
    pub fn members(&self, app: u32, channel: &str) -> Vec<&Member> {
        self.rooms
            .get(&(app, Box::from(channel)))
            .map(|r| r.members.values().map(|(m, _)| m).collect())
            .unwrap_or_default()
    }

    /// User ids of a channel, in join order.
    pub fn users(&self, app: u32, channel: &str) -> Vec<String> {
        self.rooms
            .get(&(app, Box::from(channel)))
            .map(|r| r.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Distinct users per channel of an app, for channels starting with `prefix`.
    pub fn user_counts(&self, app: u32, prefix: Option<&str>) -> Vec<(String, usize)> {
        self.rooms
            .iter()
            .filter(|((a, name), _)| *a == app && prefix.is_none_or(|p| name.starts_with(p)))
            .map(|((_, name), room)| (name.to_string(), room.members.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::presence::parse_channel_data;

    fn m(id: &str) -> Member {
        parse_channel_data(&format!(r#"{{"user_id":"{id}"}}"#), 1024).unwrap()
    }

    fn sid(n: u64) -> SocketId {
        SocketId::new(1, n, 0, 1)
    }

    #[test]
    fn members_are_per_user() {
        let mut r = Rooms::default();
        assert!(matches!(
            r.join(0, "presence-a", sid(1), m("u1"), 100),
            Joined::Admitted { added: true, .. }
        ));
        assert!(matches!(
            r.join(0, "presence-a", sid(2), m("u1"), 100),
            Joined::Admitted { added: false, .. }
        ));
        assert_eq!(r.users(0, "presence-a"), vec!["u1"]);
        assert_eq!(r.leave(0, "presence-a", sid(1), "u1"), None);
        assert_eq!(
            r.leave(0, "presence-a", sid(2), "u1").map(|m| m.id),
            Some("u1".into())
        );
        assert!(r.users(0, "presence-a").is_empty());
        assert!(r.user_counts(0, None).is_empty());
    }

    #[test]
    fn limit_counts_distinct_users_only() {
        let mut r = Rooms::default();
        assert!(matches!(
            r.join(0, "presence-a", sid(1), m("u1"), 1),
            Joined::Admitted { .. }
        ));
        assert_eq!(r.join(0, "presence-a", sid(2), m("u2"), 1), Joined::Full);
        assert!(matches!(
            r.join(0, "presence-a", sid(3), m("u1"), 1),
            Joined::Admitted { added: false, .. }
        ));
        assert_eq!(
            r.user_counts(0, Some("presence-")),
            vec![("presence-a".to_string(), 1)]
        );
    }

    #[test]
    fn first_seen_user_info_is_kept() {
        let mut r = Rooms::default();
        let a = parse_channel_data(r#"{"user_id":"u","user_info":{"v":1}}"#, 1024).unwrap();
        let b = parse_channel_data(r#"{"user_id":"u","user_info":{"v":2}}"#, 1024).unwrap();
        r.join(0, "presence-a", sid(1), a, 10);
        let Joined::Admitted { data, .. } = r.join(0, "presence-a", sid(2), b, 10) else {
            panic!()
        };
        assert!(data.contains(r#"{"v":1}"#));
    }
}
