//! The Pusher inbound message parser (`protocol::inbound::parse_as`, both flavours) and what a
//! connection does next with its fields: channel names, presence `channel_data`, sign-in
//! `user_data`, and the JSON the server renders from them. The input is one text message.
//!
//! Invariants:
//! * no panic (on any bytes; the checks below apply to UTF-8 input, as text frames are);
//! * an accepted message is a JSON object whose string `event` picks the variant; a client
//!   event's `channel` and `data` are the ones sent (`data`: a string as sent, anything else
//!   as compact JSON);
//! * a channel name is accepted only if it obeys the name rules, and its kind follows its
//!   prefix;
//! * a presence member or signed-in user is accepted only within the id and size limits;
//! * every JSON the server renders from client-supplied text (errors, subscription errors,
//!   member events, presence data, relayed client events, sign-in echo) is valid JSON that
//!   carries those texts back unchanged.

#![no_main]

use std::collections::HashMap;

use corecast::protocol::flavour::Flavour;
use corecast::protocol::inbound::{parse_as, ClientMessage};
use corecast::protocol::presence::{self, Member, MAX_USER_ID};
use corecast::protocol::user::{parse_user_data, MAX_WATCHLIST};
use corecast::protocol::{outbound, ChannelError, ChannelKind, ChannelName};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Value;

/// The server's default `CORECAST_MAX_CHANNEL_NAME`, and a short limit.
const NAME_LIMITS: [usize; 2] = [200, 16];
/// `user_info` limit the server applies to presence members.
const MAX_USER_INFO: usize = 1024;

fn is_json(s: &str) -> bool {
    serde_json::from_str::<&RawValue>(s).is_ok()
}

/// Parses rendered JSON (which the server built, so it must parse) into a value.
fn rendered(json: &str) -> Value {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => panic!("server rendered invalid JSON ({e}): {json}"),
    }
}

fn check_channel(name: &str) {
    for max in NAME_LIMITS {
        match ChannelName::parse(name, max) {
            Err(ChannelError::Empty) => assert!(name.is_empty()),
            Err(ChannelError::TooLong(m)) => assert!(m == max && name.len() > max),
            Err(ChannelError::InvalidCharacters) => assert!(!name.is_empty() && name.len() <= max),
            Ok(c) => {
                assert_eq!(c.name, name);
                assert!(!name.is_empty() && name.len() <= max);
                let (kind, cached) = if let Some(user) = name.strip_prefix("#server-to-user-") {
                    assert!(!user.is_empty());
                    assert_eq!(c.server_to_user_id(), Some(user));
                    (ChannelKind::ServerToUser, false)
                } else {
                    assert!(name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b)));
                    let (kind, rest) = if let Some(r) = name.strip_prefix("private-encrypted-") {
                        (ChannelKind::Encrypted, r)
                    } else if let Some(r) = name.strip_prefix("private-") {
                        (ChannelKind::Private, r)
                    } else if let Some(r) = name.strip_prefix("presence-") {
                        (ChannelKind::Presence, r)
                    } else {
                        (ChannelKind::Public, name)
                    };
                    (kind, rest.starts_with("cache-"))
                };
                assert_eq!((c.kind, c.cached), (kind, cached), "{name}");
                assert_eq!(
                    c.needs_auth(),
                    matches!(
                        kind,
                        ChannelKind::Private | ChannelKind::Encrypted | ChannelKind::Presence
                    )
                );
                assert_eq!(c.is_internal(), kind == ChannelKind::ServerToUser);
            }
        }
    }
    let err = outbound::subscription_error(name, "InvalidChannel", "e", 400);
    assert_eq!(rendered(&err)["channel"], name);
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Added {
    user_id: Box<RawValue>,
    user_info: Box<RawValue>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceData {
    presence: PresenceSet,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceSet {
    ids: Vec<Box<RawValue>>,
    hash: HashMap<String, Box<RawValue>>,
    count: usize,
}

fn check_member(m: &Member) {
    assert!(!m.id.is_empty() && m.id.chars().count() <= MAX_USER_ID);
    assert!(m.info_json.len() <= MAX_USER_INFO);
    assert!(is_json(&m.info_json), "user_info {:?}", m.info_json);
    match serde_json::from_str::<Value>(&m.id_json) {
        Ok(Value::String(s)) => assert_eq!(s, m.id),
        Ok(Value::Number(n)) => assert_eq!(n.to_string(), m.id),
        other => panic!("user_id JSON {:?} is {other:?}", m.id_json),
    }
    let added = presence::member_added_data(m);
    let added: Added = serde_json::from_str(&added).unwrap_or_else(|e| panic!("{e}: {added}"));
    assert_eq!(added.user_id.get(), m.id_json);
    assert_eq!(added.user_info.get(), m.info_json);
    assert_eq!(
        rendered(&presence::member_removed_data(m))["user_id"],
        rendered(&m.id_json)
    );
    let data = presence::presence_data([m].into_iter());
    let set: PresenceData = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
    assert_eq!(set.presence.count, 1);
    assert_eq!(set.presence.ids.len(), 1);
    assert_eq!(set.presence.ids[0].get(), m.id_json);
    assert_eq!(
        set.presence.hash.get(&m.id).map(|r| r.get()),
        Some(m.info_json.as_str())
    );
    let ok = outbound::subscription_succeeded("presence-x", &data);
    assert_eq!(rendered(&ok)["data"], data.as_str());
    // A presence client event carries the sender's id as raw JSON.
    let id = RawValue::from_string(m.id_json.clone()).expect("user_id JSON is valid");
    let ev = outbound::channel_event("client-x", "presence-x", "{}", Some(&id));
    assert_eq!(rendered(&ev)["user_id"], rendered(&m.id_json));
}

fn check_signin(user_data: &str) {
    let echo = outbound::signin_success(user_data);
    assert_eq!(rendered(&echo)["data"]["user_data"], user_data);
    let Ok(user) = parse_user_data(user_data) else {
        return;
    };
    assert!(!user.id.is_empty() && user.id.chars().count() <= MAX_USER_ID);
    assert!(user.watchlist.len() <= MAX_WATCHLIST);
    if let Some(info) = &user.info_json {
        assert!(is_json(info));
    }
    let online = outbound::watchlist_events(&user.watchlist, &[]);
    rendered(&online);
    // A signed-in user joining a presence channel without channel_data.
    let id_json = Value::from(user.id.as_str()).to_string();
    if let Ok(m) = presence::member(
        user.id.clone(),
        id_json,
        user.info_json.as_deref(),
        MAX_USER_INFO,
    ) {
        check_member(&m);
    }
}

/// Checks a parsed message against an independent reading of the same JSON.
fn check_message(text: &[u8], flavour: Flavour, msg: &ClientMessage) {
    let obj: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(text).expect("accepted message is a JSON object");
    let event = serde_json::from_str::<String>(obj["event"].get()).expect("event is a string");
    let mapped = flavour.inbound(&event);
    let want_ignored = mapped.starts_with("pusher:") || mapped.starts_with("pusher_internal:");
    match (mapped.as_ref(), msg) {
        ("pusher:ping", ClientMessage::Ping) | ("pusher:pong", ClientMessage::Pong) => {}
        ("pusher:subscribe", ClientMessage::Subscribe(_))
        | ("pusher:unsubscribe", ClientMessage::Unsubscribe { .. })
        | ("pusher:signin", ClientMessage::Signin { .. }) => {
            // `data` is an object, or a string holding one.
            let d = obj.get("data").expect("data present").get();
            let inner = match serde_json::from_str::<String>(d) {
                Ok(s) if d.starts_with('"') => s,
                _ => d.to_string(),
            };
            let fields = serde_json::from_str::<HashMap<String, Box<RawValue>>>(&inner);
            assert!(fields.is_ok(), "{mapped} data is not an object: {d}");
        }
        (_, ClientMessage::Ignored) => assert!(want_ignored, "{mapped} ignored"),
        (
            name,
            ClientMessage::ClientEvent {
                event,
                channel,
                data,
            },
        ) => {
            assert!(!want_ignored, "{name} taken as a client event");
            assert_eq!(event, name);
            let sent_channel = obj
                .get("channel")
                .and_then(|c| serde_json::from_str::<Option<String>>(c.get()).ok())
                .flatten();
            assert_eq!(channel, &sent_channel);
            match obj.get("data").map(|d| d.get()) {
                None => assert_eq!(data, ""),
                Some(raw) => match serde_json::from_str::<Value>(raw) {
                    Ok(Value::String(s)) => assert_eq!(data, &s),
                    Ok(v) => assert_eq!(data, &v.to_string()),
                    Err(_) => assert!(is_json(data)),
                },
            }
            let json = outbound::channel_event(event, channel.as_deref().unwrap_or(""), data, None);
            let back = rendered(&json);
            assert_eq!(back["event"], event.as_str());
            assert_eq!(back["data"], data.as_str());
            rendered(&flavour.outbound(json));
        }
        (name, other) => panic!("{name} parsed as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if std::str::from_utf8(data).is_err() {
        // Text frames are UTF-8 (the frame reader refuses others with 1007); the parser must
        // still not panic on other bytes.
        for flavour in [Flavour::Pusher, Flavour::Broadcastt] {
            let _ = parse_as(data, flavour);
        }
        return;
    }
    for flavour in [Flavour::Pusher, Flavour::Broadcastt] {
        let msg = match parse_as(data, flavour) {
            Ok(msg) => msg,
            Err(e) => {
                let text = e.to_string();
                let json = outbound::error(None, &text, None);
                assert_eq!(rendered(&json)["data"]["message"], text.as_str());
                rendered(&flavour.outbound(json));
                continue;
            }
        };
        check_message(data, flavour, &msg);
        match msg {
            ClientMessage::Subscribe(req) => {
                check_channel(&req.channel);
                if let Some(d) = &req.channel_data {
                    if let Ok(m) = presence::parse_channel_data(d, MAX_USER_INFO) {
                        check_member(&m);
                    }
                }
            }
            ClientMessage::Unsubscribe { channel } => check_channel(&channel),
            ClientMessage::Signin { user_data, .. } => check_signin(&user_data),
            ClientMessage::ClientEvent {
                channel: Some(c), ..
            } => check_channel(&c),
            _ => {}
        }
    }
});
