//! Webhook events as records: the seven kinds of webhooks.md §2, the set of kinds a webhook (or
//! an app) wants, and the channel name a webhook reports. Pure; serialized once per event.

use std::borrow::Cow;

use serde::Serialize;

use crate::protocol::raw;

/// One webhook event, serialized exactly as a receiver sees it in `events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Event {
    /// The channel's subscription count went 0 → 1 (on the node).
    ChannelOccupied {
        /// Channel name as reported.
        channel: String,
    },
    /// The channel's subscription count went to 0.
    ChannelVacated {
        /// Channel name as reported.
        channel: String,
    },
    /// A user's first connection joined a presence channel.
    MemberAdded {
        /// Channel name.
        channel: String,
        /// User id (string form).
        user_id: String,
    },
    /// A user's last connection left a presence channel.
    MemberRemoved {
        /// Channel name.
        channel: String,
        /// User id (string form).
        user_id: String,
    },
    /// An accepted client event.
    ClientEvent {
        /// Channel name.
        channel: String,
        /// Event name (`client-…`).
        event: String,
        /// The data string delivered to subscribers.
        data: String,
        /// Sender's socket id.
        socket_id: String,
        /// Sender's user id, on presence channels only.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// A subscription to a cache channel found no cached value.
    CacheMiss {
        /// Channel name.
        channel: String,
    },
    /// The channel's subscription count changed.
    SubscriptionCount {
        /// Channel name.
        channel: String,
        /// Subscriptions on the node.
        subscription_count: u64,
    },
}

/// The kind of an [`Event`] (its `name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `channel_occupied`.
    ChannelOccupied,
    /// `channel_vacated`.
    ChannelVacated,
    /// `member_added`.
    MemberAdded,
    /// `member_removed`.
    MemberRemoved,
    /// `client_event`.
    ClientEvent,
    /// `cache_miss`.
    CacheMiss,
    /// `subscription_count`.
    SubscriptionCount,
}

impl EventKind {
    /// Every kind, in the spec's order.
    pub const ALL: [EventKind; 7] = [
        EventKind::ChannelOccupied,
        EventKind::ChannelVacated,
        EventKind::MemberAdded,
        EventKind::MemberRemoved,
        EventKind::ClientEvent,
        EventKind::CacheMiss,
        EventKind::SubscriptionCount,
    ];

    /// The event's `name` on the wire and in `event_types`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ChannelOccupied => "channel_occupied",
            EventKind::ChannelVacated => "channel_vacated",
            EventKind::MemberAdded => "member_added",
            EventKind::MemberRemoved => "member_removed",
            EventKind::ClientEvent => "client_event",
            EventKind::CacheMiss => "cache_miss",
            EventKind::SubscriptionCount => "subscription_count",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of event kinds (a bit mask: checking it is one branch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSet(u8);

impl EventSet {
    /// No kind.
    pub const NONE: EventSet = EventSet(0);

    /// Every kind.
    pub fn all() -> EventSet {
        EventKind::ALL.into_iter().collect()
    }

    /// Whether `kind` is in the set.
    pub fn has(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    pub fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }
}

impl FromIterator<EventKind> for EventSet {
    fn from_iter<I: IntoIterator<Item = EventKind>>(iter: I) -> Self {
        EventSet(iter.into_iter().fold(0, |m, k| m | k.bit()))
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::ChannelOccupied { .. } => EventKind::ChannelOccupied,
            Event::ChannelVacated { .. } => EventKind::ChannelVacated,
            Event::MemberAdded { .. } => EventKind::MemberAdded,
            Event::MemberRemoved { .. } => EventKind::MemberRemoved,
            Event::ClientEvent { .. } => EventKind::ClientEvent,
            Event::CacheMiss { .. } => EventKind::CacheMiss,
            Event::SubscriptionCount { .. } => EventKind::SubscriptionCount,
        }
    }

    /// The channel the event is about (as reported).
    pub fn channel(&self) -> &str {
        match self {
            Event::ChannelOccupied { channel }
            | Event::ChannelVacated { channel }
            | Event::MemberAdded { channel, .. }
            | Event::MemberRemoved { channel, .. }
            | Event::ClientEvent { channel, .. }
            | Event::CacheMiss { channel }
            | Event::SubscriptionCount { channel, .. } => channel,
        }
    }

    /// The event as a JSON object, exactly as it goes into a body.
    pub fn to_json(&self) -> String {
        // Serializing a plain enum of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Prefix of raw (`/v3/…`) channel names in webhooks.
pub const RAW_PREFIX: &str = "raw:";

/// The name a webhook reports for a subscriber-table channel: Pusher channels as they are, raw
/// channels as `raw:{channel_id}`; `None` for internal channels (`#server-to-user-…`, raw
/// presence listeners), which produce no webhooks.
pub fn reported_name(channel: &str) -> Option<Cow<'_, str>> {
    if !channel.starts_with('#') {
        return Some(Cow::Borrowed(channel));
    }
    let id = channel.strip_prefix(raw::INTERNAL_PREFIX)?;
    // Channel ids never contain ':'; the listeners' channel is `{internal}:presence`.
    (!id.contains(':')).then(|| Cow::Owned(format!("{RAW_PREFIX}{id}")))
}

/// Whether a reported name is a raw channel's.
pub fn is_raw(reported: &str) -> bool {
    // Pusher channel names cannot contain ':'.
    reported.starts_with(RAW_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_the_spec_shows() {
        let e = Event::MemberAdded {
            channel: "presence-your_channel_name".into(),
            user_id: "a_user_id".into(),
        };
        assert_eq!(
            e.to_json(),
            r#"{"name":"member_added","channel":"presence-your_channel_name","user_id":"a_user_id"}"#
        );
        let e = Event::ClientEvent {
            channel: "private-foobar".into(),
            event: "client-typing".into(),
            data: r#"{"t":1}"#.into(),
            socket_id: "1234.1234".into(),
            user_id: None,
        };
        assert_eq!(
            e.to_json(),
            r#"{"name":"client_event","channel":"private-foobar","event":"client-typing","data":"{\"t\":1}","socket_id":"1234.1234"}"#
        );
        let e = Event::SubscriptionCount {
            channel: "my-channel".into(),
            subscription_count: 7,
        };
        assert_eq!(
            e.to_json(),
            r#"{"name":"subscription_count","channel":"my-channel","subscription_count":7}"#
        );
        assert_eq!(e.kind().name(), "subscription_count");
        assert_eq!(e.channel(), "my-channel");
    }

    #[test]
    fn kinds_round_trip_and_sets_hold_them() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_name(k.name()), Some(k));
        }
        assert_eq!(EventKind::from_name("channel_existence"), None);
        let s: EventSet = [EventKind::CacheMiss, EventKind::ClientEvent]
            .into_iter()
            .collect();
        assert!(s.has(EventKind::CacheMiss) && !s.has(EventKind::MemberAdded));
        assert!(EventSet::NONE.is_empty());
        assert!(EventKind::ALL.into_iter().all(|k| EventSet::all().has(k)));
    }

    #[test]
    fn internal_channels_have_no_reported_name() {
        assert_eq!(reported_name("presence-a").as_deref(), Some("presence-a"));
        assert_eq!(reported_name("#raw:room-1").as_deref(), Some("raw:room-1"));
        assert_eq!(reported_name("#raw:room-1:presence"), None);
        assert_eq!(reported_name("#server-to-user-7"), None);
        assert!(is_raw("raw:room-1") && !is_raw("private-x"));
    }
}
