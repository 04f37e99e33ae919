//! Server → client events, rendered to JSON text exactly as the protocol's `data` rules say
//! (a string for channel events, an object for `pusher:error` and friends).

use serde::Serialize;
use serde_json::value::RawValue;

use super::codes::CloseCode;
use super::socket_id::SocketId;

#[derive(Serialize)]
struct Event<'a, D: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a RawValue>,
}

fn render<D: Serialize>(event: &str, channel: Option<&str>, data: D) -> String {
    let ev = Event {
        event,
        channel,
        data,
        user_id: None,
    };
    // Serializing these plain structs cannot fail.
    serde_json::to_string(&ev).unwrap_or_default()
}

/// `pusher:connection_established`.
pub fn connection_established(socket_id: SocketId, activity_timeout: u32) -> String {
    let inner =
        format!("{{\"socket_id\":\"{socket_id}\",\"activity_timeout\":{activity_timeout}}}");
    render("pusher:connection_established", None, inner)
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: Option<u16>,
    message: &'a str,
}

/// `pusher:error` with a code (or null) and message, optionally about one channel.
pub fn error(code: Option<u16>, message: &str, channel: Option<&str>) -> String {
    render("pusher:error", channel, ErrorData { code, message })
}

/// `pusher:error` preceding a close with `code`.
pub fn close_error(code: CloseCode, message: &str) -> String {
    error(Some(code.code()), message, None)
}

/// `pusher:pong`.
pub fn pong() -> &'static str {
    r#"{"event":"pusher:pong","data":{}}"#
}

/// `pusher:ping` (server keep-alive probe).
pub fn ping() -> &'static str {
    r#"{"event":"pusher:ping","data":{}}"#
}

/// `pusher_internal:subscription_succeeded` with the `data` string (`"{}"` or presence data).
pub fn subscription_succeeded(channel: &str, data: &str) -> String {
    render(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        data,
    )
}

#[derive(Serialize)]
struct SubscriptionErrorData<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    error: &'a str,
    status: u16,
}

/// `pusher:subscription_error` (`type` is e.g. `AuthError`, `InvalidChannel`).
pub fn subscription_error(channel: &str, kind: &str, error: &str, status: u16) -> String {
    render(
        "pusher:subscription_error",
        Some(channel),
        SubscriptionErrorData {
            kind,
            error,
            status,
        },
    )
}

/// An event whose `data` is a string, e.g. `pusher_internal:member_added`.
pub fn internal_event(event: &str, channel: &str, data: &str) -> String {
    render(event, Some(channel), data)
}

/// `pusher:cache_miss`.
pub fn cache_miss(channel: &str) -> String {
    render("pusher:cache_miss", Some(channel), "{}")
}

#[derive(Serialize)]
struct SigninData<'a> {
    user_data: &'a str,
}

/// `pusher:signin_success` echoing the exact `user_data` string.
pub fn signin_success(user_data: &str) -> String {
    render("pusher:signin_success", None, SigninData { user_data })
}

/// `pusher_internal:watchlist_events` with an `online` and/or `offline` entry (empty ones omitted).
pub fn watchlist_events(online: &[String], offline: &[String]) -> String {
    let mut events = Vec::new();
    for (name, ids) in [("online", online), ("offline", offline)] {
        if !ids.is_empty() {
            events.push(serde_json::json!({ "name": name, "user_ids": ids }));
        }
    }
    render(
        "pusher_internal:watchlist_events",
        None,
        serde_json::json!({ "events": events }),
    )
}

/// A channel event: `{"event":E,"channel":C,"data":D}` (+ `user_id` for presence client events).
pub fn channel_event(event: &str, channel: &str, data: &str, user_id: Option<&RawValue>) -> String {
    let ev = Event {
        event,
        channel: Some(channel),
        data,
        user_id,
    };
    serde_json::to_string(&ev).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn watchlist_events_omit_empty_lists() {
        assert_eq!(
            watchlist_events(&["1".into()], &[]),
            r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["1"]}]}}"#
        );
        assert_eq!(
            watchlist_events(&["1".into()], &["2".into()]),
            r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["1"]},{"name":"offline","user_ids":["2"]}]}}"#
        );
    }

    #[test]
    fn connection_established_data_is_a_string() {
        let s = connection_established(SocketId::new(12, 3, 0, 1), 120);
        assert_eq!(
            s,
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.3\",\"activity_timeout\":120}"}"#
        );
    }

    #[test]
    fn error_data_is_an_object() {
        assert_eq!(
            error(None, "bad", None),
            r#"{"event":"pusher:error","data":{"code":null,"message":"bad"}}"#
        );
        assert_eq!(
            error(Some(4301), "slow down", Some("private-a")),
            r#"{"event":"pusher:error","channel":"private-a","data":{"code":4301,"message":"slow down"}}"#
        );
    }

    #[test]
    fn channel_events_escape_their_data_string() {
        assert_eq!(
            channel_event("my-event", "ch", r#"{"a":"b"}"#, None),
            r#"{"event":"my-event","channel":"ch","data":"{\"a\":\"b\"}"}"#
        );
        assert_eq!(
            channel_event("client-x", "presence-r", "1", Some(&raw("\"7\""))),
            r#"{"event":"client-x","channel":"presence-r","data":"1","user_id":"7"}"#
        );
        assert_eq!(
            channel_event("client-x", "presence-r", "1", Some(&raw("7"))),
            r#"{"event":"client-x","channel":"presence-r","data":"1","user_id":7}"#
        );
        assert_eq!(
            cache_miss("cache-a"),
            r#"{"event":"pusher:cache_miss","channel":"cache-a","data":"{}"}"#
        );
        assert_eq!(
            signin_success(r#"{"id":"1"}"#),
            r#"{"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"1\"}"}}"#
        );
        assert_eq!(
            subscription_succeeded("c", "{}"),
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}"}"#
        );
        assert_eq!(
            subscription_error("private-x", "AuthError", "no", 401),
            r#"{"event":"pusher:subscription_error","channel":"private-x","data":{"type":"AuthError","error":"no","status":401}}"#
        );
    }
}
