//! `POST /api/publish`: the PieSocket-style publish API for raw channels. The body carries the
//! app `key` and `secret` (no request signature), the `channelId` (alias `roomId`) and the
//! `message`, which is delivered as one text frame to every member of the raw channel.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{limit, ApiError};
use crate::auth::raw::secret_matches;
use crate::http::{json_response, RequestHead, Response};
use crate::protocol::raw;
use crate::rate_limit::RestKind;
use crate::shard::Shard;
use crate::ws::frame;

/// Path of the publish API.
pub const PUBLISH_PATH: &str = "/api/publish";

#[derive(Deserialize)]
struct PublishBody<'a> {
    key: Option<String>,
    secret: Option<String>,
    #[serde(rename = "channelId", alias = "roomId")]
    channel_id: Option<Value>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

/// Handles `POST /api/publish`.
pub fn publish(shard: &Rc<Shard>, head: &RequestHead, body: &[u8]) -> Result<Response, ApiError> {
    if head.method != "POST" {
        return Err(ApiError::MethodNotAllowed(head.method.clone()));
    }
    let body: PublishBody<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))?;
    let key = body
        .key
        .ok_or_else(|| ApiError::Unauthorized("Missing \"key\"".into()))?;
    let app = shard
        .config
        .app_by_key(&key)
        .ok_or_else(|| ApiError::Unauthorized("Unknown key".into()))?;
    let secret = body.secret.unwrap_or_default();
    if !secret_matches(&app.secret, &secret) {
        return Err(ApiError::Unauthorized("Invalid secret".into()));
    }
    if !app.enabled {
        return Err(ApiError::Forbidden("Application disabled".into()));
    }
    let channel_id = match body.channel_id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        None => return Err(ApiError::BadRequest("Missing \"channelId\"".into())),
        Some(_) => return Err(ApiError::BadRequest("Invalid channel id".into())),
    };
    raw::validate_channel_id(&channel_id)
        .map_err(|_| ApiError::BadRequest("Invalid channel id".into()))?;
    let message = body
        .message
        .filter(|m| m.get() != "null")
        .ok_or_else(|| ApiError::BadRequest("Missing \"message\"".into()))?;
    let text = message_text(message)?;
    let max = shard.config.settings.raw_max_message_kb as usize * 1024;
    if text.len() > max {
        return Err(ApiError::TooLarge(format!(
            "Message larger than {max} bytes"
        )));
    }
    limit::check(shard, app, RestKind::Events, 1)?;
    let channel = raw::internal_name(&channel_id);
    shard.publish(
        app.index,
        &channel,
        frame::text_frame(text.as_bytes()),
        None,
    );
    Ok(json_response(200, r#"{"success":true}"#))
}

/// The text a `message` is sent as: a JSON string as its contents, anything else as compact
/// JSON (keys in their original order).
fn message_text(message: &RawValue) -> Result<String, ApiError> {
    let json = message.get().trim();
    if json.starts_with('"') {
        return serde_json::from_str(json)
            .map_err(|e| ApiError::BadRequest(format!("Invalid message: {e}")));
    }
    Ok(compact_json(json))
}

/// Removes the insignificant whitespace of valid JSON text.
fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn strings_are_sent_as_is_and_values_compacted() {
        assert_eq!(
            message_text(&raw(r#""hi \"you\"""#)).unwrap(),
            r#"hi "you""#
        );
        assert_eq!(
            message_text(&raw("{ \"z\" : 1,\n \"a\" : [ 1 , \"x y\" ] }")).unwrap(),
            r#"{"z":1,"a":[1,"x y"]}"#
        );
        assert_eq!(message_text(&raw(" 42 ")).unwrap(), "42");
    }

    #[test]
    fn compaction_keeps_string_contents() {
        assert_eq!(
            compact_json(r#"{"a" : "x \" , y\\", "b": true}"#),
            r#"{"a":"x \" , y\\","b":true}"#
        );
    }

    #[test]
    fn body_fields_and_alias() {
        let b: PublishBody<'_> =
            serde_json::from_str(r#"{"key":"k","secret":"s","roomId":"r","message":"m"}"#).unwrap();
        assert_eq!(b.channel_id, Some(Value::from("r")));
        assert_eq!(b.key.as_deref(), Some("k"));
        let b: PublishBody<'_> = serde_json::from_str(r#"{"channelId":7}"#).unwrap();
        assert_eq!(b.channel_id, Some(Value::from(7)));
        assert!(b.message.is_none());
    }
}
