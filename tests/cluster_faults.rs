//! Cluster mode when Redis goes away: no client is disconnected, local delivery and REST keep
//! working, `/ready` turns 503 and back to 200 while `/up` stays 200, records produced during
//! the outage are sent on reconnect (or dropped and counted once too old), and cross-node
//! delivery resumes by itself after a restart of Redis or a `CLIENT KILL TYPE pubsub`.

mod common;

use std::time::Duration;

use common::redis_server::Redis;
use common::{Server, Ws};
use serde_json::json;

/// Generous bound for a node to notice a change of Redis (it pings every second and backs off
/// to at most 2 s between reconnects).
const NOTICE: Duration = Duration::from_secs(15);

fn publish(node: &Server, channel: &str, name: &str, data: &str) {
    node.rest()
        .trigger(json!({"name": name, "channel": channel, "data": data}));
}

/// The "after" events of A and B, in either order (no order between publishing nodes), and
/// nothing else before a ping is answered.
fn expect_both_afters(ws: &mut Ws) {
    let mut got = [
        ws.expect_event("after", "live"),
        ws.expect_event("after", "live"),
    ];
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, [json!("a"), json!("b")]);
    ws.ping_pong();
}

fn subscribed(node: &Server, channel: &str) -> Ws {
    let mut ws = node.connect();
    ws.subscribe_ok(channel);
    ws
}

#[test]
fn a_redis_restart_keeps_clients_and_resumes_cross_node_delivery() {
    let mut redis = Redis::start();
    let port = redis.port;
    let a = Server::node(&redis, &[("CORECAST_REDIS_BUFFER_MS", "60000")]);
    let b = Server::node(&redis, &[]);
    let mut on_a = subscribed(&a, "live");
    let mut on_b = subscribed(&b, "live");
    publish(&a, "live", "before", "0");
    assert_eq!(on_b.expect_event("before", "live"), "0");
    assert_eq!(on_a.expect_event("before", "live"), "0");

    redis.stop();
    a.wait_ready(503, NOTICE);
    b.wait_ready(503, NOTICE);
    assert_eq!(a.rest().send("GET", "/up", b"", &[]).status, 200);
    // Local delivery and REST go on during the outage. One connection: one publisher, whose
    // order is kept.
    let mut rest_a = a.rest();
    for i in 0..5 {
        rest_a.trigger(json!({"name": "during", "channel": "live", "data": i.to_string()}));
    }
    for i in 0..5 {
        assert_eq!(on_a.expect_event("during", "live"), json!(i.to_string()));
    }
    publish(&b, "live", "b-alone", "x");
    assert_eq!(on_b.expect_event("b-alone", "live"), "x");

    // B comes back first (A is stopped meanwhile), so A's buffered records find it listening.
    a.signal(libc::SIGSTOP);
    let _redis = Redis::start_on(port);
    b.wait_ready(200, NOTICE);
    a.signal(libc::SIGCONT);
    a.wait_ready(200, NOTICE);
    for i in 0..5 {
        assert_eq!(on_b.expect_event("during", "live"), json!(i.to_string()));
    }
    publish(&a, "live", "after", "a");
    publish(&b, "live", "after", "b");
    for ws in [&mut on_a, &mut on_b] {
        expect_both_afters(ws);
    }
    for node in [&a, &b] {
        assert!(node.metric("corecast_cluster_reconnects_total").unwrap() >= 1);
        assert_eq!(node.metric("corecast_cluster_connected"), Some(1));
    }
    assert_eq!(a.metric("corecast_cluster_dropped_records_total"), Some(0));
}

#[test]
fn records_older_than_the_buffer_bound_are_dropped_and_counted() {
    let mut redis = Redis::start();
    let port = redis.port;
    let a = Server::node(&redis, &[("CORECAST_REDIS_BUFFER_MS", "100")]);
    let b = Server::node(&redis, &[]);
    let mut on_b = subscribed(&b, "live");
    redis.stop();
    a.wait_ready(503, NOTICE);
    for i in 0..3 {
        publish(&a, "live", "lost", &i.to_string());
    }
    a.wait_metric_at_least("corecast_cluster_dropped_records_total", 3, NOTICE);
    let _redis = Redis::start_on(port);
    a.wait_ready(200, NOTICE);
    b.wait_ready(200, NOTICE);
    publish(&a, "live", "after", "a");
    // The dropped records never arrive: the first event B's subscriber gets is the new one.
    assert_eq!(on_b.expect_event("after", "live"), "a");
    assert_eq!(
        a.metric("corecast_cluster_dropped_records_total"),
        Some(3),
        "exactly the three records of the outage were dropped"
    );
}

#[test]
fn killing_the_subscriptions_resumes_delivery() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let bus = format!("{}:b", common::cluster::PREFIX);
    assert_eq!(redis.subscribers(&bus), 2);
    let mut on_a = subscribed(&a, "live");
    let mut on_b = subscribed(&b, "live");
    let killed = redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, redis::Value::Int(2));
    for node in [&a, &b] {
        node.wait_metric_at_least("corecast_cluster_reconnects_total", 1, NOTICE);
        node.wait_ready(200, NOTICE);
    }
    assert_eq!(redis.subscribers(&bus), 2);
    publish(&a, "live", "after", "a");
    publish(&b, "live", "after", "b");
    for ws in [&mut on_a, &mut on_b] {
        expect_both_afters(ws);
    }
}
