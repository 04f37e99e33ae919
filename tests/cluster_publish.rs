//! Cluster mode, cross-node publish: two or three node processes on the test's own
//! `redis-server`. A REST publish on one node reaches subscribers on every node exactly once
//! and in order; `socket_id` exclusion, client events, `#server-to-user-…`, cache channels and
//! raw `/v3` messages (text, binary, `POST /api/publish`) travel too; a burst costs far fewer
//! `PUBLISH` calls than publishes; presence member events stay on their node.

mod common;

use common::redis_server::Redis;
use common::{presence_of, App, Server, Ws};
use serde_json::{json, Value};
use tungstenite::Message;

fn event(name: &str, channel: &str, data: &str) -> Value {
    json!({"event": name, "channel": channel, "data": data})
}

/// Receives `n` events named `name`, asserts their data are `0..n` in order, returns them.
fn expect_numbered(ws: &mut Ws, channel: &str, n: usize) {
    for i in 0..n {
        let data = ws.expect_event("n", channel);
        assert_eq!(data, json!(i.to_string()), "event {i} of {n}");
    }
}

#[test]
fn a_rest_publish_reaches_every_node_once_and_in_order() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let c = Server::node(&redis, &[]);
    assert!(a.output().contains("adapter:  redis redis://127.0.0.1:"));
    let mut subs: Vec<Ws> = Vec::new();
    for node in [&a, &b, &b, &c] {
        let mut ws = node.connect();
        ws.subscribe_ok("news");
        subs.push(ws);
    }
    let mut rest = a.rest();
    for i in 0..200 {
        rest.trigger(json!({"name": "n", "channel": "news", "data": i.to_string()}));
    }
    rest.trigger(json!({"name": "end", "channel": "news", "data": "e"}));
    for ws in &mut subs {
        expect_numbered(ws, "news", 200);
        // Anything doubled would come before the marker, which comes last.
        assert_eq!(ws.expect_event("end", "news"), "e");
    }
    for ws in &mut subs {
        ws.ping_pong();
    }
    assert!(b.metric("corecast_cluster_records_received_total").unwrap() >= 201);
    assert!(a.metric("corecast_cluster_records_sent_total").unwrap() >= 201);
    assert_eq!(a.metric("corecast_cluster_records_received_total"), Some(0));
}

#[test]
fn socket_id_exclusion_works_across_nodes() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let mut excluded = b.connect();
    excluded.subscribe_ok("room");
    let mut other_b = b.connect();
    other_b.subscribe_ok("room");
    let mut on_a = a.connect();
    on_a.subscribe_ok("room");
    let mut rest = a.rest();
    rest.trigger(json!({"name": "x", "channel": "room", "data": "1",
        "socket_id": excluded.socket_id}));
    let batch = json!({"batch": [{"name": "x", "channel": "room", "data": "2",
        "socket_id": excluded.socket_id}]});
    assert_eq!(rest.post("batch_events", &batch).ok(), &json!({}));
    rest.trigger(json!({"name": "all", "channel": "room", "data": "3"}));
    for ws in [&mut other_b, &mut on_a] {
        assert_eq!(ws.expect_event("x", "room"), "1");
        assert_eq!(ws.expect_event("x", "room"), "2");
        assert_eq!(ws.expect_event("all", "room"), "3");
    }
    // Its first message is the unexcluded one: both excluded events were skipped.
    assert_eq!(excluded.expect_event("all", "room"), "3");
}

#[test]
fn client_events_and_user_messages_cross_nodes() {
    let redis = Redis::start();
    let apps = json!([{"id": "ce", "key": "ce-key", "secret": "ce-secret",
        "enable_client_messages": true}]);
    let url = redis.url();
    let envs = [
        ("CORECAST_REDIS_URL", url.as_str()),
        ("CORECAST_REDIS_PREFIX", common::cluster::PREFIX),
    ];
    let a = Server::with_apps(apps.clone(), &envs);
    let b = Server::with_apps(apps, &envs);
    let app = App::new("ce", "ce-key", "ce-secret");
    let mut sender = a.connect();
    sender.subscribe_private(&app, "private-chat");
    let mut receiver = b.connect();
    receiver.subscribe_private(&app, "private-chat");
    sender.send_json(&json!({"event": "client-typing", "channel": "private-chat",
        "data": {"who": "a"}}));
    let got = receiver.recv_json();
    assert_eq!(got["event"], "client-typing", "{got}");
    assert_eq!(got["channel"], "private-chat", "{got}");
    // The sender never gets its own client event back, from any node.
    a.rest()
        .trigger(json!({"name": "marker", "channel": "private-chat", "data": "m"}));
    assert_eq!(sender.expect_event("marker", "private-chat"), "m");
    assert_eq!(receiver.expect_event("marker", "private-chat"), "m");

    // A user signed in on B gets a message sent to it through A.
    let reply = receiver.signin(&app, r#"{"id":"u1"}"#);
    assert_eq!(reply["event"], "pusher:signin_success", "{reply}");
    receiver.subscribe_ok("#server-to-user-u1");
    a.rest()
        .trigger(json!({"name": "hello", "channel": "#server-to-user-u1", "data": "hi"}));
    assert_eq!(receiver.expect_event("hello", "#server-to-user-u1"), "hi");
}

#[test]
fn cache_channel_events_reach_later_subscribers_on_other_nodes() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let mut live = b.connect();
    live.subscribe_ok("cache-score");
    let _ = live.recv_json(); // pusher:cache_miss
    a.rest()
        .trigger(json!({"name": "score", "channel": "cache-score", "data": "3-1"}));
    // Once the live subscriber on B has it, B keeps it for later subscribers.
    assert_eq!(live.expect_event("score", "cache-score"), "3-1");
    let mut late = b.connect();
    late.subscribe_ok("cache-score");
    assert_eq!(late.recv_json(), event("score", "cache-score", "3-1"));
}

/// A raw member of `channel` on `node`, known to be subscribed (a ping was answered).
fn raw_member(node: &Server, channel: &str) -> Ws {
    let mut ws = node.raw(channel, "");
    ws.send(Message::Ping(b"up".to_vec().into()));
    loop {
        match ws.recv() {
            Message::Pong(_) => return ws,
            Message::Ping(_) => continue,
            other => panic!("unexpected {other:?} before the pong"),
        }
    }
}

#[test]
fn raw_channel_messages_cross_nodes() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let mut on_a = raw_member(&a, "room-7");
    let mut on_b = raw_member(&b, "room-7");
    on_a.send_text(r#"{"event":"say","data":"hé"}"#);
    assert_eq!(on_b.recv_text(), r#"{"event":"say","data":"hé"}"#);
    on_a.send(Message::Binary(vec![0u8, 1, 255].into()));
    match on_b.recv() {
        Message::Binary(b) => assert_eq!(&b[..], [0u8, 1, 255]),
        other => panic!("expected the binary message, got {other:?}"),
    }
    let publish = json!({"key": b.app.key, "secret": b.app.secret, "channelId": "room-7",
        "message": {"from": "api"}});
    let reply = b.rest().send(
        "POST",
        "/api/publish",
        publish.to_string().as_bytes(),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(on_a.recv_text(), r#"{"from":"api"}"#);
    assert_eq!(on_b.recv_text(), r#"{"from":"api"}"#);
    // The sender did not get its own messages back (no notify_self), from any node.
    on_a.assert_silent(std::time::Duration::from_millis(300));
}

#[test]
fn a_burst_of_publishes_costs_far_fewer_redis_publishes() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let mut sub = b.connect();
    sub.subscribe_ok("burst");
    let before = redis.calls("publish");
    let bodies: Vec<Value> = (0..1000)
        .map(|i| json!({"name": "n", "channel": "burst", "data": i.to_string()}))
        .collect();
    a.publish_burst(&bodies);
    expect_numbered(&mut sub, "burst", 1000);
    let publishes = redis.calls("publish") - before;
    let envelopes = a.metric("corecast_cluster_envelopes_sent_total").unwrap();
    assert!(
        publishes < 250,
        "1,000 publishes cost {publishes} PUBLISH calls ({envelopes} envelopes)"
    );
    assert_eq!(a.metric("corecast_cluster_records_sent_total"), Some(1000));
    assert_eq!(
        b.metric("corecast_cluster_records_received_total"),
        Some(1000)
    );
}

#[test]
fn presence_member_events_stay_on_their_node() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let app = a.app.clone();
    let mut watcher = b.connect();
    let reply = watcher.join_presence(&app, "presence-room", r#"{"user_id":"w"}"#);
    assert_eq!(presence_of(&reply, "presence-room")["count"], 1);
    let mut joiner = a.connect();
    let reply = joiner.join_presence(&app, "presence-room", r#"{"user_id":"j"}"#);
    assert_eq!(presence_of(&reply, "presence-room")["count"], 1);
    // Nothing of A's member list reaches B in this phase: the next message is the marker.
    a.rest()
        .trigger(json!({"name": "marker", "channel": "presence-room", "data": "m"}));
    assert_eq!(watcher.expect_event("marker", "presence-room"), "m");
    assert_eq!(joiner.expect_event("marker", "presence-room"), "m");
}

#[test]
fn envelopes_on_the_bus_follow_the_wire_format() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let bus = format!("{}:b", common::cluster::PREFIX);
    let node_key = a
        .output()
        .split("(node ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("node key in the banner")
        .to_string();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    con.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(&bus).unwrap();
    a.rest()
        .trigger(json!({"name": "my-event", "channel": "news", "data": "{\"hello\":1}"}));
    let msg = pubsub.get_message().expect("an envelope within the bound");
    let envelope: Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap();
    assert_eq!(
        envelope,
        json!({"v": 1, "n": node_key, "s": 1, "r": [{"k": "e", "a": "app-id", "c": "news",
            "d": {"event": "my-event", "channel": "news", "data": "{\"hello\":1}"}}]})
    );
}

#[test]
fn envelopes_from_other_nodes_are_delivered_once_and_bad_ones_dropped() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let bus = format!("{}:b", common::cluster::PREFIX);
    let mut sub = a.connect();
    sub.subscribe_ok("my-channel");
    let publish = |payload: &str| {
        redis.cmd(&["PUBLISH", &bus, payload]);
    };
    let spec_example = r#"{"v":1,"n":"9f2c41d07ab3e615.1","s":42,"r":[{"k":"e","a":"app-id","c":"my-channel","d":{"event":"my-event","channel":"my-channel","data":"{\"hello\":\"world\"}"}}]}"#;
    publish(spec_example);
    assert_eq!(
        sub.recv_json(),
        event("my-event", "my-channel", r#"{"hello":"world"}"#)
    );
    publish(spec_example); // the same `s` again: a repeat
    publish(r#"{"v":2,"n":"9f2c41d07ab3e615.1","s":43,"r":[]}"#);
    publish("not json");
    publish(
        r#"{"v":1,"n":"9f2c41d07ab3e615.1","s":44,"r":[
            {"k":"later-kind","a":"app-id","c":"my-channel"},
            {"k":"e","a":"no-such-app","c":"my-channel","d":{"event":"x"}},
            {"k":"e","a":"app-id","c":"my-channel","d":{"event":"marker","channel":"my-channel","data":"m"},"new-field":1}
        ]}"#,
    );
    // The marker is the next message: nothing of the dropped envelopes or records arrived.
    assert_eq!(sub.expect_event("marker", "my-channel"), "m");
    let dropped = "corecast_cluster_dropped_envelopes_total";
    a.wait_metric(&format!("{dropped}{{reason=\"duplicate\"}}"), 1);
    a.wait_metric(&format!("{dropped}{{reason=\"version\"}}"), 1);
    a.wait_metric(&format!("{dropped}{{reason=\"invalid\"}}"), 1);
    a.wait_metric("corecast_cluster_invalid_records_total", 1);
    a.wait_metric("corecast_cluster_envelopes_received_total", 2);
    a.wait_metric("corecast_cluster_records_received_total", 2);
}

#[test]
fn large_bursts_are_split_into_envelopes_of_at_most_512_kib() {
    let redis = Redis::start();
    let a = Server::node(&redis, &[]);
    let b = Server::node(&redis, &[]);
    let mut sub = b.connect();
    sub.subscribe_ok("big");
    let bus = format!("{}:b", common::cluster::PREFIX);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    con.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(&bus).unwrap();
    let filler = "x".repeat(8000);
    let bodies: Vec<Value> = (0..200)
        .map(|i| json!({"name": "n", "channel": "big", "data": format!("{i}:{filler}")}))
        .collect();
    a.publish_burst(&bodies);
    for i in 0..200 {
        let data = sub.expect_event("n", "big");
        assert_eq!(data, json!(format!("{i}:{filler}")), "event {i}");
    }
    let mut records = 0;
    let mut envelopes = 0;
    while records < 200 {
        let msg = pubsub.get_message().expect("the envelopes of the burst");
        let payload = msg.get_payload_bytes();
        assert!(payload.len() <= 512 * 1024, "{} bytes", payload.len());
        let env: Value = serde_json::from_slice(payload).unwrap();
        records += env["r"].as_array().unwrap().len();
        envelopes += 1;
    }
    assert_eq!(records, 200);
    assert!(envelopes >= 4, "1.6 MB of records in {envelopes} envelopes");
}
