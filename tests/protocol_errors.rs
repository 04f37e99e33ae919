//! Inbound robustness on an open connection: malformed JSON, non-object JSON and a missing
//! `event` give `pusher:error` with a null code and keep the connection; unknown `pusher:` events
//! are ignored; binary frames holding JSON count as text while other binary frames are ignored;
//! a message over the size limit closes only that connection, with 1009.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{json, Value};
use tungstenite::Message;

/// Asserts the next message is `pusher:error` with a null code, then that the connection works.
fn assert_null_error_and_alive(ws: &mut common::Ws, sent: &str) {
    let reply = ws.recv_json();
    assert_eq!(reply["event"], "pusher:error", "reply to {sent:?}: {reply}");
    assert_eq!(
        reply["data"]["code"],
        Value::Null,
        "reply to {sent:?}: {reply}"
    );
    assert!(
        reply["data"]["message"].is_string(),
        "reply to {sent:?}: {reply}"
    );
    ws.ping_pong();
}

#[test]
fn malformed_json_gets_null_coded_error_and_connection_stays() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    for bad in [
        "not json",
        "{\"event\":",
        "{\"event\":\"pusher:ping\",}",
        "",
    ] {
        ws.send_text(bad);
        assert_null_error_and_alive(&mut ws, bad);
    }
}

#[test]
fn non_object_json_gets_null_coded_error_and_connection_stays() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    for bad in [
        "[1,2]",
        "\"pusher:ping\"",
        "42",
        "null",
        "true",
        // Arrays shaped like an envelope's fields, and subscribe data as an array.
        r#"["pusher:ping"]"#,
        r#"["pusher:subscribe",null,{"channel":"my-channel"}]"#,
        r#"{"event":"pusher:subscribe","data":["my-channel"]}"#,
    ] {
        ws.send_text(bad);
        assert_null_error_and_alive(&mut ws, bad);
    }
}

#[test]
fn missing_or_non_string_event_gets_null_coded_error() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    for bad in [
        r#"{}"#,
        r#"{"data":{}}"#,
        r#"{"event":5}"#,
        r#"{"event":null}"#,
    ] {
        ws.send_text(bad);
        assert_null_error_and_alive(&mut ws, bad);
    }
}

#[test]
fn unknown_pusher_events_are_ignored() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send_json(&json!({"event": "pusher:xyz", "data": {}}));
    ws.send_json(&json!({"event": "pusher_internal:subscription_succeeded", "data": "{}"}));
    ws.send_json(&json!({"event": "pusher:whatever"}));
    // The pong must be the very next message: nothing was sent back for the unknown events.
    ws.ping_pong();
}

#[test]
fn binary_frame_with_json_is_treated_as_text() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send(Message::binary(
        br#"{"event":"pusher:ping","data":{}}"#.to_vec(),
    ));
    assert_eq!(ws.recv_json(), json!({"event": "pusher:pong", "data": {}}));
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "bin-chan"}});
    ws.send(Message::binary(sub.to_string().into_bytes()));
    common::assert_succeeded(&ws.recv_json(), "bin-chan");
}

#[test]
fn binary_garbage_is_ignored() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send(Message::binary(vec![0xff, 0xfe, 0x00, 0x80, 0xc3]));
    ws.send(Message::binary(b"{\"event\":\"pusher:ping\"\xff}".to_vec()));
    ws.ping_pong();
}

#[test]
fn binary_utf8_that_is_not_json_is_ignored() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send(Message::binary(b"hello, not json".to_vec()));
    ws.send(Message::binary(Vec::new()));
    ws.ping_pong();
}

/// A `pusher:ping` text message padded with spaces to exactly `len` bytes.
fn padded_ping(len: usize) -> String {
    let base = r#"{"event":"pusher:ping","data":{}}"#;
    assert!(len >= base.len());
    let mut s = String::from(r#"{"event":"pusher:ping","data":{}"#);
    s.push_str(&" ".repeat(len - base.len()));
    s.push('}');
    assert_eq!(s.len(), len);
    s
}

#[test]
fn message_over_configured_limit_closes_with_1009_and_spares_others() {
    let server = Server::start(&[("CORECAST_MAX_MESSAGE_KB", "1")]);
    let mut bystander = server.connect();
    bystander.subscribe_ok("bystanders");
    let mut ws = server.connect();
    ws.send_text(&padded_ping(1024));
    assert_eq!(
        ws.recv_json()["event"],
        "pusher:pong",
        "a message at the limit is fine"
    );
    ws.send_text(&padded_ping(1025));
    let (code, before) = ws.expect_close();
    assert_eq!(code, 1009, "messages before the close: {before:?}");
    bystander.ping_pong();
    server
        .rest()
        .trigger(json!({"name": "e", "channel": "bystanders", "data": "still here"}));
    assert_eq!(bystander.expect_event("e", "bystanders"), "still here");
    server.connect().ping_pong();
}

#[test]
fn default_message_limit_is_32_kib() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send_text(&padded_ping(32 * 1024));
    assert_eq!(ws.recv_json()["event"], "pusher:pong");
    ws.send_text(&padded_ping(32 * 1024 + 1));
    let (code, before) = ws.expect_close();
    assert_eq!(code, 1009, "messages before the close: {before:?}");
}

#[test]
fn fragmented_message_is_reassembled() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let text = r#"{"event":"pusher:ping","data":{}}"#.as_bytes();
    let (a, b) = text.split_at(10);
    let inner = ws.inner();
    inner
        .write(Message::Frame(
            tungstenite::protocol::frame::Frame::message(
                a.to_vec(),
                tungstenite::protocol::frame::coding::OpCode::Data(
                    tungstenite::protocol::frame::coding::Data::Text,
                ),
                false,
            ),
        ))
        .expect("first fragment");
    inner
        .write(Message::Frame(
            tungstenite::protocol::frame::Frame::message(
                b.to_vec(),
                tungstenite::protocol::frame::coding::OpCode::Data(
                    tungstenite::protocol::frame::coding::Data::Continue,
                ),
                true,
            ),
        ))
        .expect("last fragment");
    inner.flush().expect("flush");
    assert_eq!(ws.recv_json()["event"], "pusher:pong");
    ws.assert_silent(Duration::from_millis(100));
}
