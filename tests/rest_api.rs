//! REST publishing and its refusals: `POST /events` (a `channels` list or one `channel`,
//! duplicates delivered once, non-string data compacted), `POST /batch_events` (in order, with
//! `info`), and every refusal with its status and a JSON `{"error":…}` body: signature,
//! timestamp window, `body_md5` (401), unknown app or route (404), wrong method (405), invalid
//! bodies (400), oversized data (413), disabled app (403). Refused requests publish nothing.

mod common;

use common::{now_unix, App, Reply, Rest, Server, Ws};
use serde_json::{json, Value};

/// A server and a connection subscribed to `watched`.
fn watched_server() -> (Server, Ws) {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("watched");
    (server, ws)
}

/// Publishes a marker on `watched` and asserts it is `ws`'s next message.
fn assert_nothing_published(rest: &mut Rest, ws: &mut Ws) {
    rest.trigger(json!({"name": "marker", "channel": "watched", "data": "m"}));
    assert_eq!(ws.expect_event("marker", "watched"), "m");
}

#[test]
fn events_with_a_channels_list_reach_every_channel() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("ch-a");
    ws.subscribe_ok("ch-b");
    let reply = server.rest().post(
        "events",
        &json!({"name": "multi", "channels": ["ch-a", "ch-b", "ch-empty"], "data": "{\"x\":1}"}),
    );
    assert_eq!(reply.ok(), &json!({}));
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let mut got: Vec<Value> = (0..2).map(|_| ws.recv_json()).collect();
    got.sort_by_key(|m| m["channel"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        got,
        vec![
            json!({"event": "multi", "channel": "ch-a", "data": "{\"x\":1}"}),
            json!({"event": "multi", "channel": "ch-b", "data": "{\"x\":1}"}),
        ]
    );
}

#[test]
fn events_with_a_single_channel_field_and_duplicates_once() {
    let (server, mut ws) = watched_server();
    let mut rest = server.rest();
    rest.trigger(json!({"name": "single", "channel": "watched", "data": "one"}));
    assert_eq!(ws.expect_event("single", "watched"), "one");
    rest.trigger(json!({"name": "dup", "channels": ["watched", "watched"], "data": "two"}));
    assert_eq!(ws.expect_event("dup", "watched"), "two");
    assert_nothing_published(&mut rest, &mut ws);
}

#[test]
fn non_string_data_is_delivered_as_a_compact_string() {
    let (server, mut ws) = watched_server();
    server
        .rest()
        .trigger(json!({"name": "obj", "channel": "watched", "data": {"a": [1, 2]}}));
    assert_eq!(ws.expect_event("obj", "watched"), "{\"a\":[1,2]}");
}

#[test]
fn batch_events_are_published_in_order() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("b-one");
    ws.subscribe_ok("b-two");
    let batch = json!({"batch": [
        {"name": "first", "channel": "b-one", "data": "1"},
        {"name": "second", "channel": "b-two", "data": "2"},
        {"name": "third", "channel": "b-one", "data": "3"}
    ]});
    assert_eq!(server.rest().post("batch_events", &batch).ok(), &json!({}));
    assert_eq!(ws.expect_event("first", "b-one"), "1");
    assert_eq!(ws.expect_event("second", "b-two"), "2");
    assert_eq!(ws.expect_event("third", "b-one"), "3");
}

#[test]
fn batch_events_with_info_report_counts_per_element() {
    let (server, mut ws) = watched_server();
    let batch = json!({"batch": [
        {"name": "a", "channel": "watched", "data": "1", "info": "subscription_count"},
        {"name": "b", "channel": "nobody", "data": "2"},
        {"name": "c", "channel": "nobody", "data": "3", "info": "subscription_count"}
    ]});
    let reply = server.rest().post("batch_events", &batch);
    assert_eq!(
        reply.ok(),
        &json!({"batch": [{"subscription_count": 1}, {}, {"subscription_count": 0}]})
    );
    ws.expect_event("a", "watched");
}

fn tamper(query: &str) -> String {
    let last = query.chars().last().unwrap();
    let swapped = if last == '0' { '1' } else { '0' };
    format!("{}{swapped}", &query[..query.len() - 1])
}

#[test]
fn authentication_failures_are_401_and_publish_nothing() {
    let (server, mut ws) = watched_server();
    let mut rest = server.rest();
    let path = format!("/apps/{}/events", server.app.id);
    let body = json!({"name": "nope", "channel": "watched", "data": "x"}).to_string();
    let body = body.as_bytes();
    let now = now_unix();
    let check = |rest: &mut Rest, what: &str, target: String, body: &[u8]| {
        let reply: Reply = rest.send("POST", &target, body, &[]);
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        reply.assert_error(401);
    };
    let good = rest.query("POST", &path, &[], body, now);
    check(
        &mut rest,
        "bad signature",
        format!("{path}?{}", tamper(&good)),
        body,
    );
    let old = rest.query("POST", &path, &[], body, now - 601);
    check(&mut rest, "601 s old", format!("{path}?{old}"), body);
    let future = rest.query("POST", &path, &[], body, now + 601);
    check(&mut rest, "601 s ahead", format!("{path}?{future}"), body);
    let other_body = rest.query("POST", &path, &[], b"{\"other\":1}", now);
    check(
        &mut rest,
        "body_md5 mismatch",
        format!("{path}?{other_body}"),
        body,
    );
    let no_md5 = rest.query("POST", &path, &[], b"", now);
    check(
        &mut rest,
        "body without body_md5",
        format!("{path}?{no_md5}"),
        body,
    );
    let mut wrong_key = Rest::new(
        server.addr,
        App::new(&server.app.id, "other-key", "app-secret"),
    );
    let q = wrong_key.query("POST", &path, &[], body, now);
    check(
        &mut wrong_key,
        "wrong auth_key",
        format!("{path}?{q}"),
        body,
    );
    let unsigned = good.split("&auth_signature=").next().unwrap().to_string();
    check(
        &mut rest,
        "no signature",
        format!("{path}?{unsigned}"),
        body,
    );
    check(&mut rest, "no query", path.clone(), body);
    assert_nothing_published(&mut rest, &mut ws);
    // Inside the window is fine.
    let recent = rest.signed_at("POST", &path, &[], body, now - 590);
    assert_eq!(recent.ok(), &json!({}));
    ws.expect_event("nope", "watched");
}

#[test]
fn unknown_app_and_route_are_404_wrong_method_is_405() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    let body = json!({"name": "e", "channel": "c", "data": "d"}).to_string();
    rest.signed("POST", "/apps/no-such-app/events", &[], body.as_bytes())
        .assert_error(404);
    rest.get("nothing-here", &[]).assert_error(404);
    rest.signed("GET", "/nothing", &[], b"").assert_error(404);
    rest.get("events", &[]).assert_error(405);
    rest.get("batch_events", &[]).assert_error(405);
    let path = format!("/apps/{}/channels", server.app.id);
    rest.signed("POST", &path, &[], body.as_bytes())
        .assert_error(405);
    rest.signed(
        "DELETE",
        &format!("/apps/{}/events", server.app.id),
        &[],
        b"",
    )
    .assert_error(405);
}

#[test]
fn invalid_event_bodies_are_400_and_publish_nothing() {
    let (server, mut ws) = watched_server();
    let mut rest = server.rest();
    let path = format!("/apps/{}/events", server.app.id);
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    let cases: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"name\": ".into()),
        ("not an object", "[1,2]".into()),
        (
            "missing name",
            json!({"channel": "watched", "data": "x"}).to_string(),
        ),
        (
            "missing data",
            json!({"name": "e", "channel": "watched"}).to_string(),
        ),
        (
            "missing channels",
            json!({"name": "e", "data": "x"}).to_string(),
        ),
        (
            "empty channels",
            json!({"name": "e", "channels": [], "data": "x"}).to_string(),
        ),
        (
            "101 channels",
            json!({"name": "e", "channels": hundred_and_one, "data": "x"}).to_string(),
        ),
        (
            "invalid channel name",
            json!({"name": "e", "channels": ["watched", "bad name!"], "data": "x"}).to_string(),
        ),
        (
            "encrypted in a multi-channel publish",
            json!({"name": "e", "channels": ["watched", "private-encrypted-x"], "data": "x"})
                .to_string(),
        ),
        (
            "event name over 200",
            json!({"name": "n".repeat(201), "channel": "watched", "data": "x"}).to_string(),
        ),
        (
            "unknown info attribute",
            json!({"name": "e", "channel": "watched", "data": "x", "info": "bogus"}).to_string(),
        ),
    ];
    for (what, body) in &cases {
        let reply = rest.signed("POST", &path, &[], body.as_bytes());
        assert_eq!(reply.status, 400, "{what}: {}", reply.text());
        reply.assert_error(400);
    }
    for bad in ["abc", "1.2.3", "1.", ".1", "-1.2", "1,2"] {
        let body = json!({"name": "e", "channel": "watched", "data": "x", "socket_id": bad});
        let reply = rest.post("events", &body);
        assert_eq!(reply.status, 400, "socket_id {bad:?}: {}", reply.text());
        reply.assert_error(400);
    }
    assert_nothing_published(&mut rest, &mut ws);
}

#[test]
fn invalid_batches_are_400_and_publish_nothing() {
    let (server, mut ws) = watched_server();
    let mut rest = server.rest();
    let ev = |i: usize| json!({"name": format!("e{i}"), "channel": "watched", "data": "x"});
    let eleven: Vec<Value> = (0..11).map(ev).collect();
    rest.post("batch_events", &json!({"batch": eleven}))
        .assert_error(400);
    rest.post("batch_events", &json!({"batch": []}))
        .assert_error(400);
    rest.post("batch_events", &json!({"events": [ev(0)]}))
        .assert_error(400);
    let one_bad = json!({"batch": [ev(0), {"name": "e", "channel": "bad name!", "data": "x"}]});
    rest.post("batch_events", &one_bad).assert_error(400);
    let no_channel = json!({"batch": [ev(0), {"name": "e", "data": "x"}]});
    rest.post("batch_events", &no_channel).assert_error(400);
    let ten: Vec<Value> = (0..10).map(ev).collect();
    assert_eq!(
        rest.post("batch_events", &json!({"batch": ten})).ok(),
        &json!({})
    );
    for i in 0..10 {
        ws.expect_event(&format!("e{i}"), "watched");
    }
    assert_nothing_published(&mut rest, &mut ws);
}

#[test]
fn data_over_10_kib_is_413() {
    let (server, mut ws) = watched_server();
    let mut rest = server.rest();
    let over = json!({"name": "big", "channel": "watched", "data": "x".repeat(10 * 1024 + 1)});
    rest.post("events", &over).assert_error(413);
    let batch = json!({"batch": [over]});
    rest.post("batch_events", &batch).assert_error(413);
    assert_nothing_published(&mut rest, &mut ws);
    let at_limit = "y".repeat(10 * 1024);
    rest.trigger(json!({"name": "big", "channel": "watched", "data": at_limit}));
    assert_eq!(ws.expect_event("big", "watched"), at_limit.as_str());
}

#[test]
fn disabled_app_is_403() {
    let server = Server::with_apps(
        json!([{"id": "off", "key": "off-key", "secret": "off-secret", "enabled": false}]),
        &[],
    );
    let reply = server
        .rest()
        .post("events", &json!({"name": "e", "channel": "c", "data": "d"}));
    reply.assert_error(403);
}
