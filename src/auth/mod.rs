//! HMAC-SHA256 signatures: channel authorization (private, presence, encrypted), user sign-in,
//! signed REST requests ([`request`]), and JWTs on raw channels ([`raw`]). Pure functions,
//! constant-time comparisons.

pub mod raw;
pub mod request;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// HMAC-SHA256 keyed with an app secret.
type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of an HMAC-SHA256 digest.
const DIGEST_LEN: usize = 32;

/// Current Unix time in seconds: the clock that request timestamps and JWT claims are
/// checked against.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh HMAC-SHA256 instance keyed with `secret`.
fn new_mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Checks that `mac` (already fed the whole message) matches `signature_hex`, in constant time.
///
/// The hex is ASCII case-insensitive; anything that is not exactly 64 hex digits fails.
fn mac_matches_hex(mac: HmacSha256, signature_hex: &str) -> bool {
    let mut expected = [0u8; DIGEST_LEN];
    if hex::decode_to_slice(signature_hex, &mut expected).is_err() {
        return false;
    }
    mac.verify_slice(&expected).is_ok()
}

/// Lowercase hex of HMAC-SHA256(key = `secret`, `message`).
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = new_mac(secret);
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature_hex` is the HMAC-SHA256 of `message` under `secret`.
///
/// The comparison is constant-time and the hex is ASCII case-insensitive.
pub fn verify_hex_signature(secret: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let mut mac = new_mac(secret);
    mac.update(message);
    mac_matches_hex(mac, signature_hex)
}

/// Why a channel or user `auth` string was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `auth` value was supplied.
    #[error("Missing auth: expected \"<app key>:<signature>\"")]
    Missing,
    /// The key before the first `:` is not this app's key.
    #[error("Invalid key in auth: it does not match the app key")]
    WrongKey,
    /// The signature does not match.
    #[error("Invalid signature: Expected HMAC SHA256 hex digest of {string_to_sign}")]
    BadSignature {
        /// The exact string the server signed, to help clients debug (never the digest).
        string_to_sign: String,
    },
    /// The value has no `:` separating key and signature.
    #[error("Malformed auth: expected \"<app key>:<signature>\"")]
    Malformed,
}

/// Splits `auth` at its first `:` and checks the key part against `app_key`.
///
/// Returns the signature part.
fn split_auth<'a>(app_key: &str, auth: &'a str) -> Result<&'a str, AuthError> {
    if auth.is_empty() {
        return Err(AuthError::Missing);
    }
    let (key, signature) = auth.split_once(':').ok_or(AuthError::Malformed)?;
    if key != app_key {
        return Err(AuthError::WrongKey);
    }
    Ok(signature)
}

/// Verifies `signature` over the concatenation of `parts` without building the message.
///
/// The string-to-sign is only assembled on failure, for the error message.
fn verify_parts(app_secret: &str, parts: &[&str], signature: &str) -> Result<(), AuthError> {
    let mut mac = new_mac(app_secret.as_bytes());
    for part in parts {
        mac.update(part.as_bytes());
    }
    if mac_matches_hex(mac, signature) {
        Ok(())
    } else {
        Err(AuthError::BadSignature {
            string_to_sign: parts.concat(),
        })
    }
}

/// Lowercase hex HMAC of the concatenation of `parts`, prefixed with `"{app_key}:"`.
fn sign_parts(app_key: &str, app_secret: &str, parts: &[&str]) -> String {
    let mut mac = new_mac(app_secret.as_bytes());
    for part in parts {
        mac.update(part.as_bytes());
    }
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(app_key.len() + 1 + 2 * DIGEST_LEN);
    out.push_str(app_key);
    out.push(':');
    out.push_str(&hex::encode(digest));
    out
}

/// Verifies `auth` = `"{app_key}:{hex}"` for private/encrypted (`channel_data` is `None`) or
/// presence (`Some`, the exact string received) channels.
///
/// The string-to-sign is `"{socket_id}:{channel}"`, followed by `":{channel_data}"` when given.
/// The key is taken up to the first `:`; the signature comparison is constant-time and
/// ASCII case-insensitive.
pub fn verify_channel_auth(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
    auth: &str,
) -> Result<(), AuthError> {
    let signature = split_auth(app_key, auth)?;
    match channel_data {
        Some(data) => verify_parts(app_secret, &[socket_id, ":", channel, ":", data], signature),
        None => verify_parts(app_secret, &[socket_id, ":", channel], signature),
    }
}

/// Verifies a `pusher:signin` `auth` over `"{socket_id}::user::{user_data}"`.
///
/// `user_data` must be the exact string received. Same key and comparison rules as
/// [`verify_channel_auth`].
pub fn verify_user_auth(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    user_data: &str,
    auth: &str,
) -> Result<(), AuthError> {
    let signature = split_auth(app_key, auth)?;
    verify_parts(app_secret, &[socket_id, "::user::", user_data], signature)
}

/// Produces the `"{app_key}:{hex}"` auth string for a channel subscription.
///
/// Pass `channel_data` for presence channels that carry it, `None` otherwise.
pub fn channel_auth(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    match channel_data {
        Some(data) => sign_parts(app_key, app_secret, &[socket_id, ":", channel, ":", data]),
        None => sign_parts(app_key, app_secret, &[socket_id, ":", channel]),
    }
}

/// Produces the `"{app_key}:{hex}"` auth string for a `pusher:signin` with `user_data`.
pub fn user_auth(app_key: &str, app_secret: &str, socket_id: &str, user_data: &str) -> String {
    sign_parts(app_key, app_secret, &[socket_id, "::user::", user_data])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";
    const SOCKET: &str = "1234.1234";

    /// Checks a channel vector both ways: generation and verification.
    fn check_channel(channel: &str, data: Option<&str>, expected: &str) {
        let auth = format!("{KEY}:{expected}");
        assert_eq!(channel_auth(KEY, SECRET, SOCKET, channel, data), auth);
        assert_eq!(
            verify_channel_auth(KEY, SECRET, SOCKET, channel, data, &auth),
            Ok(())
        );
    }

    #[test]
    fn private_vectors() {
        let p1 = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
        check_channel("private-foobar", None, p1);
        let p2 = "e6a18892d037c5d5e76a2265df4f086ffc38631605530dfd214aa5bff495f533";
        check_channel("private-encrypted-foobar", None, p2);
        let p3 = "395f4a03f06e17b74af8d9c58386cf386e70176f58452420f042b6e1bddefa43";
        check_channel("private-cache-foobar", None, p3);
        assert_eq!(
            channel_auth(KEY, SECRET, SOCKET, "private-foobar", None),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn presence_vectors() {
        let r1 = "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80";
        let d1 = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        check_channel("presence-foobar", Some(d1), r1);
        let r2 = "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c";
        let d2 = r#"{"user_id":10,"user_info":{"name":"Mr. Pusher"}}"#;
        check_channel("presence-foobar", Some(d2), r2);
        let r3 = "74747ddb7fbd9171b1a6b6418cf124d51c7fd572b286b91117e6eb95d977a241";
        let d3 = r#"{"user_id":"12345","user_info":{"name":"Alice"}}"#;
        check_channel("presence-foobar", Some(d3), r3);
        let r4 = "8e436c03cbdf66e0254a9db9e50d553331e7a5f971506bd1458a092388226611";
        check_channel("presence-cache-foobar", Some(r#"{"user_id":"12345"}"#), r4);
        let r5 = "71506e66e7fdca106571b8999a849ad34245bc653772e51e0026c1a2475b92ba";
        check_channel("presence-foobar", None, r5);
    }

    #[test]
    fn user_vectors() {
        let u1 = "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba";
        let d1 = r#"{"id":"12345"}"#;
        assert_eq!(user_auth(KEY, SECRET, SOCKET, d1), format!("{KEY}:{u1}"));
        assert_eq!(
            verify_user_auth(KEY, SECRET, SOCKET, d1, &format!("{KEY}:{u1}")),
            Ok(())
        );
        let u2 = "6b715855dd8a90585bf11dc63222874e39c2ba5da579b6678b0299368e8cf067";
        let d2 = r#"{"id":"12345","user_info":{"name":"Alice"},"watchlist":["67890","13579"]}"#;
        assert_eq!(user_auth(KEY, SECRET, SOCKET, d2), format!("{KEY}:{u2}"));
        assert_eq!(
            verify_user_auth(KEY, SECRET, SOCKET, d2, &format!("{KEY}:{u2}")),
            Ok(())
        );
    }

    #[test]
    fn hex_helpers() {
        let p1 = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
        let msg = b"1234.1234:private-foobar";
        assert_eq!(hmac_sha256_hex(SECRET.as_bytes(), msg), p1);
        assert!(verify_hex_signature(SECRET.as_bytes(), msg, p1));
        assert!(verify_hex_signature(
            SECRET.as_bytes(),
            msg,
            &p1.to_ascii_uppercase()
        ));
        assert!(!verify_hex_signature(SECRET.as_bytes(), b"other", p1));
        assert!(!verify_hex_signature(SECRET.as_bytes(), msg, &p1[..62]));
        assert!(!verify_hex_signature(SECRET.as_bytes(), msg, "zz"));
        assert!(!verify_hex_signature(SECRET.as_bytes(), msg, ""));
    }

    #[test]
    fn uppercase_hex_accepted() {
        let auth = channel_auth(KEY, SECRET, SOCKET, "private-foobar", None);
        let upper = format!("{KEY}:{}", auth[KEY.len() + 1..].to_ascii_uppercase());
        assert_eq!(
            verify_channel_auth(KEY, SECRET, SOCKET, "private-foobar", None, &upper),
            Ok(())
        );
    }

    #[test]
    fn rejections() {
        let auth = channel_auth(KEY, SECRET, SOCKET, "private-foobar", None);
        let verify = |a: &str| verify_channel_auth(KEY, SECRET, SOCKET, "private-foobar", None, a);
        assert_eq!(verify(""), Err(AuthError::Missing));
        assert_eq!(verify("no-colon-here"), Err(AuthError::Malformed));
        let wrong_key = auth.replacen(KEY, "278d425bdf160c739804", 1);
        assert_eq!(verify(&wrong_key), Err(AuthError::WrongKey));
        // The key ends at the first ':', so a key containing ':' never matches.
        assert_eq!(verify(&format!("{KEY}x:{auth}")), Err(AuthError::WrongKey));
        let expected_err = Err(AuthError::BadSignature {
            string_to_sign: "1234.1234:private-foobar".to_owned(),
        });
        assert_eq!(verify(&format!("{KEY}:")), expected_err);
        assert_eq!(verify(&format!("{KEY}:{}", "0".repeat(64))), expected_err);
        assert_eq!(verify(&format!("{auth}:extra")), expected_err);
        // Another channel's signature does not carry over.
        let other = channel_auth(KEY, SECRET, SOCKET, "private-other", None);
        assert_eq!(verify(&other), expected_err);
        // Another socket's signature does not carry over.
        let other_socket = channel_auth(KEY, SECRET, "1234.1235", "private-foobar", None);
        assert_eq!(verify(&other_socket), expected_err);
    }

    #[test]
    fn presence_data_is_signed_byte_for_byte() {
        let data = r#"{"user_id":"12345"}"#;
        let auth = channel_auth(KEY, SECRET, SOCKET, "presence-foobar", Some(data));
        let spaced = r#"{"user_id": "12345"}"#;
        let err = verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", Some(spaced), &auth);
        assert_eq!(
            err,
            Err(AuthError::BadSignature {
                string_to_sign: format!("1234.1234:presence-foobar:{spaced}"),
            })
        );
        // Presence auth without channel_data does not satisfy a request with channel_data.
        let bare = channel_auth(KEY, SECRET, SOCKET, "presence-foobar", None);
        assert!(
            verify_channel_auth(KEY, SECRET, SOCKET, "presence-foobar", Some(data), &bare).is_err()
        );
    }

    #[test]
    fn user_auth_rejections() {
        let data = r#"{"id":"12345"}"#;
        let auth = user_auth(KEY, SECRET, SOCKET, data);
        let err = verify_user_auth(KEY, SECRET, SOCKET, r#"{"id":"1"}"#, &auth);
        assert_eq!(
            err,
            Err(AuthError::BadSignature {
                string_to_sign: r#"1234.1234::user::{"id":"1"}"#.to_owned(),
            })
        );
        // The doc-error form "<key>::user::<sig>" is not accepted.
        let sig = &auth[KEY.len() + 1..];
        let doc_form = format!("{KEY}::user::{sig}");
        assert!(verify_user_auth(KEY, SECRET, SOCKET, data, &doc_form).is_err());
        assert_eq!(
            verify_user_auth("otherkey", SECRET, SOCKET, data, &auth),
            Err(AuthError::WrongKey)
        );
    }

    #[test]
    fn error_message_never_contains_digest() {
        let expected = channel_auth(KEY, SECRET, SOCKET, "private-foobar", None);
        let digest = &expected[KEY.len() + 1..];
        let bad = format!("{KEY}:{}", "a".repeat(64));
        let err = verify_channel_auth(KEY, SECRET, SOCKET, "private-foobar", None, &bad);
        let msg = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(
            msg,
            "Invalid signature: Expected HMAC SHA256 hex digest of 1234.1234:private-foobar"
        );
        assert!(!msg.contains(digest));
    }
}
