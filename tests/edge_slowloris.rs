//! Slowloris: a request head (or body) that trickles in a byte at a time is cut off at its total
//! deadline instead of being kept alive by every byte, an idle keep-alive connection is closed
//! after its own timeout, and a normal client is served all the while.

mod common;
#[path = "common/wire.rs"]
mod wire;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{read_response, Server};
use wire::{read_to_end_within, End};

/// Head deadline used by these tests.
const HEAD_MS: u64 = 1000;
/// Slack on top of a deadline before a test calls it missed (a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(6);
/// Interval between two dribbled bytes.
const DRIBBLE: Duration = Duration::from_millis(200);

/// One dribbling client.
struct Loris {
    s: TcpStream,
    connected: Instant,
    got: Vec<u8>,
    closed: Option<Instant>,
}

#[test]
fn a_thousand_dribbled_heads_are_all_cut_off_at_the_deadline_while_others_are_served() {
    let head_ms = HEAD_MS.to_string();
    let server = Server::start(&[("CORECAST_HEAD_TIMEOUT_MS", &head_ms)]);
    let deadline = Duration::from_millis(HEAD_MS);
    let mut lorises: Vec<Loris> = (0..1000)
        .map(|_| {
            let mut s = wire::connect(server.addr);
            s.write_all(b"GET /up HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s.set_nonblocking(true).unwrap();
            Loris {
                s,
                connected: Instant::now(),
                got: Vec::new(),
                closed: None,
            }
        })
        .collect();
    let mut served = false;
    let give_up = Instant::now() + deadline + SLACK + Duration::from_secs(4);
    let mut chunk = [0u8; 4096];
    while lorises.iter().any(|l| l.closed.is_none()) && Instant::now() < give_up {
        for l in lorises.iter_mut().filter(|l| l.closed.is_none()) {
            loop {
                match l.s.read(&mut chunk) {
                    Ok(0) => {
                        l.closed = Some(Instant::now());
                        break;
                    }
                    Ok(n) => l.got.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        l.closed = Some(Instant::now());
                        break;
                    }
                }
            }
            if l.closed.is_none() {
                // One more byte of a header value that never ends. A refused write means the
                // server is done with this connection; the read above will see it.
                let _ = l.s.write(b"a");
            }
        }
        if !served {
            // Meanwhile, a normal client is served at once.
            assert_eq!(server.rest().send("GET", "/up", b"", &[]).status, 200);
            server.connect().ping_pong();
            served = true;
        }
        std::thread::sleep(DRIBBLE);
    }
    let open = lorises.iter().filter(|l| l.closed.is_none()).count();
    assert_eq!(open, 0, "{open} dribbling connections still open");
    let mut slowest = Duration::ZERO;
    for (i, l) in lorises.iter().enumerate() {
        let took = l.closed.unwrap() - l.connected;
        slowest = slowest.max(took);
        assert!(
            took <= deadline + SLACK,
            "connection {i} closed after {took:?}, deadline {deadline:?}"
        );
        assert!(
            took >= deadline.mul_f32(0.9),
            "connection {i} closed after {took:?}, before its {deadline:?} deadline"
        );
        let text = String::from_utf8_lossy(&l.got);
        assert!(
            text.starts_with("HTTP/1.1 408 ") && text.contains(r#"{"error":"#),
            "connection {i}: expected a 408 with a JSON body, got {text:?}"
        );
    }
    eprintln!("slowest close: {slowest:?}");
    assert_eq!(server.rest().send("GET", "/up", b"", &[]).status, 200);
}

#[test]
fn a_silent_connection_is_closed_at_the_head_deadline_without_an_answer() {
    let head_ms = HEAD_MS.to_string();
    let server = Server::start(&[("CORECAST_HEAD_TIMEOUT_MS", &head_ms)]);
    let mut s = wire::connect(server.addr);
    let start = Instant::now();
    let (bytes, end) = read_to_end_within(&mut s, Duration::from_millis(HEAD_MS) + SLACK);
    assert!(start.elapsed() >= Duration::from_millis(HEAD_MS * 9 / 10));
    assert_eq!(end, End::Eof);
    assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_its_own_timeout() {
    let keepalive = Duration::from_millis(1500);
    let server = Server::start(&[
        ("CORECAST_HEAD_TIMEOUT_MS", "500"),
        ("CORECAST_KEEPALIVE_TIMEOUT_MS", "1500"),
    ]);
    let mut s = wire::connect(server.addr);
    let mut buf = Vec::new();
    let request = b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(request).unwrap();
    assert_eq!(read_response(&mut s, &mut buf).status, 200);
    // Idle longer than the head deadline but shorter than the keep-alive timeout: still open.
    std::thread::sleep(Duration::from_millis(900));
    s.write_all(request).unwrap();
    assert_eq!(read_response(&mut s, &mut buf).status, 200);
    let idle_from = Instant::now();
    let (bytes, end) = read_to_end_within(&mut s, keepalive + SLACK);
    let idle = idle_from.elapsed();
    assert_eq!(end, End::Eof);
    assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
    assert!(
        idle >= keepalive.mul_f32(0.9),
        "closed after {idle:?} of idleness, timeout {keepalive:?}"
    );
}

#[test]
fn a_dribbled_head_on_a_keep_alive_connection_gets_408() {
    let server = Server::start(&[
        ("CORECAST_HEAD_TIMEOUT_MS", "800"),
        ("CORECAST_KEEPALIVE_TIMEOUT_MS", "60000"),
    ]);
    let mut s = wire::connect(server.addr);
    s.write_all(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\nGET /up HTTP/1.1\r\nX-Slow: ")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf).status, 200);
    let start = Instant::now();
    s.set_nonblocking(true).unwrap();
    let mut got = std::mem::take(&mut buf);
    let mut chunk = [0u8; 1024];
    loop {
        assert!(
            start.elapsed() < Duration::from_millis(800) + SLACK,
            "still open; got {:?}",
            String::from_utf8_lossy(&got)
        );
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let _ = s.write(b"a");
                std::thread::sleep(DRIBBLE);
            }
            Err(e) => panic!("{e}"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("Request head not received in time"), "{text}");
}

#[test]
fn a_dribbled_body_gets_408_at_the_body_deadline() {
    let body = Duration::from_millis(1000);
    let server = Server::start(&[("CORECAST_BODY_TIMEOUT_MS", "1000")]);
    let mut s = wire::connect(server.addr);
    let head = format!(
        "POST /apps/{}/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{",
        server.app.id
    );
    s.write_all(head.as_bytes()).unwrap();
    let start = Instant::now();
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        assert!(
            start.elapsed() < body + SLACK,
            "still open; got {:?}",
            String::from_utf8_lossy(&got)
        );
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let _ = s.write(b" ");
                std::thread::sleep(DRIBBLE);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(start.elapsed() >= body.mul_f32(0.9));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        text.contains(r#"{"error":"Request body incomplete"}"#),
        "{text}"
    );
}
