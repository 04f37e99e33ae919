//! The presence and client-event hooks: `member_added` / `member_removed` as the owner shard
//! decides them (with the vacate grace: a removal waits, and a return within the grace sends
//! neither), and `client_event` from the shard that received the client's frame.

use std::sync::Arc;

use super::Timer;
use crate::shard::{ConnKey, Shard};
use crate::webhooks::{Event, EventKind};

impl Shard {
    /// Owner side: a user's first connection joined a presence channel.
    pub fn member_added_hook(&self, app: u32, channel: &Arc<str>, user_id: &str) {
        let a = self.app(app);
        if !a.vacate_grace.is_zero() {
            let key = (app, Arc::clone(channel), Arc::from(user_id));
            if self.hooks.removing.borrow_mut().cancel(&key) {
                return;
            }
        }
        if a.webhook_events.has(EventKind::MemberAdded) {
            let event = Event::MemberAdded {
                channel: channel.to_string(),
                user_id: user_id.to_string(),
            };
            self.emit_webhook(app, event);
        }
    }

    /// Owner side: a user's last connection left a presence channel.
    pub fn member_removed_hook(&self, app: u32, channel: &Arc<str>, user_id: &str) {
        let a = self.app(app);
        let e = a.webhook_events;
        if !e.has(EventKind::MemberRemoved) && !e.has(EventKind::MemberAdded) {
            return;
        }
        if a.vacate_grace.is_zero() {
            return self.send_member_removed(app, channel, user_id);
        }
        let user_id: Arc<str> = Arc::from(user_id);
        let key = (app, Arc::clone(channel), Arc::clone(&user_id));
        let generation = self.hooks.removing.borrow_mut().start(key);
        let timer = Timer::Removed {
            app,
            channel: Arc::clone(channel),
            user_id,
            generation,
        };
        self.set_timer(a.vacate_grace, timer);
    }

    pub(super) fn send_member_removed(&self, app: u32, channel: &str, user_id: &str) {
        if !self.app(app).webhook_events.has(EventKind::MemberRemoved) {
            return;
        }
        let event = Event::MemberRemoved {
            channel: channel.to_string(),
            user_id: user_id.to_string(),
        };
        self.emit_webhook(app, event);
    }

    /// Receiving side: an accepted client event (its sender's user id on presence channels).
    pub fn client_event_hook(
        &self,
        key: ConnKey,
        app: u32,
        channel: &str,
        event: &str,
        data: &str,
    ) {
        if !self.app(app).webhook_events.has(EventKind::ClientEvent) {
            return;
        }
        let (socket_id, user_id) = {
            let conns = self.conns.borrow();
            let Some(conn) = conns.get(key) else { return };
            let user_id = conn.presence_id(channel).map(|p| p.user_id.to_string());
            (conn.socket_id.to_string(), user_id)
        };
        let event = Event::ClientEvent {
            channel: channel.to_string(),
            event: event.to_string(),
            data: data.to_string(),
            socket_id,
            user_id,
        };
        self.emit_webhook(app, event);
    }
}
