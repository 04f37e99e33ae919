//! `auth::request::verify_request` against an independent implementation of the signing rules
//! (HTTP API §2: percent-decoding, lower-cased keys, sorted, duplicates joined with `,`,
//! HMAC-SHA256 over `METHOD\nPATH\nQUERY`, `body_md5`, the 600 s window), and
//! `sign_request` → `verify_request` round trips.
//!
//! Input: seven newline-terminated fields, then the body:
//! `METHOD`, `PATH`, raw query, app key, app secret, server time (decimal), a mutation program
//! (see `fuzz_support::mutate`; its first byte picks the part to edit: method, path, query,
//! body or the clock).
//!
//! 1. The request as given: `verify_request` must give exactly the oracle's verdict (the same
//!    error, or acceptance with the same parameters); so an accepted request is correctly
//!    signed.
//! 2. The same method, path, parameters and body signed by `sign_request`: accepted by both.
//! 3. That signed request with one part mutated: again exactly the oracle's verdict.

#![no_main]

use std::collections::BTreeMap;

use corecast::auth::request::{
    sign_request, verify_request, RequestAuthError, MAX_CLOCK_SKEW_SECS,
};
use fuzz_support::{fields, mutate, text, utf8};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use sha2::Sha256;

/// One request as the server sees it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
    key: String,
    secret: String,
    now: u64,
}

/// Strict `%XX` decoding (`+` stays `+`); the result must be UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decoded parameters, keys lower-cased, duplicates joined in the order received.
fn params(query: &str) -> Option<BTreeMap<String, String>> {
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        merged
            .entry(decode(k)?.to_ascii_lowercase())
            .or_default()
            .push(decode(v)?);
    }
    Some(merged.into_iter().map(|(k, v)| (k, v.join(","))).collect())
}

/// The verdict the HTTP API spec gives, checks in the documented order.
fn oracle(r: &Request) -> Result<BTreeMap<String, String>, RequestAuthError> {
    use RequestAuthError as E;
    let p = params(&r.query).ok_or(E::BadQuery)?;
    let get = |k: &str| p.get(k).map(String::as_str);
    if get("auth_key").ok_or(E::MissingParam("auth_key"))? != r.key {
        return Err(E::WrongKey);
    }
    let signature = get("auth_signature").ok_or(E::MissingParam("auth_signature"))?;
    if get("auth_version").ok_or(E::MissingParam("auth_version"))? != "1.0" {
        return Err(E::UnsupportedVersion);
    }
    let ts = get("auth_timestamp").ok_or(E::MissingParam("auth_timestamp"))?;
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(E::BadTimestamp);
    }
    let ts: u64 = ts.parse().map_err(|_| E::BadTimestamp)?;
    if ts.abs_diff(r.now) > MAX_CLOCK_SKEW_SECS {
        return Err(E::TimestampExpired {
            timestamp: ts,
            server_time: r.now,
        });
    }
    let md5 = hex::encode(Md5::digest(&r.body));
    match get("body_md5") {
        None if !r.body.is_empty() => return Err(E::BodyMd5Missing),
        Some(m) if !m.eq_ignore_ascii_case(&md5) => return Err(E::BodyMd5Mismatch),
        _ => {}
    }
    let query: Vec<String> = p
        .iter()
        .filter(|(k, _)| *k != "auth_signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let to_sign = format!(
        "{}\n{}\n{}",
        r.method.to_ascii_uppercase(),
        r.path,
        query.join("&")
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(r.secret.as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if !signature.eq_ignore_ascii_case(&expected) {
        return Err(E::BadSignature);
    }
    Ok(p)
}

/// `verify_request` must agree with the oracle exactly.
fn check(r: &Request) -> bool {
    let got = verify_request(
        &r.method, &r.path, &r.query, &r.body, &r.key, &r.secret, r.now,
    );
    let want = oracle(r);
    match (&got, &want) {
        (Ok(params), Ok(expected)) => {
            assert_eq!(params.len(), expected.len(), "{r:?}");
            for (k, v) in expected {
                assert_eq!(params.get(k), Some(v.as_str()), "{k} in {r:?}");
                assert_eq!(params.get(&k.to_ascii_uppercase()), Some(v.as_str()));
            }
            for (k, v) in params.iter() {
                assert_eq!(expected.get(k).map(String::as_str), Some(v));
            }
        }
        (Err(e), Err(w)) => assert_eq!(e, w, "{r:?}"),
        _ => panic!(
            "verify_request says {:?}, the spec says {:?}, for {r:?}",
            got.map(|_| ()),
            want.map(|_| ())
        ),
    }
    got.is_ok()
}

/// Applies the mutation program to one part of `r`; `None` when the edit leaves a text part
/// that is not UTF-8 (a server never sees such a head).
fn mutated(r: &Request, program: &[u8]) -> Option<Request> {
    let (&part, ops) = program.split_first()?;
    let mut r = r.clone();
    match part % 5 {
        0 => r.method = edit(&r.method, ops)?,
        1 => r.path = edit(&r.path, ops)?,
        2 => r.query = edit(&r.query, ops)?,
        3 => mutate(&mut r.body, ops),
        _ => {
            let delta = i64::from(i16::from_le_bytes([*ops.first()?, *ops.get(1)?]));
            r.now = r.now.checked_add_signed(delta)?;
        }
    }
    Some(r)
}

fn edit(s: &str, ops: &[u8]) -> Option<String> {
    let mut b = s.as_bytes().to_vec();
    mutate(&mut b, ops);
    utf8(b)
}

fuzz_target!(|data: &[u8]| {
    let (f, body) = fields(data, 7);
    let given = Request {
        method: text(f[0]),
        path: text(f[1]),
        query: text(f[2]),
        body: body.to_vec(),
        key: text(f[3]),
        secret: text(f[4]),
        now: text(f[5]).trim().parse().unwrap_or(0),
    };
    check(&given);

    // The same request signed the way the SDKs sign it.
    let reserved = [
        "auth_key",
        "auth_timestamp",
        "auth_version",
        "auth_signature",
        "body_md5",
    ];
    let extra: Vec<(String, String)> = given
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| {
            (
                decode(k).unwrap_or_else(|| k.into()),
                decode(v).unwrap_or_else(|| v.into()),
            )
        })
        .filter(|(k, _)| !reserved.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let g = &given;
    let query = sign_request(
        &g.method, &g.path, &extra, &g.body, &g.key, &g.secret, g.now,
    );
    let signed = Request {
        query,
        ..given.clone()
    };
    assert!(
        check(&signed),
        "a request signed by sign_request was refused: {signed:?}"
    );
    if let Some(m) = mutated(&signed, f[6]) {
        check(&m);
    }
});
