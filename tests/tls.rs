//! TLS on the main port (`CORECAST_TLS_CERT`/`CORECAST_TLS_KEY`): every kind of connection over
//! TLS, a plain client on the TLS port, the plain second port, and the slow-consumer close over
//! TLS. Certificates come from a test CA made at test time; clients trust that CA only.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::pki::TestCa;
use common::tls::{Https, TlsWs};
use common::{Rest, Server, Ws, WAIT};
use serde_json::json;
use tungstenite::Message;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn pusher_over_wss_receives_an_https_publish() {
    let ca = TestCa::new();
    let cert = ca.issue("server", 7);
    let server = Server::start_tls(&cert, &[]);
    assert!(
        server.output().contains("listening on")
            && server.output().contains(&format!("wss://{}", server.addr)),
        "{}",
        server.output()
    );
    let client = ca.client();
    let mut ws = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert!(common::is_socket_id(&ws.socket_id), "{}", ws.socket_id);
    assert_eq!(ws.peer_leaf(), cert.der());
    ws.subscribe_ok("news");
    let mut https = Https::connect(&client, server.addr);
    let reply = https.exchange(&server.publish_bytes("news", "story", "hello over TLS"));
    assert_eq!(reply.ok(), &json!({}));
    assert_eq!(ws.expect_event("story", "news"), "hello over TLS");
    // Client messages and pings over the same session.
    ws.send_json(&json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(ws.recv_json()["event"], "pusher:pong");
    // The same HTTPS connection stays alive for /up and /metrics.
    let up = https.exchange(b"GET /up HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(up.status, 200, "{}", up.text());
    let metrics = https.exchange(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text().contains("corecast_connections"),
        "{}",
        metrics.text()
    );
}

#[test]
fn raw_channels_relay_over_wss() {
    let ca = TestCa::new();
    let server = Server::start_tls(&ca.issue("server", 8), &[]);
    let client = ca.client();
    let path = format!("/v3/room-1?api_key={}", server.app.key);
    let mut a = TlsWs::open(&client, server.addr, &path);
    let mut b = TlsWs::open(&client, server.addr, &path);
    a.send_text("ping from a");
    match b.recv() {
        Message::Text(t) => assert_eq!(t.as_str(), "ping from a"),
        other => panic!("expected the relayed text, got {other:?}"),
    }
    b.inner()
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .unwrap();
    match a.recv() {
        Message::Binary(bytes) => assert_eq!(&bytes[..], &[0u8, 1, 2, 255]),
        other => panic!("expected the relayed binary, got {other:?}"),
    }
    // The sender does not get its own message (no notify_self).
    assert!(b.recv_within(Duration::from_millis(300)).is_none());
}

#[test]
fn pipelined_rest_requests_over_tls_are_answered_in_order() {
    let ca = TestCa::new();
    let server = Server::start_tls(&ca.issue("server", 9), &[]);
    let client = ca.client();
    let mut ws = TlsWs::pusher(&client, server.addr, &server.app.key);
    ws.subscribe_ok("piped");
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend(server.publish_bytes("piped", "n", &i.to_string()));
    }
    burst.extend_from_slice(b"GET /up HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let channels = format!("/apps/{}/channels", server.app.id);
    burst.extend(server.signed_bytes("GET", &channels, ""));
    let mut https = Https::connect(&client, server.addr);
    https.write(&burst);
    for _ in 0..20 {
        assert_eq!(https.read_reply().ok(), &json!({}));
    }
    assert_eq!(https.read_reply().status, 200);
    let list = https.read_reply();
    assert!(
        list.ok()["channels"]["piped"].is_object(),
        "{}",
        list.text()
    );
    for i in 0..20 {
        assert_eq!(ws.expect_event("n", "piped"), i.to_string());
    }
}

#[test]
fn a_plain_client_on_the_tls_port_gets_a_clear_refusal_and_others_are_unaffected() {
    let ca = TestCa::new();
    let server = Server::start_tls(&ca.issue("server", 10), &[]);
    let client = ca.client();
    let mut before = TlsWs::pusher(&client, server.addr, &server.app.key);
    before.subscribe_ok("calm");

    // Plain HTTP and a plain WebSocket upgrade: 400 with a JSON body saying to use TLS.
    for request in [
        "GET /up HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        "GET /app/app-key HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            .to_string(),
    ] {
        let mut plain = TcpStream::connect(server.addr).unwrap();
        plain.set_read_timeout(Some(WAIT)).unwrap();
        plain.write_all(request.as_bytes()).unwrap();
        let reply = common::read_response(&mut plain, &mut Vec::new());
        reply.assert_error(400);
        assert!(
            reply.body["error"].as_str().unwrap().contains("TLS"),
            "{}",
            reply.text()
        );
    }
    // Bytes that are neither TLS nor HTTP: the connection is closed.
    let mut junk = TcpStream::connect(server.addr).unwrap();
    junk.set_read_timeout(Some(WAIT)).unwrap();
    junk.write_all(&[0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(junk.read(&mut buf), Ok(0) | Err(_)));
    // A TLS record that is not a valid ClientHello: closed too.
    let mut bad = TcpStream::connect(server.addr).unwrap();
    bad.set_read_timeout(Some(WAIT)).unwrap();
    bad.write_all(&[0x16, 3, 1, 0, 4, 9, 9, 9, 9]).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match bad.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "not closed within {WAIT:?}"),
        }
    }

    // The server still serves TLS, old and new connections alike.
    let mut https = Https::connect(&client, server.addr);
    assert_eq!(
        https
            .exchange(&server.publish_bytes("calm", "e", "still"))
            .ok(),
        &json!({})
    );
    assert_eq!(before.expect_event("e", "calm"), "still");
    let mut after = TlsWs::pusher(&client, server.addr, &server.app.key);
    after.subscribe_ok("calm");
}

#[test]
fn the_plain_port_serves_websocket_and_rest_without_tls() {
    let ca = TestCa::new();
    let port = free_port().to_string();
    let server = Server::start_tls(&ca.issue("server", 11), &[("CORECAST_PLAIN_PORT", &port)]);
    let plain: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let out = server.output();
    assert!(
        out.contains(&format!("plain:    {plain} without TLS")),
        "{out}"
    );
    assert!(out.contains("tls:      on (cert "), "{out}");
    // A plain subscriber gets what is published over HTTPS on the TLS port.
    let mut ws = Ws::open(plain, &Server::pusher_path(&server.app.key)).unwrap();
    ws.established();
    ws.subscribe_ok("mixed");
    let mut https = Https::connect(&ca.client(), server.addr);
    assert_eq!(
        https
            .exchange(&server.publish_bytes("mixed", "e", "x"))
            .ok(),
        &json!({})
    );
    assert_eq!(ws.expect_event("e", "mixed"), "x");
    // Plain REST (a health check) on the plain port.
    let mut rest = Rest::new(plain, server.app.clone());
    assert_eq!(rest.send("GET", "/up", b"", &[]).status, 200);
    rest.trigger(json!({"name": "e", "channels": ["mixed"], "data": "y"}));
    assert_eq!(ws.expect_event("e", "mixed"), "y");
    // The plain port does not speak TLS.
    assert!(common::tls::connect(&ca.client(), plain).is_err());
}

#[test]
fn a_slow_consumer_over_tls_is_closed_with_4100() {
    let ca = TestCa::new();
    let server = Server::start_tls(&ca.issue("server", 12), &[("CORECAST_MAX_OUTBOX_KB", "64")]);
    let client = ca.client();
    let stream = common::tls::connect_small_window(&client, server.addr);
    let mut slow = TlsWs::pusher_on(stream, server.addr, &server.app.key);
    slow.subscribe_ok("firehose");
    let mut reader = TlsWs::pusher(&client, server.addr, &server.app.key);
    reader.subscribe_ok("firehose");
    const EVENTS: usize = 800;
    // The reader keeps up (on its own thread, each event acknowledged before the next is
    // published) while `slow` reads nothing.
    let (ack, acks) = std::sync::mpsc::channel();
    let reading = std::thread::spawn(move || {
        for _ in 0..EVENTS {
            reader.expect_event("big", "firehose");
            let _ = ack.send(());
        }
    });
    // 800 events of 9,000 bytes: far more than the outbox (64 KiB), the TLS send buffer
    // (64 KiB) and the sockets' buffers together hold.
    let data = "x".repeat(9000);
    let mut https = Https::connect(&client, server.addr);
    for _ in 0..EVENTS {
        let reply = https.exchange(&server.publish_bytes("firehose", "big", &data));
        assert_eq!(reply.ok(), &json!({}));
        acks.recv_timeout(WAIT)
            .expect("the reading subscriber received the event");
    }
    reading
        .join()
        .expect("the reading subscriber got every event");
    let (code, before) = slow.expect_close_within(Duration::from_secs(20));
    assert_eq!(code, 4100, "messages before the close: {}", before.len());
    assert!(before.len() < EVENTS, "all {} events arrived", before.len());
    assert!(
        before.last().is_some_and(|m| m.contains("pusher:error")),
        "{:?}",
        before.last()
    );
}
