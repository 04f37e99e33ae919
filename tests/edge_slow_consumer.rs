//! A consumer that stops reading: once its outbox passes `CORECAST_MAX_OUTBOX_KB` it is cut off
//! (4100), and then released within the closing deadline even though it never reads again: its
//! socket is reset, the kernel frees its buffers, and the server stops counting it. A thousand
//! healthy subscribers receive every message meanwhile.

mod common;
#[path = "common/crowd.rs"]
mod crowd;
#[path = "common/wire.rs"]
mod wire;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, WAIT};
use crowd::Crowd;
use serde_json::json;
use wire::text_frame;

/// Healthy subscribers.
const HEALTHY: usize = 1000;
/// The server resets a stuck closing connection 2 s after it starts closing; this much more
/// is slack for a loaded machine.
const RELEASE_BOUND: Duration = Duration::from_secs(10);

/// A raw WebSocket client that subscribes to `channels`, reads the confirmations, and from
/// then on never reads. (Its receive buffer keeps the kernel's default size: once full, the
/// window stays shut, as with a real client that stopped reading.)
fn non_reader(addr: SocketAddr, key: &str, channels: &[&str]) -> TcpStream {
    let mut s = wire::connect(addr);
    let path = Server::pusher_path(key);
    s.write_all(wire::upgrade_request(&path, "").as_bytes())
        .unwrap();
    for c in channels {
        let sub = json!({"event": "pusher:subscribe", "data": {"channel": c}}).to_string();
        s.write_all(&text_frame(sub.as_bytes())).unwrap();
    }
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while count(&seen, b"subscription_succeeded") < channels.len() {
        assert!(Instant::now() < deadline, "no subscription confirmations");
        let n = s.read(&mut chunk).expect("read the confirmations");
        assert!(n > 0, "closed before the confirmations");
        seen.extend_from_slice(&chunk[..n]);
    }
    s
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn connections(server: &Server) -> u64 {
    server.gauge("corecast_connections").iter().sum()
}

#[test]
fn a_cut_off_consumer_that_never_reads_is_released_while_healthy_ones_get_every_message() {
    // One shard: a published frame is then written to every socket that can take it before
    // the next REST request is read. An outbox of 256 KiB does not overflow while the kernel
    // still takes bytes now and then; it overflows once the non-reader's kernel buffers are
    // full for good, the case that used to hold a socket (and megabytes) for ever.
    let server = Server::start(&[("CORECAST_MAX_OUTBOX_KB", "256"), ("CORECAST_SHARDS", "1")]);
    let crowd = Crowd::subscribe(&server, HEALTHY, "feed", "tick");
    let mut slow = non_reader(server.addr, &server.app.key, &["feed", "flood"]);
    let slow_port = slow.local_addr().unwrap().port();
    let server_port = server.addr.port();
    assert_eq!(connections(&server), HEALTHY as u64 + 1);
    let mut rest = server.rest();
    let mut ticks = 0usize;
    let mut tick = |rest: &mut common::Rest| {
        rest.trigger(json!({"name": "tick", "channel": "feed", "data": ticks.to_string()}));
        ticks += 1;
    };
    for _ in 0..20 {
        tick(&mut rest);
    }
    // Flood the one channel only the non-reader holds until its kernel buffers are full for
    // good (the server's send queue for it stops growing), then a little more to overflow its
    // outbox: it is cut off then, and must be gone within the bound from there.
    let big = "x".repeat(10_000);
    let batch = json!({"batch": (0..5)
        .map(|_| json!({"name": "big", "channel": "flood", "data": big}))
        .collect::<Vec<_>>()});
    let flood = |rest: &mut common::Rest| {
        let reply = rest.post("batch_events", &batch);
        assert_eq!(reply.status, 200, "{}", reply.text());
    };
    let server_queue = || {
        let sockets = wire::kernel_sockets(server_port, slow_port);
        sockets.iter().map(|s| s.1).max().unwrap_or(0)
    };
    let mut queued = 0;
    let mut released_at = None;
    for i in 0..400 {
        flood(&mut rest);
        if i % 4 == 3 {
            tick(&mut rest);
            if connections(&server) == HEALTHY as u64 {
                released_at = Some(Instant::now());
                break;
            }
        }
        if i % 16 == 15 {
            let now = server_queue();
            if now >= 64 * 1024 && now <= queued {
                break;
            }
            queued = now;
        }
    }
    assert!(
        queued >= 64 * 1024,
        "the kernel never held much for the non-reader ({queued} bytes): not the case tested"
    );
    assert!(
        wire::unread_bytes(&slow) >= 64 * 1024,
        "the non-reader's receive queue never filled: not the case tested"
    );
    // 300 KB more than the 256 KiB outbox takes.
    for _ in 0..6 {
        flood(&mut rest);
    }
    let flood_end = Instant::now();
    // Released within the bound, and with no kernel socket left on the server's side.
    let deadline = flood_end + RELEASE_BOUND;
    while released_at.is_none() {
        assert!(
            Instant::now() < deadline,
            "the non-reading consumer was not released within {RELEASE_BOUND:?} of being cut \
             off; kernel sockets on the server side: {:?}",
            wire::kernel_sockets(server_port, slow_port)
        );
        std::thread::sleep(Duration::from_millis(50));
        if connections(&server) == HEALTHY as u64 {
            released_at = Some(Instant::now());
        }
    }
    loop {
        let left = wire::kernel_sockets(server_port, slow_port);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server still holds the socket (state, send queue bytes): {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The client side sees its connection end (reset) once it reads again.
    let mut sink = [0u8; 64 * 1024];
    let read_deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < read_deadline, "the connection never ended");
        match slow.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("unexpected read error {e}"),
        }
    }
    for _ in 0..20 {
        tick(&mut rest);
    }
    crowd.wait_for(ticks, Duration::from_secs(20));
    crowd.assert_no_faults();
    assert_eq!(connections(&server), HEALTHY as u64);
}

#[test]
fn a_consumer_that_never_reads_is_released_after_a_pong_timeout_too() {
    // Any close, not only 4100: here the keep-alive gives up (4201) on a client that neither
    // reads nor writes, while its kernel buffers are full.
    let server = Server::start(&[
        ("CORECAST_MAX_OUTBOX_KB", "16384"),
        ("CORECAST_ACTIVITY_TIMEOUT", "1"),
        ("CORECAST_PONG_TIMEOUT", "1"),
    ]);
    let slow = non_reader(server.addr, &server.app.key, &["flood"]);
    let slow_port = slow.local_addr().unwrap().port();
    let mut rest = server.rest();
    let big = "x".repeat(10_000);
    // Fill its kernel buffers with 6 MB (its outbox of 16 MiB never overflows here).
    for _ in 0..600 {
        rest.trigger(json!({"name": "big", "channel": "flood", "data": big}));
    }
    assert!(
        wire::unread_bytes(&slow) >= 64 * 1024,
        "the non-reader's receive queue did not fill"
    );
    let flood_end = Instant::now();
    // Probe at ~1 s of silence, 4201 one second later, then at most the closing deadline.
    let bound = flood_end + Duration::from_secs(4) + RELEASE_BOUND;
    loop {
        if connections(&server) == 0
            && wire::kernel_sockets(server.addr.port(), slow_port).is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < bound,
            "still held: {:?}",
            wire::kernel_sockets(server.addr.port(), slow_port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(slow);
}
