//! Misbehaving peers: garbage before the handshake, a huge request head, a stalled half-sent
//! request, invalid upgrade requests, an unmasked client frame, and abrupt disconnects. Each gets
//! an HTTP error or a close where one is due, and the server keeps serving everyone else.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{read_response, Reply, Server, WAIT};
use serde_json::json;

fn raw(server: &Server) -> TcpStream {
    let s = TcpStream::connect_timeout(&server.addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

fn reply_to(server: &Server, bytes: &[u8]) -> Reply {
    let mut s = raw(server);
    s.write_all(bytes).expect("write");
    read_response(&mut s, &mut Vec::new())
}

/// Asserts WebSocket and REST clients are still served.
fn assert_serving(server: &Server) {
    let mut ws = server.connect();
    ws.subscribe_ok("alive");
    server
        .rest()
        .trigger(json!({"name": "ok", "channel": "alive", "data": "1"}));
    ws.expect_event("ok", "alive");
}

#[test]
fn garbage_before_the_handshake_gets_an_http_error() {
    let server = Server::start(&[]);
    let mut bystander = server.connect();
    let mut bytes = b"\x00\x01\x02\xffgarbage\r\n\r\n".to_vec();
    bytes.extend_from_slice(
        b"GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    );
    let reply = reply_to(&server, &bytes);
    assert_eq!(reply.status, 400, "{}", reply.text());
    let reply = reply_to(&server, b"HELLO\r\n\r\n");
    assert!((400..500).contains(&reply.status), "{}", reply.status);
    bystander.ping_pong();
    assert_serving(&server);
}

#[test]
fn huge_request_head_gets_an_http_error() {
    let server = Server::start(&[]);
    let mut bystander = server.connect();
    let mut s = raw(&server);
    let mut head = b"GET /up HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..64 {
        head.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    // The server may answer and close before reading everything; a failed write is fine.
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(&head);
        })
    };
    let reply = read_response(&mut s, &mut Vec::new());
    assert!(
        reply.status == 431 || reply.status == 413 || reply.status == 400,
        "status {}",
        reply.status
    );
    drop(s);
    let _ = writer.join();
    bystander.ping_pong();
    assert_serving(&server);
}

#[test]
fn a_stalled_half_sent_request_does_not_block_others() {
    let server = Server::start(&[]);
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = raw(&server);
        s.write_all(b"GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpg")
            .unwrap();
        stalled.push(s);
    }
    let mut body_stalled = raw(&server);
    let path = format!("/apps/{}/events", server.app.id);
    body_stalled
        .write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{").as_bytes(),
        )
        .unwrap();
    assert_serving(&server);
    assert_eq!(server.rest().send("GET", "/up", b"", &[]).status, 200);
}

#[test]
fn invalid_upgrade_requests_get_http_errors() {
    let server = Server::start(&[]);
    let upgrade = |extra: &str| {
        format!(
            "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\n{extra}\r\n"
        )
    };
    let no_key = reply_to(&server, upgrade("Sec-WebSocket-Version: 13\r\n").as_bytes());
    assert_eq!(no_key.status, 400, "{}", no_key.text());
    let old = reply_to(
        &server,
        upgrade("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n")
            .as_bytes(),
    );
    assert_eq!(old.status, 426, "{}", old.text());
    assert_eq!(old.header("sec-websocket-version"), Some("13"));
    assert_serving(&server);
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let payload = br#"{"event":"pusher:ping","data":{}}"#;
    let mut frame = vec![0x81, payload.len() as u8];
    frame.extend_from_slice(payload);
    ws.inner().get_mut().write_all(&frame).unwrap();
    let (code, before) = ws.expect_close();
    assert_eq!(code, 1002, "messages before the close: {before:?}");
    assert_serving(&server);
}

#[test]
fn abrupt_disconnects_are_cleaned_up() {
    let server = Server::start(&[]);
    let mut keeper = server.connect();
    keeper.subscribe_ok("keep");
    for _ in 0..20 {
        let mut ws = server.connect();
        ws.subscribe_ok("drop");
        ws.subscribe_ok("keep");
        // Dropped without a close frame.
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let conns: u64 = server.gauge("corecast_connections").iter().sum();
        let subs: u64 = server.gauge("corecast_subscriptions").iter().sum();
        if conns == 1 && subs == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{conns} connections, {subs} subscriptions left after disconnects"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rest = server.rest();
    assert_eq!(
        rest.get("channels/drop", &[]).ok(),
        &json!({"occupied": false})
    );
    rest.trigger(json!({"name": "still", "channel": "keep", "data": "1"}));
    keeper.expect_event("still", "keep");
}

#[test]
fn a_second_server_on_the_same_port_is_refused() {
    // Shards listen with SO_REUSEPORT; without this check a second server would silently
    // take half of the first one's connections.
    let server = Server::start(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corecast"))
        .env("CORECAST_HOST", "127.0.0.1")
        .env("CORECAST_PORT", server.addr.port().to_string())
        .env("CORECAST_SHARDS", "1")
        .output()
        .expect("run a second server");
    assert_eq!(
        out.status.code(),
        Some(1),
        "second server must refuse to start"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already listening"), "{stderr}");
    let mut ws = server.connect();
    ws.ping_pong();
}

#[test]
fn a_restart_on_the_same_port_is_not_refused_for_the_old_connections() {
    // Connections the server closed first stay in TIME_WAIT on its port for a minute after it
    // stops; they must not pass for a server still listening there.
    let server = Server::start(&[]);
    let port = server.addr.port().to_string();
    for _ in 0..4 {
        let mut s = raw(&server);
        s.write_all(b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut all).expect("read until the server closes");
        assert!(
            all.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&all)
        );
    }
    let addr = server.addr;
    drop(server);
    // The kernel may take a moment to close the listeners of the killed process's io_uring.
    let deadline = Instant::now() + WAIT;
    while std::net::TcpListener::bind(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{addr} still refuses a SO_REUSEADDR bind"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let again = Server::start(&[("CORECAST_PORT", &port)]);
    assert_eq!(again.addr.port().to_string(), port);
    again.connect().ping_pong();
}

#[test]
fn bad_settings_are_refused_naming_the_variable() {
    for (var, value) in [
        ("CORECAST_PORT", "http"),
        ("CORECAST_SHARDS", "0"),
        ("CORECAST_ACTIVITY_TIMEOUT", "0"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_corecast"))
            .env(var, value)
            .output()
            .expect("run the server");
        assert_eq!(out.status.code(), Some(2), "{var}={value} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_corecast"))
        .env("CORECAST_APPS_FILE", "/nonexistent/apps.json")
        .output()
        .expect("run the server");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CORECAST_APPS_FILE"));
}
