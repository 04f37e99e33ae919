//! The PieSocket-style raw channel surface (`/v3/{channel_id}`), pure: channel id rule, the
//! internal channel name raw channels use in the shard's subscriber tables, query flags, and the
//! refusals with their close codes and `{"error":…}` texts. No IO.

use thiserror::Error;

use super::presence::Member;

use super::codes::CloseCode;

/// Path prefix of the raw endpoint.
pub const PATH_PREFIX: &str = "/v3/";

/// Longest channel id accepted.
pub const MAX_CHANNEL_ID_LEN: usize = 30;

/// Prefix of the internal name of a raw channel in the subscriber tables. Pusher clients cannot
/// subscribe to names starting with `#` (other than `#server-to-user-`) and the REST channel
/// list hides them, so raw and Pusher channels of the same name never meet.
pub const INTERNAL_PREFIX: &str = "#raw:";

/// Channel ids with this prefix need a JWT.
pub const PRIVATE_PREFIX: &str = "private-";

/// Text of the error sent to a connection over its message rate.
pub const RATE_LIMIT_MESSAGE: &str = "Rate limit exceeded";

/// Whether a request path belongs to the raw endpoint.
pub fn is_raw_path(path: &str) -> bool {
    path == "/v3" || path.starts_with(PATH_PREFIX)
}

/// Checks a channel id against `^[A-Za-z0-9_-]{1,30}$`.
pub fn validate_channel_id(id: &str) -> Result<&str, RawRefusal> {
    let valid = !id.is_empty()
        && id.len() <= MAX_CHANNEL_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(id)
    } else {
        Err(RawRefusal::InvalidChannel)
    }
}

/// The channel id named by a raw endpoint path (`/v3/{channel_id}`), validated.
pub fn channel_id_from_path(path: &str) -> Result<&str, RawRefusal> {
    let id = path
        .strip_prefix(PATH_PREFIX)
        .ok_or(RawRefusal::InvalidChannel)?;
    validate_channel_id(id)
}

/// Internal subscriber-table name of the raw channel `channel_id`.
pub fn internal_name(channel_id: &str) -> String {
    format!("{INTERNAL_PREFIX}{channel_id}")
}

/// Whether a channel id needs a JWT.
pub fn is_private(channel_id: &str) -> bool {
    channel_id.starts_with(PRIVATE_PREFIX)
}

/// A boolean query flag: present with no value, `1` or `true` is on; anything else is off.
pub fn flag_on(value: Option<&str>) -> bool {
    matches!(value, Some("" | "1" | "true"))
}

/// The query parameters of a raw connection that the server acts on. Others (`source`, `v`,
/// …) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawQuery<'a> {
    /// `api_key` (or its alias `apiKey`).
    pub api_key: Option<&'a str>,
    /// `notify_self`: the sender also receives its own messages.
    pub notify_self: bool,
    /// `jwt`: token for private channels.
    pub jwt: Option<&'a str>,
    /// `presence`: this connection wants member events.
    pub presence: bool,
    /// `user`: unsecured member identity (a JWT's `user` claim wins).
    pub user: Option<&'a str>,
    /// `uuid`: the client's connection id, when it follows the rule.
    pub uuid: Option<&'a str>,
}

impl<'a> RawQuery<'a> {
    /// Reads a raw query string (first occurrence of each parameter wins).
    pub fn parse(query: &'a str) -> Self {
        let mut api_key = None;
        let mut api_key_alias = None;
        let mut notify_self = None;
        let mut jwt = None;
        let mut presence = None;
        let mut user = None;
        let mut uuid = None;
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")));
        for (k, v) in pairs {
            let slot = match k {
                "api_key" => &mut api_key,
                "apiKey" => &mut api_key_alias,
                "notify_self" => &mut notify_self,
                "jwt" => &mut jwt,
                "presence" => &mut presence,
                "user" => &mut user,
                "uuid" => &mut uuid,
                _ => continue,
            };
            slot.get_or_insert(v);
        }
        RawQuery {
            api_key: api_key.or(api_key_alias).filter(|k| !k.is_empty()),
            notify_self: flag_on(notify_self),
            jwt: jwt.filter(|t| !t.is_empty()),
            presence: flag_on(presence),
            user: user.filter(|u| !u.is_empty()),
            uuid: uuid.filter(|u| valid_uuid(u)),
        }
    }
}

/// Members beyond which joins and leaves are no longer announced.
pub const MAX_ANNOUNCED_MEMBERS: usize = 100;

/// Whether a client-chosen `uuid` is acceptable: 1 to 64 of `[A-Za-z0-9-]`.
pub fn valid_uuid(uuid: &str) -> bool {
    (1..=64).contains(&uuid.len()) && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether an internal channel name is a raw channel.
pub fn is_internal(name: &str) -> bool {
    name.starts_with(INTERNAL_PREFIX)
}

/// Internal channel of a raw channel's `presence=1` connections, which get the member events.
pub fn presence_listeners(internal: &str) -> String {
    format!("{internal}:presence")
}

/// A raw member as its owner shard keeps it: `uuid` as the id, the `user` JSON as its info.
pub fn member(uuid: &str, user_json: &str) -> Member {
    Member {
        id: uuid.to_string(),
        id_json: serde_json::Value::from(uuid).to_string(),
        info_json: user_json.to_string(),
    }
}

/// The `user` of a member: the JWT's `user` claim, else the `user` parameter, else `anonymous`.
pub fn member_user(jwt_user: Option<&serde_json::Value>, user_param: Option<&str>) -> String {
    match (jwt_user, user_param) {
        (Some(v), _) => v.to_string(),
        (None, Some(u)) => serde_json::Value::from(u).to_string(),
        (None, None) => "\"anonymous\"".to_string(),
    }
}

fn member_json(m: &Member) -> String {
    format!("{{\"uuid\":{},\"user\":{}}}", m.id_json, m.info_json)
}

fn members_json<'a>(members: impl Iterator<Item = &'a Member>) -> String {
    let list: Vec<String> = members.map(member_json).collect();
    format!("[{}]", list.join(","))
}

/// `system:member_list`, sent to a joining `presence=1` connection.
pub fn member_list<'a>(members: impl Iterator<Item = &'a Member>) -> String {
    format!(
        "{{\"event\":\"system:member_list\",\"data\":{{\"members\":{}}}}}",
        members_json(members)
    )
}

/// `system:member_joined` or `system:member_left` (`event`), with the member and the list.
pub fn member_event<'a>(
    event: &str,
    member: &Member,
    members: impl Iterator<Item = &'a Member>,
) -> String {
    format!(
        "{{\"event\":\"{event}\",\"data\":{{\"member\":{},\"members\":{}}}}}",
        member_json(member),
        members_json(members)
    )
}

/// Why a raw connection is refused after the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RawRefusal {
    /// `api_key` is missing or names no app (4001).
    #[error("Unknown api key")]
    UnknownKey,
    /// The app is disabled (4003).
    #[error("Application disabled")]
    AppDisabled,
    /// The app's connection quota is reached (4004).
    #[error("Application is over connection quota")]
    AppOverQuota,
    /// The server's connection cap is reached (4100).
    #[error("Over capacity")]
    OverCapacity,
    /// The server is shutting down (4200).
    #[error("Server is shutting down")]
    ShuttingDown,
    /// The channel id breaks the rule, or the path names no channel (4005).
    #[error("Invalid channel id")]
    InvalidChannel,
    /// A JWT is required and missing or invalid (4009).
    #[error("Authentication failed, provide valid jwt token.")]
    AuthFailed,
    /// The `Origin` is not on the app's allow-list (4009).
    #[error("{}", super::codes::ORIGIN_NOT_ALLOWED)]
    OriginNotAllowed,
}

impl RawRefusal {
    /// The refusal for a capacity check's close code (app quota, server cap, draining).
    pub fn from_capacity(code: CloseCode) -> Self {
        match code {
            CloseCode::AppOverQuota => RawRefusal::AppOverQuota,
            CloseCode::ReconnectNow => RawRefusal::ShuttingDown,
            _ => RawRefusal::OverCapacity,
        }
    }

    /// The close code sent after the error message.
    pub fn close_code(self) -> CloseCode {
        match self {
            RawRefusal::UnknownKey => CloseCode::AppNotFound,
            RawRefusal::AppDisabled => CloseCode::AppDisabled,
            RawRefusal::AppOverQuota => CloseCode::AppOverQuota,
            RawRefusal::OverCapacity => CloseCode::OverCapacity,
            RawRefusal::ShuttingDown => CloseCode::ReconnectNow,
            RawRefusal::InvalidChannel => CloseCode::PathNotFound,
            RawRefusal::AuthFailed | RawRefusal::OriginNotAllowed => CloseCode::Unauthorized,
        }
    }
}

/// The `{"error":"…"}` text a raw client receives.
pub fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_id_rule() {
        for ok in ["1", "room-1", "a_b-C9", &"x".repeat(30)] {
            assert_eq!(validate_channel_id(ok), Ok(ok), "{ok}");
        }
        for bad in ["", "a b", "a.b", "a/b", "#raw", "é", "%41", &"x".repeat(31)] {
            assert_eq!(
                validate_channel_id(bad),
                Err(RawRefusal::InvalidChannel),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths() {
        assert!(is_raw_path("/v3/room"));
        assert!(is_raw_path("/v3"));
        assert!(!is_raw_path("/v30/room"));
        assert!(!is_raw_path("/app/key"));
        assert_eq!(channel_id_from_path("/v3/room-1"), Ok("room-1"));
        assert!(channel_id_from_path("/v3/").is_err());
        assert!(channel_id_from_path("/v3").is_err());
        assert!(channel_id_from_path("/v3/1/1998").is_err());
    }

    #[test]
    fn internal_names_are_hidden_from_pusher() {
        let name = internal_name("chat");
        assert_eq!(name, "#raw:chat");
        assert!(crate::protocol::ChannelName::parse(&name, 200).is_err());
        assert!(is_private("private-room"));
        assert!(!is_private("room-private-"));
    }

    #[test]
    fn query_flags_and_aliases() {
        let q = RawQuery::parse("api_key=k&notify_self");
        assert_eq!(q.api_key, Some("k"));
        assert!(q.notify_self);
        assert!(RawQuery::parse("notify_self=1").notify_self);
        assert!(RawQuery::parse("notify_self=true").notify_self);
        assert!(!RawQuery::parse("notify_self=0").notify_self);
        assert!(!RawQuery::parse("notify_self=false").notify_self);
        assert!(!RawQuery::parse("api_key=k").notify_self);
        assert_eq!(RawQuery::parse("apiKey=a").api_key, Some("a"));
        assert_eq!(RawQuery::parse("apiKey=a&api_key=b").api_key, Some("b"));
        assert_eq!(RawQuery::parse("api_key=").api_key, None);
        let q = RawQuery::parse("presence=1&user=u&uuid=x&jwt=t.t.t&v=3");
        assert_eq!(q.jwt, Some("t.t.t"));
        assert_eq!(q.api_key, None);
    }

    #[test]
    fn refusals_map_to_close_codes() {
        assert_eq!(RawRefusal::UnknownKey.close_code().code(), 4001);
        assert_eq!(RawRefusal::AppDisabled.close_code().code(), 4003);
        assert_eq!(RawRefusal::AppOverQuota.close_code().code(), 4004);
        assert_eq!(RawRefusal::InvalidChannel.close_code().code(), 4005);
        assert_eq!(RawRefusal::AuthFailed.close_code().code(), 4009);
        assert_eq!(RawRefusal::OriginNotAllowed.close_code().code(), 4009);
        assert_eq!(
            error_json(&RawRefusal::OriginNotAllowed.to_string()),
            r#"{"error":"Origin not allowed"}"#
        );
        assert_eq!(RawRefusal::OverCapacity.close_code().code(), 4100);
        assert_eq!(
            error_json(&RawRefusal::InvalidChannel.to_string()),
            r#"{"error":"Invalid channel id"}"#
        );
    }
}
