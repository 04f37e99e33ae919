//! Per-app REST rate limits (`max_backend_events_per_second`, `max_read_requests_per_second`):
//! over the limit a request gets 429 with `{"error":…}` and `Retry-After`, is counted in
//! `corecast_rest_rate_limited_total{app,kind}`, and publishes nothing. The limit holds for
//! the whole server (requests on several keep-alive connections, landing on both shards,
//! share it) and a single connection gets all of it. `/events` counts one point per channel,
//! `/batch_events` one per event, `/api/publish` one. Apps without a limit are unaffected.
//!
//! The limit is a fixed one-second window. To make exact assertions the tests first find the
//! start of a fresh window (a request admitted right after one was refused) and then check
//! only bursts that ended before that window can have ended.

mod common;

use std::time::{Duration, Instant};

use common::{App, Reply, Rest, Server};
use serde_json::{json, Value};

/// Attempts at fitting a burst into one window before giving up.
const ATTEMPTS: usize = 5;

fn event(channels: &[&str]) -> Value {
    json!({"name": "tick", "channels": channels, "data": "x"})
}

fn batch(n: usize) -> Value {
    let one = json!({"name": "tick", "channel": "batched", "data": "x"});
    json!({ "batch": vec![one; n] })
}

fn publish(app: &App) -> Vec<u8> {
    json!({"key": app.key, "secret": app.secret, "channelId": "room", "message": "hi"})
        .to_string()
        .into_bytes()
}

/// Asserts a rate-limit refusal: 429, a JSON error, `Retry-After: 1`.
fn assert_limited(reply: &Reply) {
    reply.assert_error(429);
    assert_eq!(
        reply.header("retry-after"),
        Some("1"),
        "{:?}",
        reply.headers
    );
}

/// Counts one reply: true if admitted; a refusal is checked and added to `refused`.
fn admitted(reply: &Reply, refused: &mut u64) -> bool {
    match reply.status {
        200 => true,
        429 => {
            assert_limited(reply);
            *refused += 1;
            false
        }
        s => panic!("unexpected status {s}: {}", reply.text()),
    }
}

/// Sends with `send` until a request is refused, then (paced) until one is admitted again:
/// that one opened a fresh window. Returns the instant before which that window has surely
/// not ended (a second after the last refused request was sent); refusals go to `refused`.
fn open_fresh_window(send: &mut dyn FnMut() -> Reply, refused: &mut u64) -> Instant {
    let mut last_refused = None;
    for _ in 0..10_000 {
        let sent = Instant::now();
        if !admitted(&send(), refused) {
            last_refused = Some(sent);
            break;
        }
    }
    let mut last_refused = last_refused.expect("the limit never refused a request");
    for _ in 0..1_000 {
        std::thread::sleep(Duration::from_millis(10));
        let sent = Instant::now();
        if admitted(&send(), refused) {
            return last_refused + Duration::from_secs(1);
        }
        last_refused = sent;
    }
    panic!("no request was admitted again within 10 s");
}

/// Runs `attempt` (which opens a fresh window, sends a burst into it and returns the window's
/// sure end with what the burst saw) until a burst ends inside its window; returns what that
/// burst saw.
fn in_one_window<R>(mut attempt: impl FnMut() -> (Instant, R)) -> R {
    for _ in 0..ATTEMPTS {
        let (deadline, seen) = attempt();
        if Instant::now() < deadline {
            return seen;
        }
    }
    panic!("no burst fitted into one second in {ATTEMPTS} attempts");
}

#[test]
fn the_event_limit_holds_across_shards_and_one_connection_gets_all_of_it() {
    let server = Server::with_apps(
        json!([{"id": "limited", "key": "limited-key", "secret": "limited-secret",
                "max_backend_events_per_second": 5}]),
        &[],
    );
    let app = server.app.clone();
    let mut refused = 0;
    // One keep-alive connection, then eight (landing on both shards), sharing one budget.
    for clients in [1, 8] {
        let mut rest: Vec<Rest> = (0..clients).map(|_| server.rest_for(&app)).collect();
        let count = in_one_window(|| {
            let deadline =
                open_fresh_window(&mut || rest[0].post("events", &event(&["a"])), &mut refused);
            let mut count = 1;
            for i in 0..16 {
                let reply = rest[i % clients].post("events", &event(&["a"]));
                count += usize::from(admitted(&reply, &mut refused));
            }
            (deadline, count)
        });
        assert_eq!(
            count, 5,
            "admitted in one window with {clients} connection(s)"
        );
    }
    server.wait_metric(
        r#"corecast_rest_rate_limited_total{app="limited",kind="events"}"#,
        refused,
    );
    assert_eq!(
        server.metric(r#"corecast_rest_rate_limited_total{app="limited",kind="reads"}"#),
        None,
        "no read limit, no series"
    );
}

#[test]
fn channels_batch_events_and_raw_publishes_count_and_other_apps_are_unaffected() {
    let server = Server::with_apps(
        json!([
            {"id": "limited", "key": "limited-key", "secret": "limited-secret",
             "max_backend_events_per_second": 15},
            {"id": "free", "key": "free-key", "secret": "free-secret"},
            {"id": "tiny", "key": "tiny-key", "secret": "tiny-secret",
             "max_backend_events_per_second": 5},
        ]),
        &[],
    );
    let limited = server.app.clone();
    let free = App::new("free", "free-key", "free-secret");
    let tiny = App::new("tiny", "tiny-key", "tiny-secret");
    // A subscriber shows that refused events are not published.
    let mut subscriber = server.connect();
    subscriber.subscribe_ok("a");
    let mut rest = server.rest_for(&limited);
    let mut other = server.rest_for(&free);
    let mut refused = 0;
    let mut published_on_a = 0;
    let results = in_one_window(|| {
        let deadline = open_fresh_window(&mut || rest.post("events", &event(&["z"])), &mut refused);
        let mut results = Vec::new();
        let mut outcome = |reply: Reply, refused: &mut u64| results.push(admitted(&reply, refused));
        outcome(rest.post("batch_events", &batch(10)), &mut refused); // 11
        outcome(rest.post("events", &event(&["x", "y", "a"])), &mut refused); // 14
        outcome(rest.post("events", &event(&["a", "b", "c"])), &mut refused); // 17: refused
        outcome(
            rest.send("POST", "/api/publish", &publish(&limited), &[]),
            &mut refused,
        ); // 15
        outcome(
            rest.send("POST", "/api/publish", &publish(&limited), &[]),
            &mut refused,
        ); // 16: refused
        outcome(rest.post("batch_events", &batch(1)), &mut refused); // refused
        outcome(rest.get("channels", &[]), &mut refused); // no read limit
        outcome(other.post("batch_events", &batch(10)), &mut refused);
        outcome(other.post("events", &event(&["a"])), &mut refused);
        published_on_a += usize::from(results[1]);
        (deadline, results)
    });
    assert_eq!(
        results,
        [true, true, false, true, false, false, true, true, true]
    );
    // Only the admitted events on "a" arrive; the refused one on "a", "b", "c" never does.
    for _ in 0..published_on_a {
        assert_eq!(subscriber.expect_event("tick", "a"), "x");
    }
    subscriber.assert_silent(Duration::from_millis(300));
    // More points than the limit never fit, not even into an empty window.
    let reply = server.rest_for(&tiny).post("batch_events", &batch(10));
    assert_limited(&reply);
    assert!(
        reply.body["error"].as_str().unwrap().contains("limit of 5"),
        "{}",
        reply.text()
    );
    server.wait_metric(
        r#"corecast_rest_rate_limited_total{app="limited",kind="events"}"#,
        refused,
    );
    server.wait_metric(
        r#"corecast_rest_rate_limited_total{app="tiny",kind="events"}"#,
        1,
    );
    assert_eq!(
        server.metric(r#"corecast_rest_rate_limited_total{app="free",kind="events"}"#),
        None
    );
}

#[test]
fn the_read_limit_counts_channel_queries_only() {
    let server = Server::start(&[("CORECAST_MAX_READ_REQUESTS_PER_SECOND", "3")]);
    let app = server.app.clone();
    let mut rest: Vec<Rest> = (0..4).map(|_| server.rest_for(&app)).collect();
    let mut refused = 0;
    let count = in_one_window(|| {
        let deadline = open_fresh_window(&mut || rest[0].get("channels", &[]), &mut refused);
        let mut count = 1;
        for (i, tail) in ["channels", "channels/news", "channels/presence-x/users"]
            .iter()
            .cycle()
            .take(9)
            .enumerate()
        {
            count += usize::from(admitted(&rest[i % 4].get(tail, &[]), &mut refused));
        }
        // Events are not reads: all of them pass while the read window is full.
        for r in &mut rest {
            r.trigger(event(&["news"]));
        }
        (deadline, count)
    });
    assert_eq!(count, 3, "reads admitted in one window");
    server.wait_metric(
        r#"corecast_rest_rate_limited_total{app="app-id",kind="reads"}"#,
        refused,
    );
}
