//! Request signing (REST auth_version 1.0) and channel authorization signatures.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// Lowercase hex HMAC-SHA256 of `msg` keyed with `secret`.
pub fn hmac_hex(secret: &str, msg: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Lowercase hex MD5 of a body.
pub fn md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// `auth` value for subscribing to a private (`channel_data = None`) or presence channel.
pub fn channel_auth(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    let msg = match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    };
    format!("{key}:{}", hmac_hex(secret, &msg))
}

/// Builds the signed query string for a REST request, like the official server SDKs.
///
/// `extra` parameters are signed and emitted verbatim, so their values must be URL-safe.
/// Returns the query string without the leading `?`.
pub fn signed_query(
    method: &str,
    path: &str,
    key: &str,
    secret: &str,
    timestamp: u64,
    body: &[u8],
    extra: &[(&str, &str)],
) -> String {
    let ts = timestamp.to_string();
    let md5 = if body.is_empty() {
        None
    } else {
        Some(md5_hex(body))
    };
    let mut params: Vec<(String, &str)> = vec![
        ("auth_key".into(), key),
        ("auth_timestamp".into(), &ts),
        ("auth_version".into(), "1.0"),
    ];
    if let Some(m) = &md5 {
        params.push(("body_md5".into(), m));
    }
    params.extend(extra.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)));
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{}\n{}\n{}", method.to_ascii_uppercase(), path, query);
    format!("{query}&auth_signature={}", hmac_hex(secret, &to_sign))
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn rest_vector_v1() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body.len(), 68);
        assert_eq!(md5_hex(body), "ec365a775a4cd0599faeb73354201b6f");
        let q = signed_query("POST", "/apps/3/events", KEY, SECRET, 1353088179, body, &[]);
        assert_eq!(
            q,
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn rest_vector_v3_sorts_extra_params() {
        let q = signed_query(
            "get",
            "/apps/3/channels",
            KEY,
            SECRET,
            1353088179,
            b"",
            &[("info", "user_count"), ("filter_by_prefix", "presence-")],
        );
        assert!(q.ends_with(
            "&auth_signature=16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291"
        ));
        assert!(!q.contains("body_md5"));
    }

    #[test]
    fn channel_auth_vectors() {
        assert_eq!(
            channel_auth(KEY, SECRET, "1234.1234", "private-foobar", None),
            "278d425bdf160c739803:\
             58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let data = r#"{"user_id":"12345","user_info":{"name":"Alice"}}"#;
        assert_eq!(
            channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", Some(data)),
            "278d425bdf160c739803:\
             74747ddb7fbd9171b1a6b6418cf124d51c7fd572b286b91117e6eb95d977a241"
        );
    }
}
