//! Cross-shard delivery: REST events (single, multi-channel and batched) reach subscribers on
//! every shard; `socket_id` exclusion skips exactly one connection wherever it lives; counts in
//! `GET /channels/{name}` and `GET /channels` are global; 1,000 events published on one
//! keep-alive connection arrive in order on every shard.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::Server;
use serde_json::json;

#[test]
fn published_event_reaches_subscribers_on_every_shard() {
    let server = Server::start(&[]);
    let mut conns = server.subscribers_on_every_shard("everywhere", 16);
    let mut rest = server.rest();
    rest.trigger(json!({"name": "hello", "channels": ["everywhere"], "data": "{\"n\":1}"}));
    rest.trigger(json!({"name": "single", "channel": "everywhere", "data": "s"}));
    for ws in &mut conns {
        assert_eq!(ws.expect_event("hello", "everywhere"), "{\"n\":1}");
        assert_eq!(ws.expect_event("single", "everywhere"), "s");
    }
    let batch = json!({"batch": [
        {"name": "b1", "channel": "everywhere", "data": "1"},
        {"name": "b2", "channel": "everywhere", "data": "2"}
    ]});
    assert_eq!(rest.post("batch_events", &batch).ok(), &json!({}));
    for ws in &mut conns {
        ws.expect_event("b1", "everywhere");
        ws.expect_event("b2", "everywhere");
    }
}

#[test]
fn socket_id_exclusion_skips_only_that_connection_on_any_shard() {
    let server = Server::start(&[]);
    let mut conns = server.subscribers_on_every_shard("excl", 16);
    let mut rest = server.rest();
    let ids: Vec<String> = conns.iter().map(|c| c.socket_id.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        rest.trigger(
            json!({"name": "ev", "channel": "excl", "data": i.to_string(), "socket_id": id}),
        );
    }
    // A well-formed id of no connection excludes nobody.
    rest.trigger(
        json!({"name": "all", "channel": "excl", "data": "x", "socket_id": "1.999999999"}),
    );
    for (me, ws) in conns.iter_mut().enumerate() {
        for i in (0..ids.len()).filter(|&i| i != me) {
            assert_eq!(
                ws.expect_event("ev", "excl"),
                i.to_string(),
                "connection {me} ({}) got the wrong event",
                ids[me]
            );
        }
        ws.expect_event("all", "excl");
    }
    let batch = json!({"batch": [
        {"name": "skip", "channel": "excl", "data": "s", "socket_id": ids[0]},
        {"name": "after", "channel": "excl", "data": "a"}
    ]});
    assert_eq!(rest.post("batch_events", &batch).ok(), &json!({}));
    conns[0].expect_event("after", "excl");
    for ws in &mut conns[1..] {
        ws.expect_event("skip", "excl");
        ws.expect_event("after", "excl");
    }
}

#[test]
fn channel_counts_are_global_across_shards() {
    let server = Server::start(&[]);
    let conns = server.subscribers_on_every_shard("global", 8);
    let n = conns.len();
    let mut rest = server.rest();
    assert_eq!(
        rest.get("channels/global", &[("info", "subscription_count")])
            .ok(),
        &json!({"occupied": true, "subscription_count": n})
    );
    assert_eq!(
        rest.get("channels", &[("info", "subscription_count")]).ok(),
        &json!({"channels": {"global": {"subscription_count": n}}})
    );
    let reply = rest.post(
        "events",
        &json!({"name": "e", "channel": "global", "data": "d", "info": "subscription_count"}),
    );
    assert_eq!(
        reply.ok(),
        &json!({"channels": {"global": {"subscription_count": n}}})
    );
    let per_shard = server.gauge("corecast_subscriptions");
    assert_eq!(per_shard.iter().sum::<u64>(), n as u64, "{per_shard:?}");
}

#[test]
fn a_thousand_sequential_events_arrive_in_order_on_every_shard() {
    const EVENTS: usize = 1000;
    let server = Server::start(&[]);
    let conns = server.subscribers_on_every_shard("ordered", 8);
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    let readers = conns.len();
    for (c, mut ws) in conns.into_iter().enumerate() {
        let done = done_tx.clone();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for i in 0..EVENTS {
                    let data = ws.expect_event("seq", "ordered");
                    assert_eq!(data, i.to_string(), "connection {c}: event out of order");
                }
            }));
            let _ = done.send(outcome.map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "reader panicked".into())
            }));
        });
    }
    let mut rest = server.rest();
    for i in 0..EVENTS {
        rest.trigger(json!({"name": "seq", "channel": "ordered", "data": i.to_string()}));
    }
    assert_eq!(rest.connections, 1, "one keep-alive connection");
    for _ in 0..readers {
        match done_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("readers did not finish"),
        }
    }
}
