//! Tests for signed REST requests: the spec vectors V1–V6 and the verification rules.

use super::*;

const KEY: &str = "278d425bdf160c739803";
const SECRET: &str = "7ad3773142a6692b25b8";
const NOW: u64 = 1_353_088_179;

const V1_BODY: &str = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
const V1_QUERY: &str = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
    &body_md5=ec365a775a4cd0599faeb73354201b6f\
    &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
const V2_BODY: &str = r#"{"batch":[{"name":"foo","channel":"project-3","data":"{\"some\":\"data\"}"},{"name":"bar","channel":"presence-room","data":"hello","info":"user_count"}]}"#;
const AUTH: &str = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0";

/// Verifies `query` for app `KEY` with the clock frozen at `now`.
fn verify_at(
    method: &str,
    path: &str,
    query: &str,
    body: &str,
    now: u64,
) -> Result<(), RequestAuthError> {
    verify_request(method, path, query, body.as_bytes(), KEY, SECRET, now).map(|_| ())
}

/// Verifies `query` with the clock frozen at the vectors' timestamp.
fn verify(method: &str, path: &str, query: &str, body: &str) -> Result<(), RequestAuthError> {
    verify_at(method, path, query, body, NOW)
}

#[test]
fn v1_official_example() {
    assert_eq!(
        body_md5_hex(V1_BODY.as_bytes()),
        "ec365a775a4cd0599faeb73354201b6f"
    );
    assert_eq!(verify("POST", "/apps/3/events", V1_QUERY, V1_BODY), Ok(()));
    let signed = sign_request(
        "POST",
        "/apps/3/events",
        &[],
        V1_BODY.as_bytes(),
        KEY,
        SECRET,
        NOW,
    );
    assert_eq!(signed, V1_QUERY);
}

#[test]
fn v2_batch_events() {
    assert_eq!(
        body_md5_hex(V2_BODY.as_bytes()),
        "62af7a5f50738bf271a41eeb28da1c68"
    );
    let q = format!(
        "{AUTH}&body_md5=62af7a5f50738bf271a41eeb28da1c68\
         &auth_signature=98b4f7389c36c31d67681c1947a4d97c129b0c04189df8ce7b7eb1af15e9360f"
    );
    assert_eq!(verify("POST", "/apps/3/batch_events", &q, V2_BODY), Ok(()));
}

#[test]
fn v3_channels_with_filter() {
    let sig = "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291";
    let q = format!("filter_by_prefix=presence-&info=user_count&{AUTH}&auth_signature={sig}");
    assert_eq!(verify("GET", "/apps/3/channels", &q, ""), Ok(()));
    let params = verify_request("GET", "/apps/3/channels", &q, b"", KEY, SECRET, NOW);
    let params = params.ok().unwrap_or_default();
    assert_eq!(params.get("filter_by_prefix"), Some("presence-"));
    assert_eq!(params.get("INFO"), Some("user_count"));
    assert_eq!(params.get("missing"), None);
    assert_eq!(
        params.iter().next(),
        Some(("filter_by_prefix", "presence-"))
    );
    assert_eq!(params.len(), 6);
}

#[test]
fn v4_comma_plain_and_encoded() {
    let sig = "377ee9260ea002a70c0d40cd887d55cb36db9f7f821297f5efacbcce66be356d";
    let path = "/apps/3/channels/presence-foobar";
    let plain = format!("{AUTH}&info=user_count,subscription_count&auth_signature={sig}");
    assert_eq!(verify("GET", path, &plain, ""), Ok(()));
    let encoded = format!("info=user_count%2Csubscription_count&{AUTH}&auth_signature={sig}");
    assert_eq!(verify("GET", path, &encoded, ""), Ok(()));
    let lower = format!("info=user_count%2csubscription_count&{AUTH}&auth_signature={sig}");
    assert_eq!(verify("GET", path, &lower, ""), Ok(()));
}

#[test]
fn v5_users() {
    let sig = "5567dd30e7f8575e66be615d2aac3f608a0c311c31ddab8513a278b022e9597e";
    let q = format!("{AUTH}&auth_signature={sig}");
    assert_eq!(
        verify("GET", "/apps/3/channels/presence-foobar/users", &q, ""),
        Ok(())
    );
    // The path is signed exactly as received.
    let err = verify("GET", "/apps/3/channels/presence-foobar/users/", &q, "");
    assert_eq!(err, Err(RequestAuthError::BadSignature));
}

#[test]
fn v6_terminate_connections() {
    assert_eq!(body_md5_hex(b"{}"), "99914b932bd37a50b983c5e7c90ae93b");
    let sig = "01fa634edeb0cae84115307cad5c23f65a46cd286461b1c89637a3b5871a8f0e";
    let q = format!("{AUTH}&body_md5=99914b932bd37a50b983c5e7c90ae93b&auth_signature={sig}");
    let path = "/apps/3/users/12345/terminate_connections";
    assert_eq!(verify("POST", path, &q, "{}"), Ok(()));
}

#[test]
fn uppercase_signature_accepted() {
    let sig = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
    let q = V1_QUERY.replace(sig, &sig.to_ascii_uppercase());
    assert_ne!(q, V1_QUERY);
    assert_eq!(verify("POST", "/apps/3/events", &q, V1_BODY), Ok(()));
}

#[test]
fn wrong_key_and_missing_params() {
    let q = V1_QUERY.replace("803&", "804&");
    assert_eq!(
        verify("POST", "/apps/3/events", &q, V1_BODY),
        Err(RequestAuthError::WrongKey)
    );
    for (param, name) in [
        ("auth_key=278d425bdf160c739803&", "auth_key"),
        ("auth_timestamp=1353088179&", "auth_timestamp"),
        ("auth_version=1.0&", "auth_version"),
        (
            "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
            "auth_signature",
        ),
    ] {
        let q = V1_QUERY.replace(param, "");
        let err = verify("POST", "/apps/3/events", &q, V1_BODY);
        assert_eq!(err, Err(RequestAuthError::MissingParam(name)));
    }
    let q = V1_QUERY.replace("auth_version=1.0", "auth_version=2.0");
    let err = verify("POST", "/apps/3/events", &q, V1_BODY);
    assert_eq!(err, Err(RequestAuthError::UnsupportedVersion));
}

#[test]
fn tampered_body_and_md5_rules() {
    let tampered = V1_BODY.replace("foo", "fop");
    let err = verify("POST", "/apps/3/events", V1_QUERY, &tampered);
    assert_eq!(err, Err(RequestAuthError::BodyMd5Mismatch));
    // Body present but body_md5 absent.
    let q = V1_QUERY.replace("body_md5=ec365a775a4cd0599faeb73354201b6f&", "");
    let err = verify("POST", "/apps/3/events", &q, V1_BODY);
    assert_eq!(err, Err(RequestAuthError::BodyMd5Missing));
    // A tampered method is caught by the signature.
    let err = verify("PUT", "/apps/3/events", V1_QUERY, V1_BODY);
    assert_eq!(err, Err(RequestAuthError::BadSignature));
}

#[test]
fn empty_body_md5_rule() {
    let path = "/apps/3/channels";
    let empty_md5 = "d41d8cd98f00b204e9800998ecf8427e";
    assert_eq!(body_md5_hex(b""), empty_md5);
    let with_md5 = sign_request(
        "GET",
        path,
        &[("body_md5", empty_md5)],
        b"",
        KEY,
        SECRET,
        NOW,
    );
    assert_eq!(verify("GET", path, &with_md5, ""), Ok(()));
    let other = "99914b932bd37a50b983c5e7c90ae93b";
    let bad = sign_request("GET", path, &[("body_md5", other)], b"", KEY, SECRET, NOW);
    assert_eq!(
        verify("GET", path, &bad, ""),
        Err(RequestAuthError::BodyMd5Mismatch)
    );
    let without = sign_request("GET", path, &[], b"", KEY, SECRET, NOW);
    assert!(!without.contains("body_md5"));
    assert_eq!(verify("GET", path, &without, ""), Ok(()));
}

#[test]
fn timestamp_window() {
    let path = "/apps/3/events";
    assert_eq!(
        verify_at("POST", path, V1_QUERY, V1_BODY, NOW + 600),
        Ok(())
    );
    assert_eq!(
        verify_at("POST", path, V1_QUERY, V1_BODY, NOW - 600),
        Ok(())
    );
    let expired = RequestAuthError::TimestampExpired {
        timestamp: NOW,
        server_time: NOW + 601,
    };
    assert_eq!(
        verify_at("POST", path, V1_QUERY, V1_BODY, NOW + 601),
        Err(expired)
    );
    assert!(verify_at("POST", path, V1_QUERY, V1_BODY, NOW - 601).is_err());
    let err = verify_at("POST", path, V1_QUERY, V1_BODY, 1_700_000_000).err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("Timestamp expired: 1353088179 is more than 600 s from server time 1700000000")
    );
    for bad in ["", "+1353088179", "-1", "1.5", "99999999999999999999999"] {
        let q = V1_QUERY.replace("1353088179", bad);
        let err = verify("POST", path, &q, V1_BODY);
        assert_eq!(err, Err(RequestAuthError::BadTimestamp), "{bad:?}");
    }
}

#[test]
fn duplicate_keys_joined_in_received_order() {
    let path = "/apps/3/channels/presence-foobar";
    let sig = "377ee9260ea002a70c0d40cd887d55cb36db9f7f821297f5efacbcce66be356d";
    let q = format!("info=user_count&{AUTH}&INFO=subscription_count&auth_signature={sig}");
    assert_eq!(verify("GET", path, &q, ""), Ok(()));
    let params = QueryParams::parse(&q).ok().unwrap_or_default();
    assert_eq!(params.get("info"), Some("user_count,subscription_count"));
    assert_eq!(params.len(), 5);
    // Reversed order signs a different string.
    let q = format!("info=subscription_count&{AUTH}&info=user_count&auth_signature={sig}");
    assert_eq!(
        verify("GET", path, &q, ""),
        Err(RequestAuthError::BadSignature)
    );
}

#[test]
fn query_parsing() {
    let params = QueryParams::parse("a=1&&B=x+y&c&d=%41%42&e=1=2&")
        .ok()
        .unwrap_or_default();
    let all: Vec<_> = params.iter().collect();
    assert_eq!(
        all,
        [
            ("a", "1"),
            ("b", "x+y"),
            ("c", ""),
            ("d", "AB"),
            ("e", "1=2")
        ]
    );
    assert!(QueryParams::parse("").is_ok_and(|p| p.is_empty()));
    for bad in ["a=%", "a=%4", "a=%zz", "a=%FF", "%C3=%A9"] {
        assert_eq!(
            QueryParams::parse(bad).err(),
            Some(RequestAuthError::BadQuery),
            "{bad}"
        );
    }
    assert_eq!(
        QueryParams::parse("k=%C3%A9")
            .ok()
            .and_then(|p| p.get("k").map(str::to_owned)),
        Some("é".to_owned())
    );
}

#[test]
fn sign_request_round_trips() {
    let path = "/apps/3/channels";
    let extra = [
        ("filter_by_prefix", "presence-"),
        ("info", "user_count,subscription_count"),
        ("odd", "a b&c=d%+é"),
    ];
    let q = sign_request("GET", path, &extra, b"", KEY, SECRET, NOW);
    let params = verify_request("GET", path, &q, b"", KEY, SECRET, NOW);
    let params = params.ok().unwrap_or_default();
    assert_eq!(params.get("odd"), Some("a b&c=d%+é"));
    assert_eq!(params.get("info"), Some("user_count,subscription_count"));
    let body = br#"{"name":"x"}"#;
    let q = sign_request("post", "/apps/3/events", &[], body, KEY, SECRET, NOW + 5);
    assert!(verify_request("POST", "/apps/3/events", &q, body, KEY, SECRET, NOW).is_ok());
    let wrong_secret = verify_request("POST", "/apps/3/events", &q, body, KEY, "other", NOW);
    assert_eq!(wrong_secret.err(), Some(RequestAuthError::BadSignature));
}
