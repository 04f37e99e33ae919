//! Cluster mode, REST counts: `GET /channels` and `GET /channels/{name}` on any node give the
//! subscription counts of every live node; a node that does not answer in time is left out
//! and named in `X-Corecast-Partial` (and counted in `corecast_cluster_query_timeouts_total`);
//! with Redis unreachable the node answers its own counts at once, marked `unavailable`. A
//! node whose `P:nodes` entry expired, or that stopped (SIGTERM), is no longer expected.

mod common;

use std::time::{Duration, Instant};

use common::redis_server::Redis;
use common::{Reply, Server, Ws};
use serde_json::{json, Value};

/// Bound on waiting for a node to notice something (a reconnect, a lost Redis).
const NOTICE: Duration = Duration::from_secs(15);

/// The node key from the start-up banner (`… (node 9f2c41d07ab3e615.1)`).
fn node_key(node: &Server) -> String {
    let out = node.output();
    let start = out.find("(node ").expect("node key in the banner") + "(node ".len();
    let len = out[start..].find(')').expect("end of the node key");
    out[start..start + len].to_string()
}

/// `n` connections to `node` subscribed to `channel`.
fn subscribers(node: &Server, channel: &str, n: usize) -> Vec<Ws> {
    (0..n)
        .map(|_| {
            let mut ws = node.connect();
            ws.subscribe_ok(channel);
            ws
        })
        .collect()
}

fn channels(node: &Server, params: &[(&str, &str)]) -> Reply {
    let reply = node.rest().get("channels", params);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply
}

fn channel(node: &Server, name: &str) -> Reply {
    let path = format!("channels/{name}");
    let reply = node.rest().get(&path, &[("info", "subscription_count")]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply
}

fn count_of(reply: &Reply) -> Value {
    reply.ok()["subscription_count"].clone()
}

#[test]
fn counts_on_any_node_are_the_cluster_totals() {
    let redis = Redis::start();
    // A complete answer comes as soon as every node answered: the long timeout only keeps a
    // slow machine from turning it partial.
    let envs = [("CORECAST_CLUSTER_QUERY_TIMEOUT_MS", "10000")];
    let (a, b, c) = (
        Server::node(&redis, &envs),
        Server::node(&redis, &envs),
        Server::node(&redis, &envs),
    );
    let _subs = [
        subscribers(&a, "news", 1),
        subscribers(&b, "news", 2),
        subscribers(&c, "news", 1),
        subscribers(&b, "sports", 1),
    ];
    let mut sporty = c.connect();
    sporty.subscribe_ok("sports");
    let full = json!({"channels": {
        "news": {"subscription_count": 4},
        "sports": {"subscription_count": 2},
    }});
    for node in [&a, &b, &c] {
        let reply = channels(node, &[("info", "subscription_count")]);
        assert_eq!(reply.ok(), &full, "on {}", node_key(node));
        assert_eq!(reply.header("X-Corecast-Partial"), None);
        let reply = channels(node, &[("filter_by_prefix", "spo")]);
        assert_eq!(reply.ok(), &json!({"channels": {"sports": {}}}));
        let reply = channel(node, "news");
        assert_eq!(count_of(&reply), 4);
        assert_eq!(reply.ok()["occupied"], true);
        assert_eq!(reply.header("X-Corecast-Partial"), None);
    }
    // Occupied elsewhere only: `a` has no subscriber of `sports`.
    let reply = channel(&a, "sports");
    assert_eq!(
        (count_of(&reply), &reply.ok()["occupied"]),
        (json!(2), &json!(true))
    );
    let reply = channel(&a, "nobody-here");
    assert_eq!(
        (count_of(&reply), &reply.ok()["occupied"]),
        (json!(0), &json!(false))
    );
    sporty.close();
    let deadline = Instant::now() + NOTICE;
    while count_of(&channel(&a, "sports")) != 1 {
        assert!(
            Instant::now() < deadline,
            "c's unsubscribe never counted on a"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.metric("corecast_cluster_query_timeouts_total"), Some(0));
}

#[test]
fn a_stopped_node_is_named_and_left_out_until_it_continues() {
    let redis = Redis::start();
    // A long TTL keeps the stopped node live in `P:nodes`, so it is expected and late.
    let envs = [
        ("CORECAST_NODE_TTL_MS", "60000"),
        ("CORECAST_CLUSTER_QUERY_TIMEOUT_MS", "2000"),
    ];
    let (a, b, c) = (
        Server::node(&redis, &envs),
        Server::node(&redis, &envs),
        Server::node(&redis, &envs),
    );
    let _subs = [
        subscribers(&a, "news", 1),
        subscribers(&b, "news", 2),
        subscribers(&c, "news", 3),
    ];
    assert_eq!(count_of(&channel(&a, "news")), 6);
    let timeouts = a.metric("corecast_cluster_query_timeouts_total").unwrap();

    c.signal(libc::SIGSTOP);
    let started = Instant::now();
    let reply = channel(&a, "news");
    let took = started.elapsed();
    c.signal(libc::SIGCONT);
    assert_eq!(count_of(&reply), 3, "c's share is left out");
    assert_eq!(
        reply.header("X-Corecast-Partial"),
        Some(node_key(&c).as_str())
    );
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(15),
        "answered after {took:?} with a 2 s timeout"
    );
    assert_eq!(
        a.metric("corecast_cluster_query_timeouts_total"),
        Some(timeouts + 1)
    );
    let list = channels(&b, &[("info", "subscription_count")]);
    // `c` was continued above; it may still be catching up, then the answer is complete.
    match list.header("X-Corecast-Partial") {
        Some(missing) => assert_eq!(missing, node_key(&c)),
        None => assert_eq!(list.ok()["channels"]["news"]["subscription_count"], 6),
    }

    c.wait_ready(200, NOTICE);
    let deadline = Instant::now() + NOTICE;
    loop {
        let reply = channel(&a, "news");
        if reply.header("X-Corecast-Partial").is_none() {
            assert_eq!(count_of(&reply), 6);
            break;
        }
        assert!(Instant::now() < deadline, "c never answered again");
    }
}

#[test]
fn without_redis_the_local_counts_come_at_once_marked_unavailable() {
    let mut redis = Redis::start();
    let envs = [("CORECAST_CLUSTER_QUERY_TIMEOUT_MS", "10000")];
    let (a, b) = (Server::node(&redis, &envs), Server::node(&redis, &envs));
    let _subs = [subscribers(&a, "news", 2), subscribers(&b, "news", 1)];
    assert_eq!(count_of(&channel(&a, "news")), 3);
    redis.stop();
    a.wait_ready(503, NOTICE);
    let started = Instant::now();
    let reply = channel(&a, "news");
    let took = started.elapsed();
    assert_eq!(count_of(&reply), 2);
    assert_eq!(reply.header("X-Corecast-Partial"), Some("unavailable"));
    let list = channels(&a, &[("info", "subscription_count")]);
    assert_eq!(list.header("X-Corecast-Partial"), Some("unavailable"));
    assert_eq!(list.ok()["channels"]["news"]["subscription_count"], 2);
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: it waited for the 10 s query timeout"
    );
    assert_eq!(a.metric("corecast_cluster_query_timeouts_total"), Some(0));
}

#[test]
fn a_node_past_its_ttl_is_no_longer_expected_and_counts_again_once_back() {
    let redis = Redis::start();
    let envs = [
        ("CORECAST_NODE_HEARTBEAT_MS", "200"),
        ("CORECAST_NODE_TTL_MS", "1500"),
        ("CORECAST_CLUSTER_QUERY_TIMEOUT_MS", "500"),
    ];
    let (a, c) = (Server::node(&redis, &envs), Server::node(&redis, &envs));
    let _subs = [subscribers(&a, "news", 1), subscribers(&c, "news", 2)];
    assert_eq!(count_of(&channel(&a, "news")), 3);
    // c refreshes its entry: its expiry score moves on.
    let nodes = format!("{}:nodes", common::cluster::PREFIX);
    let score = || -> f64 {
        let v = redis.cmd(&["ZSCORE", &nodes, &node_key(&c)]);
        redis::FromRedisValue::from_redis_value(v).expect("c is in P:nodes")
    };
    let first = score();
    let deadline = Instant::now() + NOTICE;
    while score() <= first {
        assert!(Instant::now() < deadline, "c's entry was never refreshed");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.signal(libc::SIGSTOP);
    // Partial (naming c) until c's entry expires, then complete without it.
    let deadline = Instant::now() + NOTICE;
    loop {
        let reply = channel(&a, "news");
        match reply.header("X-Corecast-Partial") {
            Some(missing) => assert_eq!(missing, node_key(&c)),
            None => {
                assert_eq!(count_of(&reply), 1, "only a's share once c is gone");
                break;
            }
        }
        assert!(Instant::now() < deadline, "c stayed expected past its TTL");
    }
    c.signal(libc::SIGCONT);
    let deadline = Instant::now() + NOTICE;
    while count_of(&channel(&a, "news")) != 3 {
        assert!(Instant::now() < deadline, "c's share never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_node_that_stops_is_no_longer_expected() {
    let redis = Redis::start();
    // Without leaving, the stopped node would stay expected for a minute.
    let envs = [
        ("CORECAST_NODE_TTL_MS", "60000"),
        ("CORECAST_CLUSTER_QUERY_TIMEOUT_MS", "500"),
    ];
    let (a, c) = (Server::node(&redis, &envs), Server::node(&redis, &envs));
    let _on_a = subscribers(&a, "news", 1);
    let on_c = subscribers(&c, "news", 2);
    assert_eq!(count_of(&channel(&a, "news")), 3);
    c.signal(libc::SIGTERM);
    drop(on_c);
    // c is gone: its entry removed, its port closed.
    let nodes = format!("{}:nodes", common::cluster::PREFIX);
    let key = node_key(&c);
    let deadline = Instant::now() + NOTICE;
    while redis.cmd(&["ZSCORE", &nodes, &key]) != redis::Value::Nil
        || std::net::TcpStream::connect_timeout(&c.addr, Duration::from_secs(1)).is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "c did not leave P:nodes and stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = channel(&a, "news");
    assert_eq!(
        reply.header("X-Corecast-Partial"),
        None,
        "c is still expected"
    );
    assert_eq!(count_of(&reply), 1);
}
