//! Subscribing and unsubscribing: `pusher_internal:subscription_succeeded` with data `"{}"`,
//! delivery while subscribed and none after unsubscribing, idempotent re-subscription, channel
//! name validation (`InvalidChannel`, 400), and private / encrypted channel authorization
//! (`AuthError`, 401 on a missing or wrong signature; success with the right one).

mod common;

use common::{assert_sub_error, assert_succeeded, Server};
use serde_json::json;

#[test]
fn public_subscribe_gets_subscription_succeeded_with_empty_object_string() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.send_json(
        &json!({"event": "pusher:subscribe", "data": {"auth": "", "channel": "my-channel"}}),
    );
    assert_eq!(
        ws.recv_json(),
        json!({"event": "pusher_internal:subscription_succeeded", "channel": "my-channel", "data": "{}"})
    );
    let reply = ws.subscribe_with("no-auth-field", None);
    assert_succeeded(&reply, "no-auth-field");
}

#[test]
fn subscribe_data_may_be_a_json_string() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let data = json!({"channel": "stringy"}).to_string();
    ws.send_json(&json!({"event": "pusher:subscribe", "data": data}));
    assert_succeeded(&ws.recv_json(), "stringy");
}

#[test]
fn subscriber_receives_published_events_with_data_unchanged() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("news");
    let data = r#"{"hello":"world","n":[1,2]}"#;
    server
        .rest()
        .trigger(json!({"name": "my-event", "channels": ["news"], "data": data}));
    assert_eq!(
        ws.recv_json(),
        json!({"event": "my-event", "channel": "news", "data": data})
    );
}

#[test]
fn unsubscribe_stops_delivery_for_that_connection_only() {
    let server = Server::start(&[]);
    let mut leaver = server.connect();
    let mut stayer = server.connect();
    for ws in [&mut leaver, &mut stayer] {
        ws.subscribe_ok("room");
        ws.subscribe_ok("lobby");
    }
    leaver.unsubscribe("room");
    // No reply exists for unsubscribe: the pong comes next, and proves it was processed.
    leaver.ping_pong();
    let mut rest = server.rest();
    rest.trigger(json!({"name": "in-room", "channel": "room", "data": "1"}));
    rest.trigger(json!({"name": "in-lobby", "channel": "lobby", "data": "2"}));
    assert_eq!(leaver.expect_event("in-lobby", "lobby"), "2");
    assert_eq!(stayer.expect_event("in-room", "room"), "1");
    assert_eq!(stayer.expect_event("in-lobby", "lobby"), "2");
}

#[test]
fn unsubscribing_an_unknown_channel_is_a_silent_no_op() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.unsubscribe("never-subscribed");
    ws.ping_pong();
}

#[test]
fn resubscribing_is_idempotent_and_unsubscribe_then_subscribe_works() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("twice");
    ws.subscribe_ok("twice");
    ws.subscribe_ok("marker");
    let mut rest = server.rest();
    rest.trigger(json!({"name": "once", "channel": "twice", "data": "x"}));
    rest.trigger(json!({"name": "mark", "channel": "marker", "data": "m"}));
    ws.expect_event("once", "twice");
    ws.expect_event("mark", "marker");
    ws.unsubscribe("twice");
    ws.subscribe_ok("twice");
    rest.trigger(json!({"name": "again", "channel": "twice", "data": "y"}));
    ws.expect_event("again", "twice");
}

#[test]
fn invalid_channel_names_get_invalid_channel_400() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let too_long = "a".repeat(201);
    for name in [
        "has space",
        "bad!char",
        "#foo",
        "ünïcode",
        "",
        "slash/x",
        too_long.as_str(),
    ] {
        let reply = ws.subscribe_with(name, Some(""));
        assert_sub_error(&reply, name, "InvalidChannel", 400);
    }
    ws.ping_pong();
    let longest = "b".repeat(200);
    ws.subscribe_ok(&longest);
    ws.subscribe_ok("A-z_0-9=@,.;");
}

#[test]
fn private_channel_without_valid_auth_gets_auth_error_401() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let other = server.connect();
    let app = server.app.clone();
    let ch = "private-secret";
    let right = app.channel_auth(&ws.socket_id, ch);
    let right_sig = right.split_once(':').unwrap().1.to_string();
    let wrong_key = format!("other-key:{right_sig}");
    let other_socket = app.channel_auth(&other.socket_id, ch);
    let other_channel = app.channel_auth(&ws.socket_id, "private-elsewhere");
    let wrong_secret =
        corecast::auth::channel_auth(&app.key, "not-the-secret", &ws.socket_id, ch, None);
    let cases: [(&str, Option<&str>); 8] = [
        ("missing", None),
        ("empty", Some("")),
        ("no colon", Some(right_sig.as_str())),
        ("wrong key", Some(wrong_key.as_str())),
        ("other socket", Some(other_socket.as_str())),
        ("other channel", Some(other_channel.as_str())),
        ("wrong secret", Some(wrong_secret.as_str())),
        ("garbage", Some("app-key:zz")),
    ];
    for (what, auth) in cases {
        let reply = ws.subscribe_with(ch, auth);
        assert_sub_error(&reply, ch, "AuthError", 401);
        assert!(
            !reply.to_string().contains(&right_sig),
            "{what}: the error must not reveal the expected signature: {reply}"
        );
    }
    // Nothing was subscribed: a published event does not arrive before the marker.
    ws.subscribe_ok("marker");
    let mut rest = server.rest();
    rest.trigger(json!({"name": "leak", "channel": ch, "data": "x"}));
    rest.trigger(json!({"name": "mark", "channel": "marker", "data": "m"}));
    ws.expect_event("mark", "marker");
}

#[test]
fn private_and_encrypted_channels_with_correct_auth_succeed() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let app = server.app.clone();
    for ch in ["private-orders", "private-encrypted-vault"] {
        ws.subscribe_private(&app, ch);
    }
    // The signature's hex digits are compared case-insensitively.
    let ch = "private-upper";
    let auth = app.channel_auth(&ws.socket_id, ch);
    let (key, sig) = auth.split_once(':').unwrap();
    let reply = ws.subscribe_with(ch, Some(&format!("{key}:{}", sig.to_ascii_uppercase())));
    assert_succeeded(&reply, ch);
    server
        .rest()
        .trigger(json!({"name": "paid", "channel": "private-orders", "data": "{}"}));
    ws.expect_event("paid", "private-orders");
}

#[test]
fn auth_is_bound_to_the_app_secret_of_the_connection() {
    let server = Server::with_apps(
        json!([
            {"id": "1", "key": "key-one", "secret": "secret-one"},
            {"id": "2", "key": "key-two", "secret": "secret-two"}
        ]),
        &[],
    );
    let one = common::App::new("1", "key-one", "secret-one");
    let two = common::App::new("2", "key-two", "secret-two");
    let mut ws = server.connect_key("key-two");
    let foreign = one.channel_auth(&ws.socket_id, "private-x");
    assert_sub_error(
        &ws.subscribe_with("private-x", Some(&foreign)),
        "private-x",
        "AuthError",
        401,
    );
    ws.subscribe_private(&two, "private-x");
}
