//! TLS on the main port (`CORECAST_TLS_CERT`/`CORECAST_TLS_KEY`): every kind of connection over
//! TLS, a plain client on the TLS port, the plain second port, certificate reloads on SIGHUP,
//! the slow-consumer close over TLS, and refused TLS settings. Certificates come from a test CA
//! made at test time; clients trust that CA only.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tls::{Https, Issued, TestCa, TlsWs};
use common::{now_unix, Rest, Server, Ws, WAIT};
use corecast::transport::tls::fingerprint;
use serde_json::{json, Value};
use tungstenite::Message;

/// A server with TLS from `cert` plus `envs`.
fn tls_server(cert: &Issued, envs: &[(&str, &str)]) -> Server {
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let mut all = vec![("CORECAST_TLS_CERT", c), ("CORECAST_TLS_KEY", k)];
    all.extend_from_slice(envs);
    Server::start(&all)
}

/// A signed request for `method path` with `body`, as bytes for a raw connection.
fn signed(server: &Server, method: &str, path: &str, body: &str) -> Vec<u8> {
    let query = server
        .rest()
        .query(method, path, &[], body.as_bytes(), now_unix());
    format!(
        "{method} {path}?{query} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A signed `POST /events` publishing `data` as `event` on `channel`.
fn publish(server: &Server, channel: &str, event: &str, data: &str) -> Vec<u8> {
    let path = format!("/apps/{}/events", server.app.id);
    let body = json!({"name": event, "channels": [channel], "data": data}).to_string();
    signed(server, "POST", &path, &body)
}

fn expect_event(ws: &mut TlsWs, event: &str, channel: &str) -> Value {
    let msg = ws.recv_json();
    assert_eq!(msg["event"], event, "{msg}");
    assert_eq!(msg["channel"], channel, "{msg}");
    msg["data"].clone()
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Copies `from`'s files over `to`'s (the paths a running server reads on SIGHUP).
fn install(from: &Issued, to: &Issued) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

#[test]
fn pusher_over_wss_receives_an_https_publish() {
    let ca = TestCa::new();
    let cert = ca.issue("server", 7);
    let server = tls_server(&cert, &[]);
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
    let reply = https.exchange(&publish(&server, "news", "story", "hello over TLS"));
    assert_eq!(reply.ok(), &json!({}));
    assert_eq!(expect_event(&mut ws, "story", "news"), "hello over TLS");
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
    let server = tls_server(&ca.issue("server", 8), &[]);
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
    let server = tls_server(&ca.issue("server", 9), &[]);
    let client = ca.client();
    let mut ws = TlsWs::pusher(&client, server.addr, &server.app.key);
    ws.subscribe_ok("piped");
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend(publish(&server, "piped", "n", &i.to_string()));
    }
    burst.extend_from_slice(b"GET /up HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let channels = format!("/apps/{}/channels", server.app.id);
    burst.extend(signed(&server, "GET", &channels, ""));
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
        assert_eq!(expect_event(&mut ws, "n", "piped"), i.to_string());
    }
}

#[test]
fn a_plain_client_on_the_tls_port_gets_a_clear_refusal_and_others_are_unaffected() {
    let ca = TestCa::new();
    let server = tls_server(&ca.issue("server", 10), &[]);
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
        https.exchange(&publish(&server, "calm", "e", "still")).ok(),
        &json!({})
    );
    assert_eq!(expect_event(&mut before, "e", "calm"), "still");
    let mut after = TlsWs::pusher(&client, server.addr, &server.app.key);
    after.subscribe_ok("calm");
}

#[test]
fn the_plain_port_serves_websocket_and_rest_without_tls() {
    let ca = TestCa::new();
    let port = free_port().to_string();
    let server = tls_server(&ca.issue("server", 11), &[("CORECAST_PLAIN_PORT", &port)]);
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
        https.exchange(&publish(&server, "mixed", "e", "x")).ok(),
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
fn sighup_gives_new_connections_the_new_certificate_and_keeps_open_ones() {
    let ca = TestCa::new();
    let first = ca.issue("first", 1001);
    let second = ca.issue("second", 1002);
    let live = ca.issue("live", 1000);
    install(&first, &live);
    let server = tls_server(&live, &[]);
    let client = ca.client();
    let mut open = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(open.peer_leaf(), first.der());
    open.subscribe_ok("kept");
    let mut https = Https::connect(&client, server.addr);

    install(&second, &live);
    server.signal(libc::SIGHUP);
    server.wait_output("certificate reloaded", 1);
    assert!(
        server.output().contains(&fingerprint(&second.der())),
        "{}",
        server.output()
    );

    let mut fresh = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(fresh.peer_leaf(), second.der());
    assert_ne!(fresh.peer_leaf(), first.der());
    fresh.subscribe_ok("kept");
    // The connections opened before the reload still send and receive.
    assert_eq!(
        https
            .exchange(&publish(&server, "kept", "after", "reload"))
            .ok(),
        &json!({})
    );
    assert_eq!(expect_event(&mut open, "after", "kept"), "reload");
    assert_eq!(expect_event(&mut fresh, "after", "kept"), "reload");
    open.send_json(&json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(open.recv_json()["event"], "pusher:pong");
    assert_eq!(open.peer_leaf(), first.der());
}

#[test]
fn sighup_with_broken_files_keeps_the_old_certificate() {
    let ca = TestCa::new();
    let first = ca.issue("first", 2001);
    let second = ca.issue("second", 2002);
    let live = ca.issue("live", 2000);
    install(&first, &live);
    let server = tls_server(&live, &[]);
    let client = ca.client();
    let mut open = TlsWs::pusher(&client, server.addr, &server.app.key);
    open.subscribe_ok("steady");

    // A certificate file that is not PEM.
    std::fs::write(&live.cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_output("certificate not reloaded", 1);
    assert!(
        server.output().contains("CORECAST_TLS_CERT"),
        "{}",
        server.output()
    );
    let probe = common::tls::connect(&client, server.addr).unwrap();
    assert_eq!(common::tls::peer_leaf(&probe), first.der());

    // The first certificate with the second one's key.
    std::fs::copy(&first.cert, &live.cert).unwrap();
    std::fs::copy(&second.key, &live.key).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_output("certificate not reloaded", 2);
    assert!(
        server.output().contains("does not fit"),
        "{}",
        server.output()
    );
    let mut still = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(still.peer_leaf(), first.der());
    still.subscribe_ok("steady");

    // The server kept serving: the open connection and the new one both get a publish.
    let mut https = Https::connect(&client, server.addr);
    assert_eq!(
        https.exchange(&publish(&server, "steady", "e", "on")).ok(),
        &json!({})
    );
    assert_eq!(expect_event(&mut open, "e", "steady"), "on");
    assert_eq!(expect_event(&mut still, "e", "steady"), "on");

    // Fixed files are taken on the next SIGHUP.
    install(&second, &live);
    server.signal(libc::SIGHUP);
    server.wait_output("certificate reloaded", 1);
    let probe = common::tls::connect(&client, server.addr).unwrap();
    assert_eq!(common::tls::peer_leaf(&probe), second.der());
}

#[test]
fn a_slow_consumer_over_tls_is_closed_with_4100() {
    let ca = TestCa::new();
    let server = tls_server(&ca.issue("server", 12), &[("CORECAST_MAX_OUTBOX_KB", "64")]);
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
            expect_event(&mut reader, "big", "firehose");
            let _ = ack.send(());
        }
    });
    // 800 events of 9,000 bytes: far more than the outbox (64 KiB), the TLS send buffer
    // (64 KiB) and the sockets' buffers together hold.
    let data = "x".repeat(9000);
    let mut https = Https::connect(&client, server.addr);
    for _ in 0..EVENTS {
        let reply = https.exchange(&publish(&server, "firehose", "big", &data));
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

/// Runs the binary with `envs` and returns (exit code, stderr) once it exits.
fn refused_start(envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corecast"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CORECAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("CORECAST_HOST", "127.0.0.1")
        .env("CORECAST_PORT", "0")
        .env("CORECAST_SHARDS", "1")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the corecast binary");
    let deadline = Instant::now() + WAIT * 2;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with {envs:?} instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_tls_settings_are_refused_at_start_naming_the_variable() {
    let ca = TestCa::new();
    let one = ca.issue("one", 31);
    let two = ca.issue("two", 32);
    let (cert, key) = (one.cert.to_str().unwrap(), one.key.to_str().unwrap());
    let garbage = ca.dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = ca.dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("CORECAST_TLS_CERT", cert)],
            "CORECAST_TLS_CERT is set but CORECAST_TLS_KEY is not",
        ),
        (
            vec![("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_KEY is set but CORECAST_TLS_CERT is not",
        ),
        (
            vec![("CORECAST_TLS_CERT", missing), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT: cannot read",
        ),
        (
            vec![("CORECAST_TLS_CERT", cert), ("CORECAST_TLS_KEY", missing)],
            "CORECAST_TLS_KEY: cannot read",
        ),
        (
            vec![("CORECAST_TLS_CERT", garbage), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT:",
        ),
        (
            vec![("CORECAST_TLS_CERT", key), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT:",
        ),
        (
            vec![("CORECAST_TLS_CERT", cert), ("CORECAST_TLS_KEY", cert)],
            "CORECAST_TLS_KEY:",
        ),
        (
            vec![
                ("CORECAST_TLS_CERT", cert),
                ("CORECAST_TLS_KEY", two.key.to_str().unwrap()),
            ],
            "CORECAST_TLS_KEY: the key in",
        ),
        (
            vec![("CORECAST_PORT", "7443"), ("CORECAST_PLAIN_PORT", "7443")],
            "CORECAST_PLAIN_PORT=7443",
        ),
    ];
    for (envs, expected) in cases {
        let (code, err) = refused_start(&envs);
        assert_eq!(code, 2, "{envs:?}: {err}");
        assert!(
            err.contains(expected),
            "{envs:?}: expected {expected:?} in {err:?}"
        );
    }
}
