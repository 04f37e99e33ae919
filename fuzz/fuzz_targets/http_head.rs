//! `parse_head` and what the server decides from a head: the body length
//! (`RequestHead::content_length`, the framing decision), keep-alive, header tokens and the query
//! helpers. The input is the bytes a client sends.
//!
//! Invariants:
//! * no panic; a complete head ends at a line end inside the input, and parses the same from
//!   its own bytes (what follows it cannot change it);
//! * every strict prefix of a complete head is "incomplete", never an error or another head
//!   (the server re-parses as bytes arrive);
//! * the body length is unambiguous (RFC 9112 §6.3): accepted only when every `Content-Length`
//!   is plain digits of one value, never next to `Transfer-Encoding`, and `Transfer-Encoding`
//!   only as exactly `chunked` (with no body length of its own); no framing headers means 0;
//! * `keep_alive`, `header_has_token`, `query_param` and `query_pairs` agree with their
//!   documented rules.

#![no_main]

use corecast::http::{parse_head, RequestHead};
use libfuzzer_sys::fuzz_target;

/// Values of every header called `name` (case-insensitive), as text.
fn values<'a>(head: &'a RequestHead, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn check_framing(head: &RequestHead) {
    let lengths: Vec<&[u8]> = values(head, "content-length").collect();
    let encodings: Vec<&[u8]> = values(head, "transfer-encoding").collect();
    let decided = head.content_length();
    let Ok(len) = decided else {
        return;
    };
    for v in &lengths {
        let v = trim(v);
        assert!(
            !v.is_empty() && v.iter().all(u8::is_ascii_digit),
            "Content-Length {:?} accepted as {len}",
            String::from_utf8_lossy(v)
        );
        let parsed = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        assert_eq!(
            parsed,
            Some(len),
            "Content-Length values disagree but {len} was accepted"
        );
    }
    if !encodings.is_empty() {
        assert!(
            lengths.is_empty(),
            "Transfer-Encoding with Content-Length accepted as {len}"
        );
        for v in &encodings {
            assert!(
                trim(v).eq_ignore_ascii_case(b"chunked"),
                "Transfer-Encoding {:?} accepted",
                String::from_utf8_lossy(v)
            );
        }
        assert_eq!(len, 0, "chunked framing given a length");
    }
    if lengths.is_empty() && encodings.is_empty() {
        assert_eq!(len, 0);
    }
}

fn check_tokens(head: &RequestHead) {
    for (name, token) in [
        ("connection", "close"),
        ("connection", "keep-alive"),
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("transfer-encoding", "chunked"),
        ("expect", "100-continue"),
    ] {
        let want = values(head, name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)));
        assert_eq!(head.header_has_token(name, token), want, "{name}: {token}");
    }
    let close = head.header_has_token("connection", "close");
    let keep = head.header_has_token("connection", "keep-alive");
    assert_eq!(head.keep_alive(), !close && (head.version >= 1 || keep));
    if let Some(first) = values(head, "host").next() {
        assert_eq!(head.header("HOST"), Some(first));
    }
}

fn check_query(head: &RequestHead) {
    let pairs: Vec<(&str, &str)> = corecast::http::query_pairs(&head.query).collect();
    let nonempty = head.query.split('&').filter(|p| !p.is_empty()).count();
    assert_eq!(pairs.len(), nonempty);
    for (i, (k, v)) in pairs.iter().enumerate() {
        assert!(!k.contains('&') && !k.contains('=') && !v.contains('&'));
        let first = pairs.iter().position(|(k2, _)| k2 == k);
        if first == Some(i) {
            assert_eq!(head.query_param(k), Some(*v));
        }
    }
    assert!(!head.path.contains('?'));
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some((head, n))) = parse_head(data) else {
        return;
    };
    assert!(n > 0 && n <= data.len());
    assert_eq!(data[n - 1], b'\n', "head does not end at a line end");
    let Ok(Some((again, m))) = parse_head(&data[..n]) else {
        panic!("the head alone does not parse");
    };
    assert_eq!(m, n);
    assert_eq!(
        (
            &again.method,
            &again.path,
            &again.query,
            again.version,
            &again.headers
        ),
        (
            &head.method,
            &head.path,
            &head.query,
            head.version,
            &head.headers
        )
    );
    // Prefixes the server may see while the head arrives: at every line end, and a few more.
    let line_ends = data[..n - 1]
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n' || b == b'\r')
        .map(|(i, _)| i + 1);
    for cut in line_ends.chain([n - 1, n / 2, 1]).filter(|&c| c < n) {
        assert!(
            matches!(parse_head(&data[..cut]), Ok(None)),
            "prefix of {cut} of a {n}-byte head is not reported incomplete"
        );
    }
    check_framing(&head);
    check_tokens(&head);
    check_query(&head);
});
