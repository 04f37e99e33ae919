//! Signed REST requests (`auth_version` 1.0): query parsing, verification and signing.
//!
//! The string to sign is `METHOD\nPATH\nQUERY`, where `QUERY` is built from the percent-decoded
//! query parameters: `auth_signature` dropped, keys lower-cased, sorted by key (byte order),
//! duplicate keys joined with `,` in the order received, rendered `key=value` joined by `&`
//! without any encoding. The message is streamed into the HMAC, never materialized.

use hmac::Mac;
use md5::{Digest, Md5};
use thiserror::Error;

mod query;

use query::percent_encode_into;
pub use query::QueryParams;

use super::{mac_matches_hex, new_mac, HmacSha256};

/// The only supported `auth_version`.
const AUTH_VERSION: &str = "1.0";

/// Largest accepted distance, in seconds, between `auth_timestamp` and the server clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;

/// Why a signed REST request was rejected (all map to HTTP 401).
///
/// The `Display` texts are meant to be returned to the client as they are.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestAuthError {
    /// A required query parameter is absent.
    #[error("Missing required query parameter: {0}")]
    MissingParam(&'static str),
    /// `auth_key` is not the key of the addressed app.
    #[error("Invalid auth_key: it is not the key of this app")]
    WrongKey,
    /// `auth_version` is something other than `1.0`.
    #[error("Unsupported auth_version: only {AUTH_VERSION} is supported")]
    UnsupportedVersion,
    /// `auth_timestamp` is not a whole number of seconds.
    #[error("Invalid auth_timestamp: expected Unix time in whole seconds")]
    BadTimestamp,
    /// `auth_timestamp` is too far from the server clock.
    #[error(
        "Timestamp expired: {timestamp} is more than {MAX_CLOCK_SKEW_SECS} s from server time \
         {server_time}"
    )]
    TimestampExpired {
        /// The `auth_timestamp` sent by the client.
        timestamp: u64,
        /// The server's Unix time when the request was checked.
        server_time: u64,
    },
    /// The request has a body but no `body_md5` parameter.
    #[error("Missing body_md5: it is required when the request has a body")]
    BodyMd5Missing,
    /// `body_md5` is not the MD5 hex digest of the body (an empty body's digest when none).
    #[error("Invalid body_md5: it is not the MD5 hex digest of the request body")]
    BodyMd5Mismatch,
    /// `auth_signature` does not match.
    #[error(
        "Invalid signature: expected the HMAC SHA256 hex digest, keyed with the app secret, of \
         METHOD\\nPATH\\nQUERY where QUERY is every parameter except auth_signature, keys \
         lower-cased and sorted, rendered key=value joined by & without URL encoding"
    )]
    BadSignature,
    /// The query string has an invalid percent escape or decodes to invalid UTF-8.
    #[error("Malformed query string: invalid percent-encoding or non-UTF-8 parameter")]
    BadQuery,
}

/// HMAC over `METHOD\nPATH\nQUERY` for `params` (see the module docs), streamed.
fn signature_mac(method: &str, path: &str, params: &QueryParams, secret: &str) -> HmacSha256 {
    let mut mac = new_mac(secret.as_bytes());
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        mac.update(method.to_ascii_uppercase().as_bytes());
    } else {
        mac.update(method.as_bytes());
    }
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    let mut first = true;
    for (key, value) in params.sorted_pairs() {
        if key == "auth_signature" {
            continue;
        }
        if !first {
            mac.update(b"&");
        }
        first = false;
        mac.update(key.as_bytes());
        mac.update(b"=");
        mac.update(value.as_bytes());
    }
    mac
}

/// Parses `auth_timestamp`: ASCII digits only.
fn parse_timestamp(raw: &str) -> Result<u64, RequestAuthError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestAuthError::BadTimestamp);
    }
    raw.parse().map_err(|_| RequestAuthError::BadTimestamp)
}

/// Applies the `body_md5` rules: required with a body; when present, must match the body.
fn check_body_md5(given: Option<&str>, body: &[u8]) -> Result<(), RequestAuthError> {
    let Some(given) = given else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(RequestAuthError::BodyMd5Missing)
        };
    };
    let mut claimed = [0u8; 16];
    hex::decode_to_slice(given, &mut claimed).map_err(|_| RequestAuthError::BodyMd5Mismatch)?;
    if Md5::digest(body).as_slice() == claimed {
        Ok(())
    } else {
        Err(RequestAuthError::BodyMd5Mismatch)
    }
}

/// Verifies a signed request and returns its decoded query parameters.
///
/// Checks, in order: `auth_key` equals `app_key`; `auth_signature` is present; `auth_version`
/// is `1.0`; `|now_unix − auth_timestamp| ≤ 600`; the `body_md5` rules (a non-empty body
/// requires it and it must equal the MD5 hex of the raw body; with an empty body it is optional
/// but, if present, must be `d41d8cd98f00b204e9800998ecf8427e`); finally the signature over
/// `METHOD\nPATH\nQUERY`, compared in constant time, hex case-insensitive.
///
/// `path` is the request path exactly as received, without the query string.
pub fn verify_request(
    method: &str,
    path: &str,
    raw_query: &str,
    body: &[u8],
    app_key: &str,
    app_secret: &str,
    now_unix: u64,
) -> Result<QueryParams, RequestAuthError> {
    use RequestAuthError as E;
    let params = QueryParams::parse(raw_query)?;
    let auth_key = params.get("auth_key").ok_or(E::MissingParam("auth_key"))?;
    if auth_key != app_key {
        return Err(E::WrongKey);
    }
    let signature = params
        .get("auth_signature")
        .ok_or(E::MissingParam("auth_signature"))?;
    let version = params
        .get("auth_version")
        .ok_or(E::MissingParam("auth_version"))?;
    if version != AUTH_VERSION {
        return Err(E::UnsupportedVersion);
    }
    let timestamp = params
        .get("auth_timestamp")
        .ok_or(E::MissingParam("auth_timestamp"))?;
    let timestamp = parse_timestamp(timestamp)?;
    if timestamp.abs_diff(now_unix) > MAX_CLOCK_SKEW_SECS {
        return Err(E::TimestampExpired {
            timestamp,
            server_time: now_unix,
        });
    }
    check_body_md5(params.get("body_md5"), body)?;
    let mac = signature_mac(method, path, &params, app_secret);
    if !mac_matches_hex(mac, signature) {
        return Err(E::BadSignature);
    }
    Ok(params)
}

/// Builds the signed query string for a request, as the official server SDKs do.
///
/// Adds `auth_key`, `auth_timestamp`, `auth_version=1.0`, `body_md5` (only when `body` is
/// non-empty) and `auth_signature` to `extra_params` (which must not contain `auth_*` or
/// `body_md5` keys). Parameters are emitted sorted by key with `auth_signature` last; values
/// are percent-encoded where needed, which does not change the signature.
pub fn sign_request(
    method: &str,
    path: &str,
    extra_params: &[(&str, &str)],
    body: &[u8],
    app_key: &str,
    app_secret: &str,
    now_unix: u64,
) -> String {
    let timestamp = now_unix.to_string();
    let md5 = (!body.is_empty()).then(|| body_md5_hex(body));
    let mut params = QueryParams::with_capacity(128, extra_params.len() + 4);
    for (key, value) in extra_params {
        params.push(key, value);
    }
    params.push("auth_key", app_key);
    params.push("auth_timestamp", &timestamp);
    params.push("auth_version", AUTH_VERSION);
    if let Some(md5) = &md5 {
        params.push("body_md5", md5);
    }
    params.finish();
    let signature = hex::encode(
        signature_mac(method, path, &params, app_secret)
            .finalize()
            .into_bytes(),
    );
    let mut query = String::with_capacity(params.text_len() + 2 * params.len() + 80);
    for (key, value) in params.sorted_pairs() {
        percent_encode_into(&mut query, key);
        query.push('=');
        percent_encode_into(&mut query, value);
        query.push('&');
    }
    query.push_str("auth_signature=");
    query.push_str(&signature);
    query
}

/// Lowercase hex MD5 of `body` (the `body_md5` parameter).
pub fn body_md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

#[cfg(test)]
mod tests;
