//! User sign-in data (`pusher:signin`'s `user_data`): the user id, optional `user_info` shared
//! into presence channels, and the watchlist.

use serde_json::value::RawValue;
use thiserror::Error;

use super::presence::MAX_USER_ID;

/// Most watchlist entries kept.
pub const MAX_WATCHLIST: usize = 100;

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    /// User id.
    pub id: String,
    /// `user_info` JSON text, if given.
    pub info_json: Option<String>,
    /// Watched user ids (at most [`MAX_WATCHLIST`]).
    pub watchlist: Vec<String>,
    /// Whether the watchlist was cut to [`MAX_WATCHLIST`].
    pub watchlist_truncated: bool,
}

/// Why `user_data` is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UserDataError {
    /// Not a JSON object.
    #[error("user_data must be a JSON object")]
    NotAnObject,
    /// `id` missing, not a string, empty or too long.
    #[error("user_data.id must be a non-empty string of at most 128 characters")]
    BadId,
    /// `watchlist` is not an array of strings.
    #[error("user_data.watchlist must be an array of user id strings")]
    BadWatchlist,
}

#[derive(serde::Deserialize)]
struct UserData<'a> {
    id: Option<serde_json::Value>,
    #[serde(borrow, default)]
    user_info: Option<&'a RawValue>,
    #[serde(default)]
    watchlist: Option<Vec<serde_json::Value>>,
}

/// Parses `user_data`.
pub fn parse_user_data(user_data: &str) -> Result<SignedInUser, UserDataError> {
    if !user_data.trim_start().starts_with('{') {
        return Err(UserDataError::NotAnObject);
    }
    let data: UserData<'_> =
        serde_json::from_str(user_data).map_err(|_| UserDataError::NotAnObject)?;
    let id = match data.id {
        Some(serde_json::Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_USER_ID => {
            s
        }
        _ => return Err(UserDataError::BadId),
    };
    let mut watchlist = Vec::new();
    for v in data.watchlist.unwrap_or_default() {
        match v {
            serde_json::Value::String(s) => watchlist.push(s),
            _ => return Err(UserDataError::BadWatchlist),
        }
    }
    let watchlist_truncated = watchlist.len() > MAX_WATCHLIST;
    watchlist.truncate(MAX_WATCHLIST);
    Ok(SignedInUser {
        id,
        info_json: data.user_info.map(|r| r.get().to_string()),
        watchlist,
        watchlist_truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_data() {
        let u = parse_user_data(
            r#"{"id":"12345","user_info":{"name":"Alice"},"watchlist":["67890","13579"]}"#,
        )
        .unwrap();
        assert_eq!(u.id, "12345");
        assert_eq!(u.info_json.as_deref(), Some(r#"{"name":"Alice"}"#));
        assert_eq!(u.watchlist, vec!["67890", "13579"]);
        assert!(!u.watchlist_truncated);
    }

    #[test]
    fn refuses_bad_user_data() {
        assert_eq!(parse_user_data("x"), Err(UserDataError::NotAnObject));
        assert_eq!(parse_user_data(r#"["1"]"#), Err(UserDataError::NotAnObject));
        assert_eq!(parse_user_data(r#"{"id":1}"#), Err(UserDataError::BadId));
        assert_eq!(parse_user_data(r#"{"id":""}"#), Err(UserDataError::BadId));
        assert_eq!(
            parse_user_data(r#"{"id":"1","watchlist":[1]}"#),
            Err(UserDataError::BadWatchlist)
        );
    }

    #[test]
    fn truncates_long_watchlists() {
        let ids: Vec<String> = (0..150).map(|i| format!("\"{i}\"")).collect();
        let u =
            parse_user_data(&format!(r#"{{"id":"1","watchlist":[{}]}}"#, ids.join(","))).unwrap();
        assert_eq!(u.watchlist.len(), 100);
        assert!(u.watchlist_truncated);
    }
}
