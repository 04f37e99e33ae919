//! Connection refusals after the upgrade: unknown key (4001), disabled app (4003), app
//! connection quota (4004), unknown path (4005), bad protocol version (4006 / 4007), each as a
//! `pusher:error` followed by a close frame with the same code; accepted protocol versions,
//! including a missing `protocol` parameter; the order of the checks.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Ws, WAIT};
use serde_json::json;
use tungstenite::Message;

/// Asserts that an upgrade to `path` is accepted, then refused with `pusher:error` `code` and a
/// close frame carrying `code`.
fn assert_refused(server: &Server, path: &str, code: u16) {
    let mut ws = server.ws(path);
    let (close, before) = ws.expect_close();
    assert_eq!(close, code, "close code for {path}; messages: {before:?}");
    assert_eq!(
        before.len(),
        1,
        "exactly one pusher:error before the close: {before:?}"
    );
    let err = &before[0];
    assert_eq!(err["event"], "pusher:error", "{err}");
    assert_eq!(err["data"]["code"], code, "{err}");
    assert!(err["data"]["message"].is_string(), "{err}");
}

fn apps_server() -> Server {
    Server::with_apps(
        json!([
            {"id": "on", "key": "on-key", "secret": "on-secret"},
            {"id": "off", "key": "off-key", "secret": "off-secret", "enabled": false},
            {"id": "small", "key": "small-key", "secret": "small-secret", "max_connections": 4}
        ]),
        &[],
    )
}

#[test]
fn unknown_app_key_is_refused_with_4001() {
    let server = Server::start(&[]);
    assert_refused(&server, "/app/no-such-key?protocol=7", 4001);
    server.connect().ping_pong();
}

#[test]
fn disabled_app_is_refused_with_4003() {
    let server = apps_server();
    assert_refused(&server, "/app/off-key?protocol=7&client=js", 4003);
    server.connect_key("on-key").ping_pong();
}

#[test]
fn non_integer_protocol_is_refused_with_4006() {
    let server = Server::start(&[]);
    assert_refused(&server, "/app/app-key?protocol=abc", 4006);
    assert_refused(&server, "/app/app-key?protocol=7.0", 4006);
}

#[test]
fn unsupported_protocol_is_refused_with_4007() {
    let server = Server::start(&[]);
    assert_refused(&server, "/app/app-key?protocol=99", 4007);
    assert_refused(&server, "/app/app-key?protocol=4", 4007);
}

#[test]
fn supported_and_missing_protocol_versions_are_accepted() {
    let server = Server::start(&[]);
    for path in [
        "/app/app-key",
        "/app/app-key?client=js&version=8.4.0",
        "/app/app-key?protocol=5",
        "/app/app-key?protocol=6",
        "/app/app-key?protocol=7",
    ] {
        let mut ws = server.ws(path);
        ws.established();
        ws.ping_pong();
    }
}

#[test]
fn unknown_path_is_refused_with_4005() {
    let server = Server::start(&[]);
    for path in [
        "/foo",
        "/app/",
        "/app/app-key/extra?protocol=7",
        "/apps/app-key",
    ] {
        assert_refused(&server, path, 4005);
    }
}

#[test]
fn checks_run_in_the_specified_order() {
    let server = apps_server();
    assert_refused(&server, "/app/nope?protocol=abc", 4001);
    assert_refused(&server, "/app/off-key?protocol=99", 4003);
    assert_refused(&server, "/foo?protocol=abc", 4005);
}

#[test]
fn app_connection_quota_refuses_extra_connections_with_4004() {
    let server = apps_server();
    let mut admitted: Vec<Ws> = (0..4).map(|_| server.connect_key("small-key")).collect();
    // Several attempts, so that both shards are asked to admit one more.
    for _ in 0..4 {
        assert_refused(&server, &Server::pusher_path("small-key"), 4004);
    }
    for ws in &mut admitted {
        ws.ping_pong();
    }
    // Other apps are not affected by this app's quota.
    server.connect_key("on-key").ping_pong();
    // A closed connection frees its slot.
    let mut gone = admitted.pop().unwrap();
    gone.inner().close(None).expect("send close");
    let deadline = Instant::now() + WAIT;
    while gone.inner().read().is_ok() && Instant::now() < deadline {}
    drop(gone);
    loop {
        let mut ws = server.ws(&Server::pusher_path("small-key"));
        let first = ws.recv_json();
        if first["event"] == "pusher:connection_established" {
            break;
        }
        assert_eq!(first["data"]["code"], 4004, "{first}");
        assert!(
            Instant::now() < deadline,
            "slot not released within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn refused_connection_gets_no_connection_established() {
    let server = Server::start(&[]);
    let mut ws = server.ws("/app/missing?protocol=7");
    match ws.recv() {
        Message::Text(t) => assert!(
            !t.as_str().contains("connection_established"),
            "refused connection was greeted: {t}"
        ),
        other => panic!("expected pusher:error first, got {other:?}"),
    }
}
