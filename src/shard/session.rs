//! What a Pusher connection's messages do: ping, subscribe, unsubscribe, client events. Each
//! handler reads the message, updates the shard and queues replies; nothing here touches a socket.

use std::rc::Rc;
use std::time::Instant;

use super::{ConnKey, Shard};
use crate::auth;
use crate::protocol::codes::{CLIENT_EVENT_RATE_LIMIT, CLIENT_EVENT_REJECTED};
use serde_json::value::RawValue;

use crate::protocol::flavour::Flavour;
use crate::protocol::inbound::{self, ClientMessage, SubscribeRequest};
use crate::protocol::{outbound, presence, ChannelKind, ChannelName};
use crate::ws::frame;

/// Longest event name accepted.
const MAX_EVENT_NAME: usize = 200;
/// Largest presence `user_info`, in bytes.
const MAX_USER_INFO: usize = 1024;

/// Handles one text message from a Pusher connection.
pub fn on_text(shard: &Rc<Shard>, key: ConnKey, text: &[u8]) {
    let Some(app) = shard.conns.borrow().get(key).map(|c| c.app) else {
        return;
    };
    let flavour = shard.app(app).event_prefix;
    match inbound::parse_as(text, flavour) {
        Err(e) => shard.send_text(key, &outbound::error(None, &e.to_string(), None)),
        Ok(ClientMessage::Ping) if flavour == Flavour::Pusher => shard.send(key, pong_frame()),
        Ok(ClientMessage::Ping) => shard.send_text(key, outbound::pong()),
        Ok(ClientMessage::Pong) | Ok(ClientMessage::Ignored) => {}
        Ok(ClientMessage::Subscribe(req)) => subscribe(shard, key, req),
        Ok(ClientMessage::Unsubscribe { channel }) => shard.drop_subscription(key, &channel),
        Ok(ClientMessage::Signin { auth, user_data }) => shard.signin(key, &auth, &user_data),
        Ok(ClientMessage::ClientEvent {
            event,
            channel,
            data,
        }) => client_event(shard, key, &event, channel.as_deref(), &data),
    }
}

fn pong_frame() -> bytes::Bytes {
    thread_local! {
        static PONG: bytes::Bytes = frame::text_frame(outbound::pong().as_bytes());
    }
    PONG.with(Clone::clone)
}

fn sub_error(shard: &Shard, key: ConnKey, channel: &str, kind: &str, error: &str, status: u16) {
    shard.send_text(
        key,
        &outbound::subscription_error(channel, kind, error, status),
    );
}

fn subscribe(shard: &Rc<Shard>, key: ConnKey, req: SubscribeRequest) {
    let max = shard.config.settings.max_channel_name as usize;
    let channel = match ChannelName::parse(&req.channel, max) {
        Ok(c) => c,
        Err(e) => {
            return sub_error(
                shard,
                key,
                &req.channel,
                "InvalidChannel",
                &e.to_string(),
                400,
            );
        }
    };
    let (app, socket_id, user, full) = {
        let conns = shard.conns.borrow();
        let Some(conn) = conns.get(key) else { return };
        let a = shard.app(conn.app);
        (
            conn.app,
            conn.socket_id,
            conn.user.clone(),
            at_channel_limit(conn, channel.name, a.max_channels_per_connection),
        )
    };
    let a = shard.app(app);
    if full {
        return channel_limit_reached(shard, key, channel.name, a.max_channels_per_connection);
    }
    let sid = socket_id.to_string();
    let auth = req.auth.as_deref().unwrap_or("");
    match channel.kind {
        ChannelKind::Public => {}
        ChannelKind::Private | ChannelKind::Encrypted => {
            if let Err(e) =
                auth::verify_channel_auth(&a.key, &a.secret, &sid, channel.name, None, auth)
            {
                return sub_error(shard, key, channel.name, "AuthError", &e.to_string(), 401);
            }
        }
        ChannelKind::Presence => {
            let data = req.channel_data.as_deref();
            if let Err(e) =
                auth::verify_channel_auth(&a.key, &a.secret, &sid, channel.name, data, auth)
            {
                return sub_error(shard, key, channel.name, "AuthError", &e.to_string(), 401);
            }
            let member = match (data, user) {
                (Some(d), _) => presence::parse_channel_data(d, MAX_USER_INFO),
                (None, Some(u)) => presence::member(
                    u.id.clone(),
                    serde_json::Value::from(u.id.as_str()).to_string(),
                    u.info_json.as_deref(),
                    MAX_USER_INFO,
                ),
                (None, None) => {
                    let msg = "channel_data is required unless the connection is signed in";
                    return sub_error(shard, key, channel.name, "InvalidChannelData", msg, 400);
                }
            };
            match member {
                Ok(m) => return shard.presence_join(app, channel.name, socket_id, m),
                Err(e) => {
                    return sub_error(
                        shard,
                        key,
                        channel.name,
                        "InvalidChannelData",
                        &e.to_string(),
                        400,
                    );
                }
            }
        }
        ChannelKind::ServerToUser => {
            if user.as_ref().map(|u| u.id.as_str()) != channel.server_to_user_id() {
                let msg = "Not signed in as this user";
                return sub_error(shard, key, channel.name, "AuthError", msg, 403);
            }
        }
    }
    shard.confirm_subscription(key, channel.name, "{}", channel.cached);
}

/// Whether subscribing `conn` to `channel` would pass `cap` channels (a channel it already
/// holds does not count again).
pub(super) fn at_channel_limit(conn: &super::Conn, channel: &str, cap: u32) -> bool {
    conn.channels.len() >= cap as usize && !conn.is_subscribed(channel)
}

/// Refuses a subscription that would pass the app's channel limit per connection.
pub(super) fn channel_limit_reached(shard: &Shard, key: ConnKey, channel: &str, cap: u32) {
    let msg = format!(
        "Channel limit reached: a connection may be subscribed to at most {cap} channels; \
         unsubscribe from one first"
    );
    sub_error(shard, key, channel, "LimitReached", &msg, 403);
}

fn client_event(shard: &Rc<Shard>, key: ConnKey, event: &str, channel: Option<&str>, data: &str) {
    let reject = |code: u16, msg: &str| {
        shard.send_text(key, &outbound::error(Some(code), msg, channel));
    };
    if !event.starts_with("client-") {
        return reject(
            CLIENT_EVENT_REJECTED,
            &format!(
                "Unknown event {event:?}: clients may only send pusher: events and client- events"
            ),
        );
    }
    let Some(app) = shard.conns.borrow().get(key).map(|c| c.app) else {
        return;
    };
    let a = shard.app(app);
    if !a.enable_client_messages {
        return reject(
            CLIENT_EVENT_REJECTED,
            "Client events are not enabled for this app",
        );
    }
    let Some(channel_name) = channel else {
        return reject(
            CLIENT_EVENT_REJECTED,
            "Client event rejected: no channel given",
        );
    };
    let max = shard.config.settings.max_channel_name as usize;
    let Ok(parsed) = ChannelName::parse(channel_name, max) else {
        return reject(
            CLIENT_EVENT_REJECTED,
            "Client event rejected: invalid channel name",
        );
    };
    if !parsed.allows_client_events() {
        return reject(
            CLIENT_EVENT_REJECTED,
            "Client events are only allowed on private and presence channels",
        );
    }
    if event.len() > MAX_EVENT_NAME {
        return reject(
            CLIENT_EVENT_REJECTED,
            "Client event rejected: event name longer than 200 characters",
        );
    }
    if data.len() > a.max_payload_bytes {
        return reject(
            CLIENT_EVENT_REJECTED,
            &format!(
                "Client event rejected: data larger than {} bytes",
                a.max_payload_bytes
            ),
        );
    }
    let (socket_id, user_id, allowed) = {
        let mut conns = shard.conns.borrow_mut();
        let Some(conn) = conns.get_mut(key) else {
            return;
        };
        if !conn.is_subscribed(channel_name) {
            drop(conns);
            return reject(
                CLIENT_EVENT_REJECTED,
                "Client event rejected: not subscribed to the channel",
            );
        }
        let user_id = conn
            .presence_id(channel_name)
            .and_then(|p| RawValue::from_string(p.user_id_json.to_string()).ok());
        let allowed = conn.take_token(a.max_client_events_per_second, Instant::now());
        (conn.socket_id, user_id, allowed)
    };
    if !allowed {
        return reject(
            CLIENT_EVENT_RATE_LIMIT,
            "Client event rejected due to rate limit",
        );
    }
    let json = outbound::channel_event(event, channel_name, data, user_id.as_deref());
    shard.publish(
        app,
        channel_name,
        frame::text_frame(json.as_bytes()),
        Some(socket_id),
    );
    shard.client_event_hook(key, app, channel_name, event, data);
}
