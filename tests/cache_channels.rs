//! Cache channels (`cache-`, `private-cache-`, `presence-cache-`): right after
//! `subscription_succeeded` a subscriber gets the channel's last REST-published event, on any
//! shard, or `pusher:cache_miss`; entries expire after the app's TTL; `GET /channels/{name}`
//! with `info=cache` shows the entry; client events are never cached.

mod common;

use std::time::Duration;

use common::{presence_of, Server, Ws};
use serde_json::{json, Value};

fn expect_cache_miss(ws: &mut Ws, channel: &str) {
    assert_eq!(
        ws.recv_json(),
        json!({"event": "pusher:cache_miss", "channel": channel, "data": "{}"})
    );
}

fn event(name: &str, channel: &str, data: &str) -> Value {
    json!({"event": name, "channel": channel, "data": data})
}

fn cache_info(server: &Server, channel: &str) -> Value {
    let reply = server
        .rest()
        .get(&format!("channels/{channel}"), &[("info", "cache")]);
    reply.ok().clone()
}

#[test]
fn a_miss_is_reported_after_subscription_succeeded() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("cache-empty");
    expect_cache_miss(&mut ws, "cache-empty");
    // Not on ordinary channels.
    ws.subscribe_ok("plain");
    ws.ping_pong();
}

#[test]
fn late_subscribers_on_every_shard_get_the_last_published_event() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    rest.trigger(json!({"name": "first", "channel": "cache-x", "data": "1"}));
    rest.trigger(json!({"name": "second", "channels": ["cache-x", "plain"], "data": "{\"v\":2}"}));
    let batch = json!({"batch": [{"name": "b", "channel": "cache-y", "data": "by"}]});
    assert_eq!(rest.post("batch_events", &batch).ok(), &json!({}));
    let mut spare = Vec::new();
    let mut subs = Vec::new();
    for shard in [0, 1] {
        let mut ws = server.connect_on(shard, &mut spare);
        ws.subscribe_ok("cache-x");
        assert_eq!(ws.recv_json(), event("second", "cache-x", "{\"v\":2}"));
        ws.subscribe_ok("cache-y");
        assert_eq!(ws.recv_json(), event("b", "cache-y", "by"));
        ws.ping_pong();
        subs.push(ws);
    }
    // Live events flow as usual and replace the entry, also when one subscriber is excluded.
    let except = subs[0].socket_id.clone();
    rest.trigger(json!({"name": "third", "channel": "cache-x", "data": "3", "socket_id": except}));
    assert_eq!(subs[1].recv_json(), event("third", "cache-x", "3"));
    subs[0].ping_pong();
    for shard in [0, 1] {
        let mut ws = server.connect_on(shard, &mut spare);
        ws.subscribe_ok("cache-x");
        assert_eq!(ws.recv_json(), event("third", "cache-x", "3"));
    }
}

#[test]
fn the_rest_response_means_every_shard_holds_the_event() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    let mut spare = Vec::new();
    let mut subs: Vec<Ws> = [0, 1]
        .into_iter()
        .map(|shard| server.connect_on(shard, &mut spare))
        .collect();
    // Subscribing right after the 200, with no other traffic in between, on both shards.
    for i in 0..40 {
        let channel = format!("cache-race-{i}");
        rest.trigger(json!({"name": "e", "channel": channel, "data": "d"}));
        for ws in &mut subs {
            ws.subscribe_ok(&channel);
            assert_eq!(ws.recv_json(), event("e", &channel, "d"), "round {i}");
        }
        let batch = json!({"batch": [{"name": "b", "channel": channel, "data": "bd"}]});
        rest.post("batch_events", &batch).ok();
        let again = format!("{channel}-again");
        let batch = json!({"batch": [{"name": "b", "channel": again, "data": "bd"}]});
        rest.post("batch_events", &batch).ok();
        for ws in &mut subs {
            assert_eq!(ws.recv_json(), event("b", &channel, "bd"), "round {i}");
            ws.subscribe_ok(&again);
            assert_eq!(ws.recv_json(), event("b", &again, "bd"), "round {i}");
        }
    }
}

#[test]
fn private_and_presence_cache_channels_are_cached_too() {
    let server = Server::start(&[]);
    let app = server.app.clone();
    let mut rest = server.rest();
    let private = "private-cache-p";
    let mut p1 = server.connect();
    p1.subscribe_private(&app, private);
    expect_cache_miss(&mut p1, private);
    rest.trigger(json!({"name": "pe", "channel": private, "data": "pd"}));
    assert_eq!(p1.recv_json(), event("pe", private, "pd"));
    let mut p2 = server.connect();
    p2.subscribe_private(&app, private);
    assert_eq!(p2.recv_json(), event("pe", private, "pd"));

    let room = "presence-cache-r";
    let mut r1 = server.connect();
    let joined = presence_of(&r1.join_presence(&app, room, r#"{"user_id":"1"}"#), room);
    assert_eq!(joined["count"], 1);
    expect_cache_miss(&mut r1, room);
    rest.trigger(json!({"name": "re", "channel": room, "data": "rd"}));
    assert_eq!(r1.recv_json(), event("re", room, "rd"));
    let mut r2 = server.connect();
    let joined = presence_of(&r2.join_presence(&app, room, r#"{"user_id":"2"}"#), room);
    assert_eq!(joined["ids"], json!(["1", "2"]));
    assert_eq!(r2.recv_json(), event("re", room, "rd"));
    assert_eq!(
        r1.recv_json()["event"],
        "pusher_internal:member_added",
        "the cached event goes to the joiner only"
    );
    r1.ping_pong();
}

#[test]
fn entries_expire_after_the_ttl() {
    let server = Server::start(&[("CORECAST_CACHE_TTL", "1")]);
    server
        .rest()
        .trigger(json!({"name": "soon-gone", "channel": "cache-t", "data": "d"}));
    let info = cache_info(&server, "cache-t");
    assert_eq!(info["cache"]["data"], "d", "{info}");
    assert!(
        info["cache"]["ttl"].as_u64().is_some_and(|t| t <= 1),
        "{info}"
    );
    let mut ws = server.connect();
    ws.subscribe_ok("cache-t");
    assert_eq!(ws.recv_json(), event("soon-gone", "cache-t", "d"));
    std::thread::sleep(Duration::from_millis(1300));
    for _ in 0..2 {
        let mut late = server.connect();
        late.subscribe_ok("cache-t");
        expect_cache_miss(&mut late, "cache-t");
    }
    assert_eq!(
        cache_info(&server, "cache-t"),
        json!({"occupied": true, "cache": null})
    );
}

#[test]
fn rest_info_cache_shows_data_and_remaining_ttl() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    assert_eq!(
        cache_info(&server, "cache-info"),
        json!({"occupied": false, "cache": null})
    );
    assert_eq!(
        cache_info(&server, "private-cache-info"),
        json!({"occupied": false, "cache": null})
    );
    rest.trigger(json!({"name": "loc", "channel": "cache-info", "data": "{\"lat\":1}"}));
    let info = cache_info(&server, "cache-info");
    assert_eq!(info["occupied"], false, "{info}");
    assert_eq!(info["cache"]["data"], "{\"lat\":1}", "{info}");
    let ttl = info["cache"]["ttl"].as_u64().expect("ttl in seconds");
    assert!((1790..=1800).contains(&ttl), "{info}");
    let mut ws = server.connect();
    ws.subscribe_ok("cache-info");
    ws.recv_json();
    let both = rest
        .get(
            "channels/cache-info",
            &[("info", "cache,subscription_count")],
        )
        .ok()
        .clone();
    assert_eq!(both["occupied"], true, "{both}");
    assert_eq!(both["subscription_count"], 1, "{both}");
    assert_eq!(both["cache"]["data"], "{\"lat\":1}", "{both}");
    for channel in ["plain", "private-x", "presence-x", "private-encrypted-x"] {
        rest.get(&format!("channels/{channel}"), &[("info", "cache")])
            .assert_error(400);
    }
}

#[test]
fn client_events_are_not_cached() {
    let server = Server::start(&[("CORECAST_ENABLE_CLIENT_MESSAGES", "true")]);
    let app = server.app.clone();
    let mut rest = server.rest();
    let (only_client, mixed) = ("private-cache-c", "private-cache-m");
    let mut a = server.connect();
    let mut b = server.connect();
    for ws in [&mut a, &mut b] {
        for channel in [only_client, mixed] {
            ws.subscribe_private(&app, channel);
            expect_cache_miss(ws, channel);
        }
    }
    rest.trigger(json!({"name": "from-rest", "channel": mixed, "data": "r"}));
    for ws in [&mut a, &mut b] {
        assert_eq!(ws.recv_json(), event("from-rest", mixed, "r"));
    }
    for channel in [only_client, mixed] {
        a.send_json(&json!({"event": "client-x", "channel": channel, "data": "c"}));
        assert_eq!(b.recv_json(), event("client-x", channel, "c"));
    }
    let mut late = server.connect();
    late.subscribe_private(&app, only_client);
    expect_cache_miss(&mut late, only_client);
    late.subscribe_private(&app, mixed);
    assert_eq!(late.recv_json(), event("from-rest", mixed, "r"));
    assert_eq!(cache_info(&server, only_client)["cache"], Value::Null);
    assert_eq!(cache_info(&server, mixed)["cache"]["data"], "r");
}
