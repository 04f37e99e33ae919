//! Presence members: parsing `channel_data`, and rendering the member list and the
//! `member_added` / `member_removed` data strings. A member's `user_id` keeps its JSON type on
//! the wire; identity uses its canonical string form.

use serde_json::value::RawValue;
use thiserror::Error;

/// Longest user id (string form).
pub const MAX_USER_ID: usize = 128;

/// A presence member as the owner shard keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Canonical id (a string id as is, a number as JSON renders it).
    pub id: String,
    /// The id's JSON text as received (`"7"` or `7`).
    pub id_json: String,
    /// `user_info` JSON text (`{}` when absent).
    pub info_json: String,
}

/// Why `channel_data` (or a signed-in user's data) cannot make a member.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemberError {
    /// Not a JSON object.
    #[error("channel_data must be a JSON object with a user_id")]
    NotAnObject,
    /// `user_id` missing, empty, or not a string or number.
    #[error("channel_data.user_id must be a non-empty string or a number")]
    BadUserId,
    /// `user_id` too long.
    #[error("user_id is longer than 128 characters")]
    UserIdTooLong,
    /// `user_info` too large.
    #[error("user_info is larger than {0} bytes")]
    InfoTooLarge(usize),
}

#[derive(serde::Deserialize)]
struct ChannelData<'a> {
    #[serde(borrow)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user_info: Option<&'a RawValue>,
}

/// Parses presence `channel_data`; `max_info` bounds the serialized `user_info`.
pub fn parse_channel_data(channel_data: &str, max_info: usize) -> Result<Member, MemberError> {
    // serde would read a JSON array into the struct's fields in order: only objects count.
    if !channel_data.trim_start().starts_with('{') {
        return Err(MemberError::NotAnObject);
    }
    let data: ChannelData<'_> =
        serde_json::from_str(channel_data).map_err(|_| MemberError::NotAnObject)?;
    let raw_id = data.user_id.ok_or(MemberError::BadUserId)?.get();
    let id = match serde_json::from_str::<serde_json::Value>(raw_id) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(MemberError::BadUserId),
    };
    member(
        id,
        raw_id.to_string(),
        data.user_info.map(RawValue::get),
        max_info,
    )
}

/// Builds a member from a canonical id, its JSON text and optional `user_info` JSON text.
pub fn member(
    id: String,
    id_json: String,
    info: Option<&str>,
    max_info: usize,
) -> Result<Member, MemberError> {
    if id.is_empty() {
        return Err(MemberError::BadUserId);
    }
    if id.chars().count() > MAX_USER_ID {
        return Err(MemberError::UserIdTooLong);
    }
    let info_json = match info {
        None | Some("null") => "{}".to_string(),
        Some(text) => compact(text),
    };
    if info_json.len() > max_info {
        return Err(MemberError::InfoTooLarge(max_info));
    }
    Ok(Member {
        id,
        id_json: compact(&id_json),
        info_json,
    })
}

fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| json.to_string())
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The `subscription_succeeded` data string: `{"presence":{"ids":[…],"hash":{…},"count":N}}`.
pub fn presence_data<'a>(members: impl Iterator<Item = &'a Member>) -> String {
    let mut ids = String::new();
    let mut hash = String::new();
    let mut count = 0;
    for m in members {
        if count > 0 {
            ids.push(',');
            hash.push(',');
        }
        ids.push_str(&m.id_json);
        hash.push_str(&json_string(&m.id));
        hash.push(':');
        hash.push_str(&m.info_json);
        count += 1;
    }
    format!("{{\"presence\":{{\"ids\":[{ids}],\"hash\":{{{hash}}},\"count\":{count}}}}}")
}

/// The `member_added` data string.
pub fn member_added_data(m: &Member) -> String {
    format!(
        "{{\"user_id\":{},\"user_info\":{}}}",
        m.id_json, m.info_json
    )
}

/// The `member_removed` data string.
pub fn member_removed_data(m: &Member) -> String {
    format!("{{\"user_id\":{}}}", m.id_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_string_and_number_ids() {
        let m = parse_channel_data(r#"{"user_id":"12345","user_info":{"name":"Alice"}}"#, 1024)
            .unwrap();
        assert_eq!((m.id.as_str(), m.id_json.as_str()), ("12345", "\"12345\""));
        assert_eq!(m.info_json, r#"{"name":"Alice"}"#);
        let m = parse_channel_data(r#"{"user_id":10}"#, 1024).unwrap();
        assert_eq!(
            (m.id.as_str(), m.id_json.as_str(), m.info_json.as_str()),
            ("10", "10", "{}")
        );
    }

    #[test]
    fn rejects_bad_channel_data() {
        assert_eq!(
            parse_channel_data("nope", 1024),
            Err(MemberError::NotAnObject)
        );
        assert_eq!(
            parse_channel_data(r#"["1"]"#, 1024),
            Err(MemberError::NotAnObject)
        );
        assert_eq!(parse_channel_data("{}", 1024), Err(MemberError::BadUserId));
        assert_eq!(
            parse_channel_data(r#"{"user_id":""}"#, 1024),
            Err(MemberError::BadUserId)
        );
        assert_eq!(
            parse_channel_data(r#"{"user_id":[1]}"#, 1024),
            Err(MemberError::BadUserId)
        );
        let long = format!(r#"{{"user_id":"{}"}}"#, "x".repeat(129));
        assert_eq!(
            parse_channel_data(&long, 1024),
            Err(MemberError::UserIdTooLong)
        );
        let big = format!(r#"{{"user_id":"1","user_info":"{}"}}"#, "x".repeat(1100));
        assert_eq!(
            parse_channel_data(&big, 1024),
            Err(MemberError::InfoTooLarge(1024))
        );
    }

    #[test]
    fn renders_presence_data() {
        let a = parse_channel_data(r#"{"user_id":"1","user_info":{"name":"A"}}"#, 1024).unwrap();
        let b = parse_channel_data(r#"{"user_id":2}"#, 1024).unwrap();
        assert_eq!(
            presence_data([&a, &b].into_iter()),
            r#"{"presence":{"ids":["1",2],"hash":{"1":{"name":"A"},"2":{}},"count":2}}"#
        );
        assert_eq!(
            presence_data(std::iter::empty()),
            r#"{"presence":{"ids":[],"hash":{},"count":0}}"#
        );
        assert_eq!(
            member_added_data(&a),
            r#"{"user_id":"1","user_info":{"name":"A"}}"#
        );
        assert_eq!(member_removed_data(&b), r#"{"user_id":2}"#);
    }
}
