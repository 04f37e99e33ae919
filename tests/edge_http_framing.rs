//! Ambiguous HTTP framing (request smuggling behind a proxy, RFC 9112 §6.1/§6.3): every request
//! whose body length two parsers could read differently gets `400` with a JSON error and the
//! connection is closed, so a request hidden in its body is never answered. Spoken over raw TCP,
//! byte for byte, on REST requests (first or pipelined) and on WebSocket upgrades.

mod common;
#[path = "common/wire.rs"]
mod wire;

use std::io::Write;
use std::time::Duration;

use common::{read_response, Reply, Server, WAIT};
use wire::{read_to_end_within, upgrade_request};

/// A request that must never be answered: the server would say `200` to it.
const SMUGGLED: &str = "GET /up HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends `bytes` on a new connection; returns the one response and whatever came after it
/// until the server closed (which it must, within the bound).
fn refused(server: &Server, bytes: &[u8]) -> (Reply, Vec<u8>) {
    let mut s = wire::connect(server.addr);
    s.write_all(bytes).expect("write");
    let mut buf = Vec::new();
    let reply = read_response(&mut s, &mut buf);
    let (rest, _) = read_to_end_within(&mut s, WAIT + Duration::from_secs(2));
    buf.extend_from_slice(&rest);
    (reply, buf)
}

/// A POST to the events endpoint with framing header lines `framing`, then `SMUGGLED` as body.
fn post_with(server: &Server, framing: &str) -> Vec<u8> {
    format!(
        "POST /apps/{}/events HTTP/1.1\r\nHost: x\r\n{framing}\r\n{SMUGGLED}",
        server.app.id
    )
    .into_bytes()
}

fn assert_closed_with(server: &Server, bytes: &[u8], status: u16, what: &str) {
    let (reply, after) = refused(server, bytes);
    reply.assert_error(status);
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "{what}: {:?}",
        reply.headers
    );
    assert!(
        after.is_empty(),
        "{what}: nothing may follow the refusal, got {:?}",
        String::from_utf8_lossy(&after)
    );
}

#[test]
fn ambiguous_content_lengths_get_400_and_close_without_answering_the_body() {
    let server = Server::start(&[]);
    let n = SMUGGLED.len();
    let cases = [
        (
            format!("Content-Length: 0\r\nContent-Length: {n}\r\n"),
            "two different lengths",
        ),
        (
            format!("Content-Length: {n}\r\nContent-Length: {n}\r\n"),
            "a repeated length",
        ),
        (format!("Content-Length: +{n}\r\n"), "a signed length"),
        (format!("Content-Length: -{n}\r\n"), "a negative length"),
        ("Content-Length: abc\r\n".to_string(), "no digits"),
        ("Content-Length: 1a\r\n".to_string(), "a trailing letter"),
        ("Content-Length:\r\n".to_string(), "an empty value"),
        (format!("Content-Length: 0, {n}\r\n"), "a comma list"),
        (
            "Content-Length: 99999999999999999999999999\r\n".to_string(),
            "an overflowing length",
        ),
    ];
    for (framing, what) in cases {
        assert_closed_with(&server, &post_with(&server, &framing), 400, what);
    }
    assert_eq!(server.rest().send("GET", "/up", b"", &[]).status, 200);
}

#[test]
fn transfer_encodings_other_than_a_lone_chunked_get_400_and_close() {
    let server = Server::start(&[]);
    let n = SMUGGLED.len();
    let cases = [
        (
            "Transfer-Encoding: gzip, chunked\r\n".to_string(),
            "a coding list",
        ),
        ("Transfer-Encoding: identity\r\n".to_string(), "identity"),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n".to_string(),
            "chunked twice",
        ),
        (
            format!("Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n"),
            "chunked with a length",
        ),
        (
            "Content-Length: 0\r\nTransfer-Encoding: gzip\r\n".to_string(),
            "a length with a coding",
        ),
    ];
    for (framing, what) in cases {
        assert_closed_with(&server, &post_with(&server, &framing), 400, what);
    }
    // A lone chunked coding is understood and still answered with 411, then the connection
    // closes: the chunks cannot be framed.
    let lone = post_with(&server, "Transfer-Encoding: chunked\r\n");
    assert_closed_with(&server, &lone, 411, "a lone chunked coding");
}

#[test]
fn a_pipelined_request_with_ambiguous_framing_is_refused_after_the_ones_before_it() {
    let server = Server::start(&[]);
    let mut bytes = b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    bytes.extend_from_slice(&post_with(
        &server,
        "Content-Length: 0\r\nContent-Length: 29\r\n",
    ));
    let mut s = wire::connect(server.addr);
    s.write_all(&bytes).expect("write");
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf);
    assert_eq!(first.status, 200, "{}", first.text());
    let second = read_response(&mut s, &mut buf);
    second.assert_error(400);
    assert!(
        second.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("Content-Length")),
        "{}",
        second.text()
    );
    let (rest, _) = read_to_end_within(&mut s, WAIT + Duration::from_secs(2));
    buf.extend_from_slice(&rest);
    assert!(
        buf.is_empty(),
        "the smuggled request was answered: {:?}",
        String::from_utf8_lossy(&buf)
    );
}

#[test]
fn websocket_upgrades_with_ambiguous_framing_or_a_body_are_refused() {
    let server = Server::start(&[]);
    let path = Server::pusher_path(&server.app.key);
    // The "body" is a valid client frame: were it accepted, it would be read as a ping.
    let ping = wire::text_frame(br#"{"event":"pusher:ping","data":{}}"#);
    let cases = [
        (
            "Content-Length: 0\r\nContent-Length: 5\r\n".to_string(),
            400,
        ),
        ("Content-Length: +0\r\n".to_string(), 400),
        ("Transfer-Encoding: gzip\r\n".to_string(), 400),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n".to_string(),
            400,
        ),
        (format!("Content-Length: {}\r\n", ping.len()), 400),
        ("Transfer-Encoding: chunked\r\n".to_string(), 411),
    ];
    for (framing, status) in cases {
        let mut bytes = upgrade_request(&path, &framing).into_bytes();
        bytes.extend_from_slice(&ping);
        let (reply, after) = refused(&server, &bytes);
        reply.assert_error(status);
        assert!(
            after.is_empty(),
            "{framing:?}: {:?}",
            String::from_utf8_lossy(&after)
        );
    }
    // An upgrade with an explicit empty body is fine.
    let mut s = wire::connect(server.addr);
    s.write_all(upgrade_request(&path, "Content-Length: 0\r\n").as_bytes())
        .unwrap();
    let reply = read_response(&mut s, &mut Vec::new());
    assert_eq!(reply.status, 101);
    server.connect().ping_pong();
}
