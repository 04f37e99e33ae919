//! Client-side Pusher protocol: parsing server frames and building client messages.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;

pub const CONNECTION_ESTABLISHED: &str = "pusher:connection_established";
pub const ERROR: &str = "pusher:error";
pub const PING: &str = "pusher:ping";
pub const SUBSCRIPTION_SUCCEEDED: &str = "pusher_internal:subscription_succeeded";
pub const SUBSCRIPTION_ERROR: &str = "pusher:subscription_error";
pub const MEMBER_ADDED: &str = "pusher_internal:member_added";
pub const MEMBER_REMOVED: &str = "pusher_internal:member_removed";

/// Reply to a server `pusher:ping`.
pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// One server → client frame, borrowing from the received text where possible.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// Parses a text frame. Errors on invalid JSON or a missing `event`.
pub fn parse_frame(text: &str) -> Result<Frame<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

impl<'a> Frame<'a> {
    /// `data` as a string: the unescaped content when it is a JSON string, else its raw JSON.
    pub fn data_str(&self) -> Option<Cow<'a, str>> {
        let raw = self.data?.get();
        if raw.starts_with('"') {
            if let Ok(s) = serde_json::from_str::<&'a str>(raw) {
                return Some(Cow::Borrowed(s));
            }
            serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(raw))
        }
    }

    /// `data` decoded as a JSON value, accepting both the double-encoded string form and an
    /// object.
    pub fn data_value(&self) -> Option<Value> {
        let raw = self.data?.get();
        if raw.starts_with('"') {
            let inner: String = serde_json::from_str(raw).ok()?;
            serde_json::from_str(&inner).ok()
        } else {
            serde_json::from_str(raw).ok()
        }
    }

    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }
}

/// `socket_id` from a `pusher:connection_established` frame.
pub fn socket_id(frame: &Frame<'_>) -> Option<String> {
    if frame.event != CONNECTION_ESTABLISHED {
        return None;
    }
    let v = frame.data_value()?;
    v.get("socket_id")?.as_str().map(str::to_string)
}

/// `code` of a `pusher:error` frame (`None` when absent or null).
pub fn error_code(frame: &Frame<'_>) -> Option<i64> {
    frame.data_value()?.get("code")?.as_i64()
}

/// `type` of a `pusher:subscription_error`, or a generic label.
pub fn subscription_error_type(frame: &Frame<'_>) -> String {
    frame
        .data_value()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Canonical string form of the `user_id` in a member_added / member_removed frame.
pub fn member_user_id(frame: &Frame<'_>) -> Option<String> {
    match frame.data_value()?.get("user_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `pusher:subscribe` message.
pub fn subscribe(channel: &str, auth: Option<&str>, channel_data: Option<&str>) -> String {
    let mut data = json!({ "channel": channel, "auth": auth.unwrap_or("") });
    if let (Some(cd), Some(obj)) = (channel_data, data.as_object_mut()) {
        obj.insert("channel_data".into(), Value::String(cd.to_string()));
    }
    json!({ "event": "pusher:subscribe", "data": data }).to_string()
}

/// `pusher:unsubscribe` message.
pub fn unsubscribe(channel: &str) -> String {
    json!({ "event": "pusher:unsubscribe", "data": { "channel": channel } }).to_string()
}

/// Client event with a string `data`.
pub fn client_event(event: &str, channel: &str, data: &str) -> String {
    json!({ "event": event, "channel": channel, "data": data }).to_string()
}

/// `channel_data` for a presence member without user_info.
pub fn presence_channel_data(user_id: &str) -> String {
    json!({ "user_id": user_id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connection_established() {
        let text = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123456.7890123\",\"activity_timeout\":120}"}"#;
        let f = parse_frame(text).expect("frame");
        assert_eq!(socket_id(&f).as_deref(), Some("123456.7890123"));
        assert!(f.channel().is_none());
    }

    #[test]
    fn parses_errors_in_object_and_string_form() {
        let f = parse_frame(r#"{"event":"pusher:error","data":{"code":4100,"message":"x"}}"#)
            .expect("frame");
        assert_eq!(error_code(&f), Some(4100));
        let f = parse_frame(r#"{"event":"pusher:error","data":"{\"code\":4301}"}"#).expect("frame");
        assert_eq!(error_code(&f), Some(4301));
        let f = parse_frame(r#"{"event":"pusher:error","data":{"code":null,"message":"x"}}"#)
            .expect("frame");
        assert_eq!(error_code(&f), None);
        let f = parse_frame(
            r#"{"event":"pusher:subscription_error","channel":"private-x","data":{"type":"AuthError","error":"bad","status":401}}"#,
        )
        .expect("frame");
        assert_eq!(subscription_error_type(&f), "AuthError");
    }

    #[test]
    fn data_str_borrows_plain_strings_and_unescapes_others() {
        let f = parse_frame(r#"{"event":"e","channel":"c","data":"lt:1:2:3:xx"}"#).expect("f");
        assert!(matches!(f.data_str(), Some(Cow::Borrowed("lt:1:2:3:xx"))));
        let f = parse_frame(r#"{"event":"e","data":"a\"b"}"#).expect("f");
        assert_eq!(f.data_str().as_deref(), Some("a\"b"));
        let f = parse_frame(r#"{"event":"e","data":{"k":1}}"#).expect("f");
        assert_eq!(f.data_str().as_deref(), Some(r#"{"k":1}"#));
        let f = parse_frame(r#"{"event":"e"}"#).expect("f");
        assert!(f.data_str().is_none());
    }

    #[test]
    fn member_ids_string_or_number() {
        let f = parse_frame(
            r#"{"event":"pusher_internal:member_added","channel":"presence-a","data":"{\"user_id\":\"u7\",\"user_info\":{}}"}"#,
        )
        .expect("f");
        assert_eq!(member_user_id(&f).as_deref(), Some("u7"));
        let f = parse_frame(
            r#"{"event":"pusher_internal:member_removed","channel":"presence-a","data":"{\"user_id\":10}"}"#,
        )
        .expect("f");
        assert_eq!(member_user_id(&f).as_deref(), Some("10"));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for text in ["", "null", "[]", "{", r#"{"data":"x"}"#, r#"{"event":5}"#] {
            assert!(parse_frame(text).is_err(), "{text}");
        }
        let f = parse_frame(r#"{"event":"pusher:error","data":"not json"}"#).expect("f");
        assert_eq!(error_code(&f), None);
        assert!(socket_id(&f).is_none());
    }

    #[test]
    fn builds_client_messages() {
        let s = subscribe("presence-a", Some("k:sig"), Some(r#"{"user_id":"u1"}"#));
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["event"], "pusher:subscribe");
        assert_eq!(v["data"]["channel"], "presence-a");
        assert_eq!(v["data"]["auth"], "k:sig");
        assert_eq!(v["data"]["channel_data"], r#"{"user_id":"u1"}"#);
        let v: Value = serde_json::from_str(&subscribe("loadtest-0", None, None)).expect("json");
        assert_eq!(v["data"]["auth"], "");
        assert!(v["data"].get("channel_data").is_none());
        let v: Value = serde_json::from_str(&unsubscribe("c")).expect("json");
        assert_eq!(v["data"]["channel"], "c");
        let v: Value =
            serde_json::from_str(&client_event("client-x", "private-c", "lt:1")).expect("json");
        assert_eq!(v["data"], "lt:1");
        assert_eq!(presence_channel_data("u3"), r#"{"user_id":"u3"}"#);
    }
}
