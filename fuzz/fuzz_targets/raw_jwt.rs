//! `auth::raw::verify_jwt` (HS256 tokens on raw channels) against an independent HMAC-SHA256
//! computation and the claim rules of the raw endpoint spec (§4).
//!
//! Input: five newline-terminated fields, then a payload: token, app secret, channel id, server
//! time (decimal), a mutation program (see `fuzz_support::mutate`; its first byte picks what to
//! edit: token, channel id, clock or secret); the rest is a claims JSON to sign.
//!
//! Invariants:
//! * no panic;
//! * an accepted token (given, freshly signed, or signed then mutated) has exactly three parts,
//!   an `HS256` header, a signature equal to the HMAC-SHA256 of the received `header.payload`
//!   text under the secret, a `sub` naming the channel, an unexpired `exp` and no `iat` in the
//!   future (30 s leeway each), and its `user` claim is the one returned;
//! * a token that `sign_jwt` made from canonical claims that satisfy those rules is accepted.

#![no_main]

use std::collections::HashMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use corecast::auth::raw::{sign_jwt, verify_jwt, JwtClaims, LEEWAY_SECS};
use fuzz_support::{fields, mutate, text, utf8};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::Sha256;

/// Base64url, padding optional (as JWT verifiers accept it).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A NumericDate in whole seconds (fractions dropped, out-of-range values saturated).
fn seconds(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// Whether the claims satisfy the spec's rules for `channel` at time `now`.
fn claims_ok(claims: &HashMap<String, Value>, channel: &str, now: u64) -> bool {
    let sub = match claims.get("sub") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return false,
    };
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let Some(exp) = claims.get("exp").and_then(seconds) else {
        return false;
    };
    let iat_ok = claims
        .get("iat")
        .and_then(seconds)
        .is_none_or(|iat| iat <= now.saturating_add(LEEWAY_SECS));
    sub == channel && now < exp.saturating_add(LEEWAY_SECS) && iat_ok
}

/// Claims of a payload part; each claim is read on its own, as a verifier may ignore others.
fn claims_of(p64: &str) -> HashMap<String, Value> {
    let bytes = B64.decode(p64).expect("accepted payload is base64url");
    let raw: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(&bytes).expect("accepted payload is a JSON object");
    raw.into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_str::<Value>(v.get()).ok()?)))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Checks an accepted token independently of the verifier.
fn check_accepted(token: &str, secret: &str, channel: &str, now: u64, claims: &JwtClaims) {
    let parts: Vec<&str> = token.split('.').collect();
    let [h64, p64, s64] = parts[..] else {
        panic!("accepted token without three parts: {token:?}");
    };
    let header: Value = serde_json::from_slice(&B64.decode(h64).expect("header is base64url"))
        .expect("header is JSON");
    assert_eq!(header["alg"], "HS256", "accepted header {header}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{h64}.{p64}").as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    assert!(
        s64 == expected || s64 == format!("{expected}="),
        "accepted signature {s64:?} is not HMAC-SHA256 {expected:?} of {h64}.{p64}"
    );
    let payload = claims_of(p64);
    assert!(
        claims_ok(&payload, channel, now),
        "accepted claims {payload:?} for {channel} at {now}"
    );
    assert_eq!(claims.user.as_ref(), payload.get("user"));
}

fn check(token: &str, secret: &str, channel: &str, now: u64) {
    if let Ok(claims) = verify_jwt(token, secret, channel, now) {
        check_accepted(token, secret, channel, now, &claims);
    }
}

fuzz_target!(|data: &[u8]| {
    let (f, payload) = fields(data, 5);
    let (token, secret, channel) = (text(f[0]), text(f[1]), text(f[2]));
    let now: u64 = text(f[3]).trim().parse().unwrap_or(0);
    check(&token, &secret, &channel, now);

    let Ok(payload) = std::str::from_utf8(payload) else {
        return;
    };
    if payload.is_empty() {
        return;
    }
    let signed = sign_jwt(&secret, payload);
    let verdict = verify_jwt(&signed, &secret, &channel, now);
    if let Ok(claims) = &verdict {
        check_accepted(&signed, &secret, &channel, now, claims);
    }
    // Canonical claims (compact, no duplicate keys) that obey the rules must be accepted.
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(payload) {
        if serde_json::to_string(&map).ok().as_deref() == Some(payload) {
            let claims: HashMap<String, Value> =
                map.into_iter().filter(|(_, v)| !v.is_null()).collect();
            if claims_ok(&claims, &channel, now) {
                assert!(
                    verdict.is_ok(),
                    "valid token refused: {verdict:?} for {payload}"
                );
            }
        }
    }

    let Some((&what, ops)) = f[4].split_first() else {
        return;
    };
    let (mut token, mut secret, mut channel, mut now) = (signed, secret, channel, now);
    match what % 4 {
        0 => {
            let mut b = token.into_bytes();
            mutate(&mut b, ops);
            let Some(t) = utf8(b) else { return };
            token = t;
        }
        1 => {
            let mut b = channel.into_bytes();
            mutate(&mut b, ops);
            let Some(c) = utf8(b) else { return };
            channel = c;
        }
        2 => {
            let [lo, hi, ..] = ops else { return };
            let delta = i64::from(i16::from_le_bytes([*lo, *hi]));
            let Some(n) = now.checked_add_signed(delta) else {
                return;
            };
            now = n;
        }
        _ => {
            let mut b = secret.into_bytes();
            mutate(&mut b, ops);
            let Some(s) = utf8(b) else { return };
            secret = s;
        }
    }
    check(&token, &secret, &channel, now);
});
