//! Client events (`client-*`): relayed to the other subscribers of a private or encrypted
//! channel on every shard and never echoed to the sender, with `data` as a string; refused with
//! `pusher:error` 4300 (connection kept) on public channels, when not subscribed, when the app
//! has them disabled, for other event names, too-long names and too-large data; 4301 beyond ten
//! per second.

mod common;

use std::time::Duration;

use common::{App, Server, Ws};
use serde_json::{json, Value};

const CHANNEL: &str = "private-chat";

/// An app with client events on (used by the helpers) and one with them off (the default).
fn server() -> Server {
    Server::with_apps(
        json!([
            {"id": "ce", "key": "ce-key", "secret": "ce-secret", "enable_client_messages": true},
            {"id": "quiet", "key": "quiet-key", "secret": "quiet-secret"}
        ]),
        &[],
    )
}

fn ce() -> App {
    App::new("ce", "ce-key", "ce-secret")
}

fn client_event(name: &str, channel: &str, data: Value) -> Value {
    json!({"event": name, "channel": channel, "data": data})
}

/// Asserts the next message is `pusher:error` with `code`, then that the connection still works.
fn assert_rejected(ws: &mut Ws, code: u16) {
    let reply = ws.recv_json();
    assert_eq!(reply["event"], "pusher:error", "{reply}");
    assert_eq!(reply["data"]["code"], code, "{reply}");
    assert!(reply["data"]["message"].is_string(), "{reply}");
    ws.ping_pong();
}

/// Publishes a marker through REST and asserts it is `ws`'s next message (nothing came before).
fn assert_nothing_before_marker(server: &Server, ws: &mut Ws, channel: &str) {
    server
        .rest()
        .trigger(json!({"name": "marker", "channel": channel, "data": "m"}));
    assert_eq!(ws.expect_event("marker", channel), "m");
}

#[test]
fn delivered_to_other_subscribers_on_every_shard_never_to_the_sender() {
    let server = server();
    let app = ce();
    let mut sender = server.connect();
    sender.subscribe_private(&app, CHANNEL);
    let mut receivers = server.spread(4, |ws| ws.subscribe_private(&app, CHANNEL));
    sender.send_json(&client_event(
        "client-typing",
        CHANNEL,
        json!({ "user" : "Alice" }),
    ));
    sender.send_json(&client_event("client-raw", CHANNEL, json!("raw \"text\"")));
    // Neither an echo nor an error comes back: the pong is next.
    sender.ping_pong();
    for r in &mut receivers {
        assert_eq!(
            r.recv_json(),
            json!({"event": "client-typing", "channel": CHANNEL, "data": "{\"user\":\"Alice\"}"})
        );
        assert_eq!(
            r.recv_json(),
            json!({"event": "client-raw", "channel": CHANNEL, "data": "raw \"text\""})
        );
    }
}

#[test]
fn refused_with_4300_on_encrypted_channels() {
    // Encrypted payloads are opaque to the server and to non-members alike: client events on
    // private-encrypted- channels are refused, and nothing reaches the other subscribers.
    let server = server();
    let app = ce();
    let ch = "private-encrypted-room";
    let mut sender = server.connect();
    let mut receiver = server.connect();
    sender.subscribe_private(&app, ch);
    receiver.subscribe_private(&app, ch);
    sender.send_json(&client_event(
        "client-x",
        ch,
        json!({"nonce": "n", "ciphertext": "c"}),
    ));
    assert_rejected(&mut sender, 4300);
    assert_nothing_before_marker(&server, &mut receiver, ch);
}

#[test]
fn refused_with_4300_on_public_channels() {
    let server = server();
    let mut sender = server.connect();
    let mut receiver = server.connect();
    sender.subscribe_ok("public-chat");
    receiver.subscribe_ok("public-chat");
    sender.send_json(&client_event("client-hi", "public-chat", json!({})));
    assert_rejected(&mut sender, 4300);
    assert_nothing_before_marker(&server, &mut receiver, "public-chat");
}

#[test]
fn refused_with_4300_when_not_subscribed() {
    let server = server();
    let app = ce();
    let mut outsider = server.connect();
    let mut receiver = server.connect();
    receiver.subscribe_private(&app, CHANNEL);
    outsider.send_json(&client_event("client-hi", CHANNEL, json!({})));
    assert_rejected(&mut outsider, 4300);
    outsider.send_json(&json!({"event": "client-hi", "data": {}}));
    assert_rejected(&mut outsider, 4300);
    assert_nothing_before_marker(&server, &mut receiver, CHANNEL);
}

#[test]
fn refused_with_4300_when_the_app_disables_them() {
    let server = server();
    let quiet = App::new("quiet", "quiet-key", "quiet-secret");
    let mut sender = server.connect_key("quiet-key");
    let mut receiver = server.connect_key("quiet-key");
    sender.subscribe_private(&quiet, CHANNEL);
    receiver.subscribe_private(&quiet, CHANNEL);
    sender.send_json(&client_event("client-hi", CHANNEL, json!({})));
    assert_rejected(&mut sender, 4300);
    let mut rest = server.rest_for(&quiet);
    rest.trigger(json!({"name": "marker", "channel": CHANNEL, "data": "m"}));
    receiver.expect_event("marker", CHANNEL);
}

#[test]
fn refused_with_4300_for_bad_names_and_oversized_data() {
    let server = server();
    let app = ce();
    let mut sender = server.connect();
    let mut receiver = server.connect();
    sender.subscribe_private(&app, CHANNEL);
    receiver.subscribe_private(&app, CHANNEL);
    sender.send_json(&client_event("my-event", CHANNEL, json!({})));
    assert_rejected(&mut sender, 4300);
    let long_name = format!("client-{}", "n".repeat(200));
    sender.send_json(&client_event(&long_name, CHANNEL, json!({})));
    assert_rejected(&mut sender, 4300);
    sender.send_json(&client_event(
        "client-big",
        CHANNEL,
        json!("x".repeat(10 * 1024 + 1)),
    ));
    assert_rejected(&mut sender, 4300);
    assert_nothing_before_marker(&server, &mut receiver, CHANNEL);
}

#[test]
fn more_than_ten_per_second_are_refused_with_4301() {
    let server = server();
    let app = ce();
    let mut sender = server.connect();
    sender.subscribe_private(&app, CHANNEL);
    let mut receivers = server.spread(2, |ws| ws.subscribe_private(&app, CHANNEL));
    let burst: Vec<Value> = (0..11)
        .map(|i| client_event(&format!("client-n{i}"), CHANNEL, json!(i)))
        .collect();
    sender.send_burst(&burst);
    // Exactly one rejection (the eleventh), then nothing else.
    assert_rejected(&mut sender, 4301);
    // The bucket refills: a later event is accepted again.
    std::thread::sleep(Duration::from_millis(250));
    sender.send_json(&client_event("client-later", CHANNEL, json!("l")));
    sender.ping_pong();
    for r in &mut receivers {
        for i in 0..10 {
            assert_eq!(
                r.expect_event(&format!("client-n{i}"), CHANNEL),
                i.to_string()
            );
        }
        assert_eq!(r.expect_event("client-later", CHANNEL), "l");
    }
}

#[test]
fn first_client_events_right_after_connecting_are_not_rate_limited() {
    let server = server();
    let app = ce();
    let mut receiver = server.connect();
    receiver.subscribe_private(&app, CHANNEL);
    let mut sender = server.connect();
    sender.subscribe_private(&app, CHANNEL);
    let mut burst: Vec<Value> = (0..10)
        .map(|i| client_event("client-quick", CHANNEL, json!(i)))
        .collect();
    burst.push(json!({"event": "pusher:ping", "data": {}}));
    sender.send_burst(&burst);
    let reply = sender.recv_json();
    assert_eq!(
        reply["event"], "pusher:pong",
        "ten client events within the first second must be accepted, got {reply}"
    );
    for i in 0..10 {
        assert_eq!(
            receiver.expect_event("client-quick", CHANNEL),
            i.to_string()
        );
    }
}
