//! Apps with `event_prefix` `broadcastt` speak the Broadcastt dialect: `broadcastt:` and
//! `broadcastt_internal:` instead of `pusher:` and `pusher_internal:` in both directions, and
//! every outbound `data` is a string (errors included). Channel events published through REST
//! are delivered as usual; a Pusher app on the same server keeps the Pusher names.

mod common;

use common::{App, Server, Ws};
use serde_json::{json, Value};

fn server() -> Server {
    Server::with_apps(
        json!([
            {"id": "bt", "key": "bt-key", "secret": "bt-secret",
             "event_prefix": "broadcastt", "enable_client_messages": true},
            {"id": "pu", "key": "pu-key", "secret": "pu-secret"}
        ]),
        &[],
    )
}

/// Connects to the Broadcastt app and reads `broadcastt:connection_established`.
fn connect(server: &Server) -> Ws {
    let mut ws = server.ws(&Server::pusher_path("bt-key"));
    let msg = ws.recv_json();
    assert_eq!(msg["event"], "broadcastt:connection_established", "{msg}");
    let data = string_data(&msg);
    assert_eq!(data["activity_timeout"], 120, "{msg}");
    let socket_id = data["socket_id"].as_str().expect("socket_id");
    assert!(common::is_socket_id(socket_id), "{msg}");
    ws.socket_id = socket_id.to_string();
    ws
}

/// The `data` of `msg`, which must be a string holding JSON.
fn string_data(msg: &Value) -> Value {
    let text = msg["data"]
        .as_str()
        .unwrap_or_else(|| panic!("data must be a string: {msg}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("data is not JSON ({e}): {msg}"))
}

fn subscribe(ws: &mut Ws, data: Value) -> Value {
    ws.send_json(&json!({"event": "broadcastt:subscribe", "data": data}));
    ws.recv_json()
}

fn assert_succeeded(reply: &Value, channel: &str) {
    assert_eq!(
        reply,
        &json!({"event": "broadcastt_internal:subscription_succeeded", "channel": channel, "data": "{}"})
    );
}

fn ping_pong(ws: &mut Ws) {
    ws.send_json(&json!({"event": "broadcastt:ping", "data": "{}"}));
    let reply = ws.recv_json();
    assert_eq!(reply["event"], "broadcastt:pong", "{reply}");
    assert!(reply["data"].is_string(), "{reply}");
}

fn app() -> App {
    App::new("bt", "bt-key", "bt-secret")
}

#[test]
fn connection_established_uses_the_prefix_and_a_string() {
    let server = server();
    let mut ws = connect(&server);
    ping_pong(&mut ws);
    // The Pusher app next to it is unchanged.
    server.connect_key("pu-key").ping_pong();
}

#[test]
fn subscribe_publish_ping_and_unsubscribe() {
    let server = server();
    let app = app();
    let mut ws = connect(&server);
    assert_succeeded(&subscribe(&mut ws, json!({"channel": "news"})), "news");
    // `data` given as a string holding the object works too.
    let as_string = json!({"channel": "news-2"}).to_string();
    assert_succeeded(&subscribe(&mut ws, json!(as_string)), "news-2");
    let auth = app.channel_auth(&ws.socket_id, "private-room");
    let reply = subscribe(&mut ws, json!({"channel": "private-room", "auth": auth}));
    assert_succeeded(&reply, "private-room");
    assert_succeeded(
        &subscribe(&mut ws, json!({"channel": "cache-b"})),
        "cache-b",
    );
    assert_eq!(
        ws.recv_json(),
        json!({"event": "broadcastt:cache_miss", "channel": "cache-b", "data": "{}"})
    );
    let mut rest = server.rest_for(&app);
    rest.trigger(
        json!({"name": "my-event", "channels": ["news", "private-room"],
        "data": "{\"a\":1}"}),
    );
    assert_eq!(ws.expect_event("my-event", "news"), "{\"a\":1}");
    assert_eq!(ws.expect_event("my-event", "private-room"), "{\"a\":1}");
    ping_pong(&mut ws);
    ws.send_json(&json!({"event": "broadcastt:unsubscribe", "data": {"channel": "news"}}));
    ping_pong(&mut ws);
    rest.trigger(json!({"name": "gone", "channel": "news", "data": "x"}));
    rest.trigger(json!({"name": "marker", "channel": "news-2", "data": "m"}));
    assert_eq!(ws.expect_event("marker", "news-2"), "m");
}

#[test]
fn errors_are_broadcastt_errors_with_string_data() {
    let server = server();
    let app = app();
    let mut ws = connect(&server);
    ws.send_text("not json");
    let reply = ws.recv_json();
    assert_eq!(reply["event"], "broadcastt:error", "{reply}");
    let data = string_data(&reply);
    assert_eq!(data["code"], Value::Null, "{reply}");
    assert!(data["message"].is_string(), "{reply}");

    ws.send_json(&json!({"event": "client-x", "channel": "public", "data": "{}"}));
    let reply = ws.recv_json();
    assert_eq!(reply["event"], "broadcastt:error", "{reply}");
    assert_eq!(string_data(&reply)["code"], 4300, "{reply}");

    let reply = subscribe(
        &mut ws,
        json!({"channel": "private-x", "auth": "bt-key:00"}),
    );
    assert_eq!(reply["event"], "broadcastt:subscription_error", "{reply}");
    assert_eq!(reply["channel"], "private-x", "{reply}");
    let data = string_data(&reply);
    assert_eq!(
        (&data["type"], &data["status"]),
        (&json!("AuthError"), &json!(401))
    );
    ping_pong(&mut ws);

    // A failed sign-in: the error, then close 4009.
    ws.send_json(&json!({"event": "broadcastt:signin",
        "data": {"auth": "bt-key:00", "user_data": "{\"id\":\"1\"}"}}));
    let (code, before) = ws.expect_close();
    assert_eq!(code, 4009, "{before:?}");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["event"], "broadcastt:error", "{before:?}");
    assert_eq!(string_data(&before[0])["code"], 4009, "{before:?}");

    let mut ok = connect(&server);
    let user_data = r#"{"id":"1"}"#;
    let auth = app.user_auth(&ok.socket_id, user_data);
    ok.send_json(&json!({"event": "broadcastt:signin",
        "data": {"auth": auth, "user_data": user_data}}));
    let reply = ok.recv_json();
    assert_eq!(reply["event"], "broadcastt:signin_success", "{reply}");
    assert_eq!(string_data(&reply), json!({ "user_data": user_data }));
}

#[test]
fn presence_and_client_events_use_the_prefix_too() {
    let server = server();
    let app = app();
    let room = "presence-room";
    let mut a = connect(&server);
    let mut b = connect(&server);
    let join = |ws: &mut Ws, data: &str| {
        let auth = app.presence_auth(&ws.socket_id, room, data);
        let reply = subscribe(
            ws,
            json!({"channel": room, "auth": auth, "channel_data": data}),
        );
        assert_eq!(
            reply["event"], "broadcastt_internal:subscription_succeeded",
            "{reply}"
        );
        string_data(&reply)["presence"]["ids"].clone()
    };
    assert_eq!(join(&mut a, r#"{"user_id":"a"}"#), json!(["a"]));
    assert_eq!(join(&mut b, r#"{"user_id":"b"}"#), json!(["a", "b"]));
    let added = a.recv_json();
    assert_eq!(
        added["event"], "broadcastt_internal:member_added",
        "{added}"
    );
    assert_eq!(string_data(&added)["user_id"], "b");
    b.send_json(&json!({"event": "client-hi", "channel": room, "data": {"x": 1}}));
    assert_eq!(
        a.recv_json(),
        json!({"event": "client-hi", "channel": room, "data": "{\"x\":1}", "user_id": "b"})
    );
    b.send_json(&json!({"event": "broadcastt:unsubscribe", "data": {"channel": room}}));
    let removed = a.recv_json();
    assert_eq!(
        removed["event"], "broadcastt_internal:member_removed",
        "{removed}"
    );
}
