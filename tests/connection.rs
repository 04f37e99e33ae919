//! Connection basics: `pusher:connection_established` as the first frame, socket id shape and
//! uniqueness, `pusher:ping` / WebSocket ping answers, and the server's keep-alive (probe after
//! silence, close 4201 when unanswered, no close when the client answers).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{is_socket_id, Server};
use serde_json::{json, Value};
use tungstenite::Message;

#[test]
fn connection_established_comes_first_with_socket_id_and_activity_timeout() {
    let server = Server::start(&[("CORECAST_ACTIVITY_TIMEOUT", "37")]);
    let mut ws = server.ws(&Server::pusher_path(&server.app.key));
    let first = ws.recv_json();
    assert_eq!(first["event"], "pusher:connection_established", "{first}");
    assert!(first.get("channel").is_none(), "no channel key: {first}");
    let data: Value = serde_json::from_str(first["data"].as_str().expect("data is a string"))
        .expect("data holds JSON");
    let socket_id = data["socket_id"].as_str().expect("socket_id is a string");
    assert!(is_socket_id(socket_id), "socket id {socket_id:?}");
    assert_eq!(data["activity_timeout"], 37, "{data}");
}

#[test]
fn default_activity_timeout_is_120() {
    let server = Server::start(&[]);
    let mut ws = server.ws(&Server::pusher_path(&server.app.key));
    let data = ws.established();
    assert_eq!(data["activity_timeout"], 120, "{data}");
}

#[test]
fn socket_ids_are_unique_across_many_connections_and_shards() {
    let server = Server::start(&[]);
    let conns: Vec<_> = (0..50).map(|_| server.connect()).collect();
    let per_shard = server.gauge("corecast_connections");
    assert_eq!(per_shard.iter().sum::<u64>(), 50, "{per_shard:?}");
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "both shards used: {per_shard:?}"
    );
    let ids: HashSet<&str> = conns.iter().map(|c| c.socket_id.as_str()).collect();
    assert_eq!(ids.len(), conns.len(), "duplicate socket ids");
    for id in ids {
        assert!(is_socket_id(id), "socket id {id:?}");
        let (a, b) = id.split_once('.').unwrap();
        for part in [a, b] {
            assert!(
                part == "0" || !part.starts_with('0'),
                "leading zero in {id:?}"
            );
        }
    }
}

#[test]
fn pusher_ping_is_answered_with_pusher_pong() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    for _ in 0..3 {
        ws.send_json(&json!({"event": "pusher:ping", "data": {}}));
        let reply = ws.recv_json();
        assert_eq!(reply, json!({"event": "pusher:pong", "data": {}}));
    }
}

#[test]
fn websocket_ping_frame_is_answered_with_pong_frame() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send(Message::Ping(b"are you there".to_vec().into()));
    match ws.recv() {
        Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong frame, got {other:?}"),
    }
    ws.ping_pong();
}

fn keepalive_server() -> Server {
    Server::start(&[
        ("CORECAST_ACTIVITY_TIMEOUT", "1"),
        ("CORECAST_PONG_TIMEOUT", "1"),
    ])
}

#[test]
fn silent_connection_is_probed_then_closed_with_4201() {
    let server = keepalive_server();
    let mut ws = server.connect();
    let probe = ws
        .recv_within(Duration::from_secs(4))
        .expect("server sends pusher:ping after activity_timeout of silence");
    let Message::Text(text) = probe else {
        panic!("expected a pusher:ping text frame, got {probe:?}");
    };
    let probe: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(probe["event"], "pusher:ping", "{probe}");
    let probed_at = Instant::now();
    let (code, before) = ws.expect_close_within(Duration::from_secs(5));
    assert_eq!(code, 4201, "close code; messages before: {before:?}");
    assert!(
        probed_at.elapsed() >= Duration::from_millis(500),
        "closed {:?} after the probe, before the pong timeout",
        probed_at.elapsed()
    );
    assert!(
        before
            .iter()
            .any(|m| m["event"] == "pusher:error" && m["data"]["code"] == 4201),
        "pusher:error 4201 precedes the close: {before:?}"
    );
}

#[test]
fn connection_that_answers_probes_stays_open() {
    let server = keepalive_server();
    let mut ws = server.connect();
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed() < Duration::from_millis(4500) {
        let left = Duration::from_millis(4500).saturating_sub(start.elapsed());
        let Some(msg) = ws.recv_within(left) else {
            break;
        };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["event"], "pusher:ping", "unexpected {v}");
                probes += 1;
                ws.send_json(&json!({"event": "pusher:pong", "data": {}}));
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("connection must stay open, got {other:?}"),
        }
    }
    assert!(probes >= 2, "expected repeated probes, got {probes}");
    ws.ping_pong();
}

#[test]
fn client_traffic_postpones_the_probe() {
    let server = keepalive_server();
    let mut ws = server.connect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3000) {
        ws.ping_pong();
        std::thread::sleep(Duration::from_millis(300));
    }
}
