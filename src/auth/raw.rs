//! Authentication on the raw (`/v3`) surface: HS256 JSON Web Tokens for private channels
//! (key = app secret, one token per channel), and the secret check of `POST /api/publish`.
//! Pure functions; signature and secret comparisons are constant-time.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::Mac;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::new_mac;

/// Seconds of clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

/// Base64url as JWTs use it; trailing padding is tolerated on input.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwtError {
    /// Not three base64url parts holding JSON objects.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not `HS256`.
    #[error("unsupported algorithm (HS256 only)")]
    UnsupportedAlgorithm,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// `sub` is missing or names another channel.
    #[error("token subject does not match the channel")]
    WrongSubject,
    /// `exp` is missing or not a number.
    #[error("token has no expiry")]
    MissingExpiry,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `iat` lies in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Payload {
    sub: Option<Value>,
    exp: Option<Value>,
    iat: Option<Value>,
    #[serde(default)]
    user: Option<Value>,
}

/// The claims of an accepted token that the server uses.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtClaims {
    /// The `user` claim (number, string or object), if any.
    pub user: Option<Value>,
}

/// Verifies an HS256 `token` for `channel_id` with the app `secret` at Unix time `now`.
///
/// The signature is checked over the received `header.payload` text before anything in the
/// payload is trusted.
pub fn verify_jwt(
    token: &str,
    secret: &str,
    channel_id: &str,
    now: u64,
) -> Result<JwtClaims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = decode_json(h64)?;
    if header.alg != "HS256" {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    let signature = B64URL.decode(s64).map_err(|_| JwtError::Malformed)?;
    let mut mac = new_mac(secret.as_bytes());
    mac.update(h64.as_bytes());
    mac.update(b".");
    mac.update(p64.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;
    let payload: Payload = decode_json(p64)?;
    let sub = match payload.sub {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(JwtError::WrongSubject),
    };
    if sub != channel_id {
        return Err(JwtError::WrongSubject);
    }
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let exp = payload
        .exp
        .as_ref()
        .and_then(seconds)
        .ok_or(JwtError::MissingExpiry)?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::Expired);
    }
    if let Some(iat) = payload.iat.as_ref().and_then(seconds) {
        if iat > now.saturating_add(LEEWAY_SECS) {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(JwtClaims { user: payload.user })
}

/// An HS256 token for the claims in `payload_json` (the exact bytes are signed), as an
/// application server would issue it.
pub fn sign_jwt(secret: &str, payload_json: &str) -> String {
    let header = B64URL.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64URL.encode(payload_json);
    let mut mac = new_mac(secret.as_bytes());
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let signature = B64URL.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

/// A NumericDate claim as whole seconds.
fn seconds(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// Decodes a base64url part holding a JSON object. (serde would also read a JSON array into
/// the struct's fields in order; a JWT header and claims set are objects only.)
fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, JwtError> {
    let bytes = B64URL.decode(part).map_err(|_| JwtError::Malformed)?;
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return Err(JwtError::Malformed);
    }
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// Whether `given` equals the app `secret`, compared in constant time (both are reduced to
/// HMAC digests under a fixed key first, so their lengths do not leak either).
pub fn secret_matches(secret: &str, given: &str) -> bool {
    const KEY: &[u8] = b"corecast secret comparison";
    let mut expected = new_mac(KEY);
    expected.update(secret.as_bytes());
    let mut actual = new_mac(KEY);
    actual.update(given.as_bytes());
    expected
        .verify_slice(&actual.finalize().into_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "7ad3773142a6692b25b8";
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiJyb29tLTEiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMCwidXNlciI6ImFsaWNlIn0.\
        nVVtTHyM1wiXuHP_fNgJrxC29cSrq33Z95deK0oMm7o";
    const IAT: u64 = 1_700_000_000;
    const EXP: u64 = 1_700_086_400;

    fn sign(header: &str, payload: &str, secret: &str) -> String {
        let h = B64URL.encode(header);
        let p = B64URL.encode(payload);
        let mut mac = new_mac(secret.as_bytes());
        mac.update(format!("{h}.{p}").as_bytes());
        let s = B64URL.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    #[test]
    fn accepts_the_reference_vector() {
        let claims = verify_jwt(TOKEN, SECRET, "room-1", IAT + 10).unwrap();
        assert_eq!(claims.user, Some(Value::from("alice")));
    }

    #[test]
    fn signing_reproduces_the_reference_vector() {
        let payload = r#"{"sub":"room-1","iat":1700000000,"exp":1700086400,"user":"alice"}"#;
        assert_eq!(sign_jwt(SECRET, payload), TOKEN);
    }

    #[test]
    fn leeway_on_expiry_and_issue_time() {
        assert!(verify_jwt(TOKEN, SECRET, "room-1", EXP + 29).is_ok());
        assert_eq!(
            verify_jwt(TOKEN, SECRET, "room-1", EXP + 30),
            Err(JwtError::Expired)
        );
        assert!(verify_jwt(TOKEN, SECRET, "room-1", IAT - 30).is_ok());
        assert_eq!(
            verify_jwt(TOKEN, SECRET, "room-1", IAT - 31),
            Err(JwtError::IssuedInFuture)
        );
    }

    #[test]
    fn rejects_wrong_channel_secret_or_tampering() {
        let now = IAT + 10;
        assert_eq!(
            verify_jwt(TOKEN, SECRET, "room-2", now),
            Err(JwtError::WrongSubject)
        );
        assert_eq!(
            verify_jwt(TOKEN, "other", "room-1", now),
            Err(JwtError::BadSignature)
        );
        let tampered = TOKEN.replacen("eyJzdWIi", "eyJzdWIj", 1);
        assert_eq!(
            verify_jwt(&tampered, SECRET, "room-1", now),
            Err(JwtError::BadSignature)
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert_eq!(
                verify_jwt(bad, SECRET, "room-1", now),
                Err(JwtError::Malformed)
            );
        }
    }

    #[test]
    fn only_hs256() {
        let payload = r#"{"sub":"r","exp":9999999999}"#;
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(payload)
        );
        assert_eq!(
            verify_jwt(&none, SECRET, "r", 0),
            Err(JwtError::UnsupportedAlgorithm)
        );
        let hs512 = sign(r#"{"alg":"HS512"}"#, payload, SECRET);
        assert_eq!(
            verify_jwt(&hs512, SECRET, "r", 0),
            Err(JwtError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn claims_rules() {
        let h = r#"{"alg":"HS256","typ":"JWT"}"#;
        let numeric = sign(h, r#"{"sub":1998,"exp":100}"#, SECRET);
        assert!(verify_jwt(&numeric, SECRET, "1998", 50).is_ok());
        let no_exp = sign(h, r#"{"sub":"r"}"#, SECRET);
        assert_eq!(
            verify_jwt(&no_exp, SECRET, "r", 0),
            Err(JwtError::MissingExpiry)
        );
        let no_sub = sign(h, r#"{"exp":100}"#, SECRET);
        assert_eq!(
            verify_jwt(&no_sub, SECRET, "r", 0),
            Err(JwtError::WrongSubject)
        );
    }

    #[test]
    fn header_and_claims_must_be_objects() {
        // Correctly signed, but a JSON array where an object belongs.
        let h = r#"{"alg":"HS256","typ":"JWT"}"#;
        let claims = r#"{"sub":"r","exp":9999999999}"#;
        let array_header = sign(r#"["HS256"]"#, claims, SECRET);
        assert_eq!(
            verify_jwt(&array_header, SECRET, "r", 0),
            Err(JwtError::Malformed)
        );
        let array_claims = sign(h, r#"["r",9999999999,null,"mallory"]"#, SECRET);
        assert_eq!(
            verify_jwt(&array_claims, SECRET, "r", 0),
            Err(JwtError::Malformed)
        );
        assert!(verify_jwt(&sign(h, claims, SECRET), SECRET, "r", 0).is_ok());
    }

    #[test]
    fn secret_comparison() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cret", "s3cre"));
        assert!(!secret_matches("s3cret", ""));
    }
}
