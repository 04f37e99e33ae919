//! Webhook events against a real receiver: each kind fires once per change on the node (across
//! shards), with the right fields, signed as Pusher signs; filters and `event_types` hold;
//! `pusher_internal:subscription_count` reaches subscribers; the vacate grace cancels a quick
//! return.

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use common::{Server, APP_KEY, APP_SECRET};
use receiver::{named, Receiver};
use serde_json::{json, Value};

/// Time given to an event that must NOT come (a duplicate) to show up anyway.
const SETTLE: Duration = Duration::from_millis(400);
/// Longest a webhook may take to arrive.
const ARRIVE: Duration = Duration::from_secs(5);

fn server(rx: &Receiver, events: &str, extra: &[(&str, &str)]) -> Server {
    let url = rx.url();
    let mut envs = vec![
        ("CORECAST_WEBHOOK_URL", url.as_str()),
        ("CORECAST_WEBHOOK_EVENTS", events),
        ("CORECAST_WEBHOOK_BATCH_MS", "0"),
    ];
    envs.extend_from_slice(extra);
    Server::start(&envs)
}

/// Waits until `n` events arrived, lets duplicates show up, and returns all of them.
fn exactly(rx: &Receiver, n: usize) -> Vec<Value> {
    rx.wait_events(APP_KEY, APP_SECRET, ARRIVE, |e| e.len() >= n);
    std::thread::sleep(SETTLE);
    let events = rx.events(APP_KEY, APP_SECRET);
    assert_eq!(events.len(), n, "{events:#?}");
    events
}

#[test]
fn occupied_and_vacated_once_for_the_node_across_shards() {
    let rx = Receiver::start();
    let s = server(&rx, "channel_occupied,channel_vacated", &[]);
    let mut conns = s.subscribers_on_every_shard("room", 2);
    let events = exactly(&rx, 1);
    assert_eq!(
        events[0],
        json!({"name": "channel_occupied", "channel": "room"})
    );
    let mut last = conns.pop().expect("a connection");
    for mut c in conns {
        c.close();
    }
    std::thread::sleep(SETTLE);
    assert_eq!(rx.events(APP_KEY, APP_SECRET).len(), 1, "vacated too early");
    last.close();
    let events = exactly(&rx, 2);
    assert_eq!(
        events[1],
        json!({"name": "channel_vacated", "channel": "room"})
    );
    let id = rx.requests()[0]
        .header("x-corecast-webhook-id")
        .map(str::to_string);
    assert!(id.is_some_and(|id| id.ends_with("-1")));
}

#[test]
fn members_are_added_and_removed_once_per_user() {
    let rx = Receiver::start();
    let s = server(&rx, "member_added,member_removed", &[]);
    let app = s.app.clone();
    let mut spare = Vec::new();
    let mut a = s.connect_on(0, &mut spare);
    let mut b = s.connect_on(1, &mut spare);
    a.join_presence(&app, "presence-room", r#"{"user_id":"u1"}"#);
    b.join_presence(&app, "presence-room", r#"{"user_id":"u1"}"#);
    let mut c = s.connect();
    c.join_presence(&app, "presence-room", r#"{"user_id":7}"#);
    let events = exactly(&rx, 2);
    let added =
        |id: &str| json!({"name": "member_added", "channel": "presence-room", "user_id": id});
    assert_eq!(events, vec![added("u1"), added("7")]);
    a.close();
    std::thread::sleep(SETTLE);
    assert_eq!(rx.events(APP_KEY, APP_SECRET).len(), 2, "removed too early");
    b.close();
    let events = exactly(&rx, 3);
    assert_eq!(
        events[2],
        json!({"name": "member_removed", "channel": "presence-room", "user_id": "u1"})
    );
}

#[test]
fn client_events_carry_the_data_socket_and_presence_user() {
    let rx = Receiver::start();
    let s = server(
        &rx,
        "client_event",
        &[("CORECAST_ENABLE_CLIENT_MESSAGES", "true")],
    );
    let app = s.app.clone();
    let (mut a, mut b) = (s.connect(), s.connect());
    a.subscribe_private(&app, "private-chat");
    b.subscribe_private(&app, "private-chat");
    a.send_json(&json!({"event": "client-typing", "channel": "private-chat", "data": {"t": 1}}));
    let relayed = b.expect_event("client-typing", "private-chat");
    a.join_presence(&app, "presence-chat", r#"{"user_id":42}"#);
    a.send_json(&json!({"event": "client-moved", "channel": "presence-chat", "data": "x"}));
    let events = exactly(&rx, 2);
    assert_eq!(
        events[0],
        json!({"name": "client_event", "channel": "private-chat", "event": "client-typing",
               "data": relayed, "socket_id": a.socket_id})
    );
    assert_eq!(events[0]["data"], "{\"t\":1}");
    assert_eq!(
        events[1],
        json!({"name": "client_event", "channel": "presence-chat", "event": "client-moved",
               "data": "x", "socket_id": a.socket_id, "user_id": "42"})
    );
}

#[test]
fn cache_miss_once_until_the_channel_is_populated_or_vacated() {
    let rx = Receiver::start();
    let s = server(&rx, "cache_miss", &[]);
    let (mut a, mut b) = (s.connect(), s.connect());
    a.subscribe_ok("cache-x");
    b.subscribe_ok("cache-x");
    assert_eq!(a.expect_event("pusher:cache_miss", "cache-x"), "{}");
    assert_eq!(b.expect_event("pusher:cache_miss", "cache-x"), "{}");
    let events = exactly(&rx, 1);
    assert_eq!(
        events[0],
        json!({"name": "cache_miss", "channel": "cache-x"})
    );
    s.rest()
        .trigger(json!({"name": "e", "channel": "cache-x", "data": "v"}));
    let mut c = s.connect();
    c.subscribe_ok("cache-x");
    assert_eq!(c.expect_event("e", "cache-x"), "v");
    // Vacated: the next miss is reported again.
    let mut d = s.connect();
    d.subscribe_ok("cache-y");
    exactly(&rx, 2);
    d.close();
    let mut e = s.connect();
    e.subscribe_ok("cache-y");
    let events = exactly(&rx, 3);
    assert_eq!(
        events[2],
        json!({"name": "cache_miss", "channel": "cache-y"})
    );
}

/// Reads `ws` until a `pusher_internal:subscription_count` of `channel` says `n`.
fn await_count(ws: &mut common::Ws, channel: &str, n: u64) {
    let deadline = Instant::now() + ARRIVE;
    loop {
        assert!(Instant::now() < deadline, "no subscription_count {n}");
        let msg = ws.recv_json();
        if msg["event"] != "pusher_internal:subscription_count" {
            continue;
        }
        assert_eq!(msg["channel"], channel, "{msg}");
        let data = msg["data"].as_str().expect("data is a string");
        let data: Value = serde_json::from_str(data).expect("data string holds JSON");
        if data["subscription_count"] == n {
            return;
        }
    }
}

#[test]
fn subscription_counts_cover_every_shard() {
    let rx = Receiver::start();
    let s = server(
        &rx,
        "subscription_count",
        &[("CORECAST_ENABLE_SUBSCRIPTION_COUNT", "true")],
    );
    let mut conns = s.spread(3, |ws| ws.subscribe_ok("counted"));
    let n = conns.len() as u64;
    for ws in &mut conns {
        await_count(ws, "counted", n);
    }
    let events = rx.wait_events(APP_KEY, APP_SECRET, ARRIVE, |e| e.len() as u64 >= n);
    let counts: Vec<u64> = events
        .iter()
        .map(|e| {
            assert_eq!(e["name"], "subscription_count", "{e}");
            assert_eq!(e["channel"], "counted", "{e}");
            e["subscription_count"].as_u64().expect("an integer")
        })
        .collect();
    assert_eq!(counts, (1..=n).collect::<Vec<_>>());
    let mut leaving = conns.pop().expect("a connection");
    leaving.unsubscribe("counted");
    for ws in &mut conns {
        await_count(ws, "counted", n - 1);
    }
    // Presence channels get no count.
    let mut p = s.connect();
    p.join_presence(&s.app.clone(), "presence-x", r#"{"user_id":"1"}"#);
    p.assert_silent(SETTLE);
}

#[test]
fn each_webhook_gets_only_its_event_types_and_channels() {
    let (first, second) = (Receiver::start(), Receiver::start());
    let s = Server::with_apps(
        json!([{"id": "shop", "key": "shop-key", "secret": "shop-secret",
        "webhook_batch_ms": 0,
        "webhooks": [
            {"url": first.url(), "event_types": ["channel_occupied"],
             "filter": {"channel_name_starts_with": "private-"},
             "headers": {"X-Custom": "one"}},
            {"url": second.url(), "event_types": ["channel_occupied", "channel_vacated"],
             "filter": {"channel_suffix": "-b", "include_raw": true}}
        ]}]),
        &[],
    );
    let app = s.app.clone();
    let mut ws = s.connect();
    ws.subscribe_private(&app, "private-a");
    ws.subscribe_ok("public-b");
    ws.subscribe_private(&app, "private-x-b");
    let mut raw = s.raw("room-b", "");
    let got = |rx: &Receiver, n: usize| {
        rx.wait_events("shop-key", "shop-secret", ARRIVE, |e| e.len() >= n);
        std::thread::sleep(SETTLE);
        let mut names: Vec<String> = rx
            .events("shop-key", "shop-secret")
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["name"].as_str().unwrap(),
                    e["channel"].as_str().unwrap()
                )
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        got(&first, 2),
        ["channel_occupied private-a", "channel_occupied private-x-b"]
    );
    assert!(first
        .requests()
        .iter()
        .all(|r| r.header("x-custom") == Some("one")));
    ws.unsubscribe("public-b");
    assert_eq!(
        got(&second, 4),
        [
            "channel_occupied private-x-b",
            "channel_occupied public-b",
            "channel_occupied raw:room-b",
            "channel_vacated public-b"
        ]
    );
    raw.close();
    let vacated = second.wait_events("shop-key", "shop-secret", ARRIVE, |e| e.len() >= 5);
    assert_eq!(
        vacated[4],
        json!({"name": "channel_vacated", "channel": "raw:room-b"})
    );
    assert!(named(&first.events("shop-key", "shop-secret"), "channel_vacated").is_empty());
}

#[test]
fn a_return_within_the_vacate_grace_sends_nothing() {
    let rx = Receiver::start();
    let s = server(
        &rx,
        "channel_occupied,channel_vacated,member_added,member_removed",
        &[("CORECAST_WEBHOOK_VACATE_GRACE_MS", "1000")],
    );
    let app = s.app.clone();
    let mut a = s.connect();
    a.join_presence(&app, "presence-g", r#"{"user_id":"u"}"#);
    exactly(&rx, 2);
    a.close();
    let mut b = s.connect();
    b.join_presence(&app, "presence-g", r#"{"user_id":"u"}"#);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rx.events(APP_KEY, APP_SECRET).len(),
        2,
        "a flap was reported"
    );
    let left = Instant::now();
    b.close();
    let events = exactly(&rx, 4);
    let waited = rx.requests()[2].at.duration_since(left);
    assert!(
        waited >= Duration::from_millis(900),
        "sent after {waited:?}"
    );
    let mut names: Vec<&str> = events[2..]
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["channel_vacated", "member_removed"]);
}

/// The `subscription_count` values of `channel` that `ws` receives within `limit`, until one
/// equals `last`; with the time each arrived.
fn counts_until(
    ws: &mut common::Ws,
    channel: &str,
    last: u64,
    limit: Duration,
) -> Vec<(u64, Instant)> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(msg) = ws.recv_within(left) else {
            panic!("no subscription_count {last} within {limit:?}; saw {seen:?}");
        };
        let Ok(text) = msg.to_text() else { continue };
        let msg: Value = serde_json::from_str(text).expect("JSON message");
        if msg["event"] != "pusher_internal:subscription_count" || msg["channel"] != channel {
            continue;
        }
        let data: Value = serde_json::from_str(msg["data"].as_str().expect("string data"))
            .expect("data string holds JSON");
        let n = data["subscription_count"].as_u64().expect("an integer");
        seen.push((n, Instant::now()));
        if n == last {
            return seen;
        }
    }
}

#[test]
fn counts_above_100_subscribers_are_throttled_and_the_last_one_follows() {
    let rx = Receiver::start();
    let s = server(
        &rx,
        "subscription_count",
        &[("CORECAST_ENABLE_SUBSCRIPTION_COUNT", "true")],
    );
    let mut observer = s.connect();
    observer.subscribe_ok("big");
    let mut others = Vec::new();
    for _ in 0..99 {
        let mut ws = s.connect();
        ws.subscribe_ok("big");
        others.push(ws);
    }
    counts_until(&mut observer, "big", 100, ARRIVE);
    let hundredth = Instant::now();
    for _ in 0..4 {
        let mut ws = s.connect();
        ws.subscribe_ok("big");
        others.push(ws);
    }
    // Within 5 s of the count of 100 nothing more is sent; then the latest count, once.
    let seen = counts_until(&mut observer, "big", 104, Duration::from_secs(12));
    assert_eq!(seen.len(), 1, "throttled counts: {seen:?}");
    let waited = seen[0].1.duration_since(hundredth);
    assert!(
        waited >= Duration::from_secs(4),
        "count 104 came after {waited:?}"
    );
    let events = rx.wait_events(APP_KEY, APP_SECRET, ARRIVE, |e| {
        e.last().is_some_and(|e| e["subscription_count"] == 104)
    });
    assert_eq!(events.len(), 101, "one webhook per count sent");
}
