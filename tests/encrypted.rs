//! End-to-end encrypted channels (`private-encrypted-`): subscribing needs a private-channel
//! signature; the server relays published payloads byte for byte (also from the cache of
//! `private-encrypted-cache-` channels, on every shard); client events on them are refused
//! with 4300; a REST event naming an encrypted channel among several channels is a 400.

mod common;

use common::{assert_sub_error, App, Server, Ws};
use serde_json::{json, Value};
use tungstenite::Message;

const ENC: &str = "private-encrypted-room";

/// A payload shaped like an SDK's ciphertext, with spacing, escapes and non-ASCII text that
/// any re-serialization would change.
const PAYLOAD: &str =
    "{\"nonce\":\"xHF0FJBv/+Pq7oZ1bFA2XnBcL6IryP0Y\",  \"ciphertext\" : \"AB/+cd==\", \"x\":\"\\u00e9 é \\/\"}";

fn server() -> Server {
    Server::start(&[("CORECAST_ENABLE_CLIENT_MESSAGES", "true")])
}

/// The next text frame, parsed; its `data` must equal `payload` exactly.
fn expect_payload(ws: &mut Ws, event: &str, channel: &str, payload: &str) {
    let text = match ws.recv() {
        Message::Text(t) => t.as_str().to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    };
    let msg: Value = serde_json::from_str(&text).expect("JSON frame");
    assert_eq!(msg["event"], event, "{text}");
    assert_eq!(msg["channel"], channel, "{text}");
    assert_eq!(msg["data"].as_str(), Some(payload), "{text}");
}

#[test]
fn subscribing_needs_a_private_channel_signature() {
    let server = server();
    let app = server.app.clone();
    let mut ws = server.connect();
    let sid = ws.socket_id.clone();
    let wrong_secret = App::new(&app.id, &app.key, "not-the-secret");
    let bad = [
        None,
        Some(String::new()),
        Some(app.channel_auth(&sid, "private-encrypted-other")),
        Some(app.channel_auth(&sid, "private-room")),
        Some(app.presence_auth(&sid, ENC, "{}")),
        Some(wrong_secret.channel_auth(&sid, ENC)),
        Some(app.channel_auth("1.1", ENC)),
    ];
    for auth in &bad {
        assert_sub_error(
            &ws.subscribe_with(ENC, auth.as_deref()),
            ENC,
            "AuthError",
            401,
        );
    }
    let info = [("info", "subscription_count")];
    assert_eq!(
        server.rest().get(&format!("channels/{ENC}"), &info).ok(),
        &json!({"occupied": false, "subscription_count": 0})
    );
    ws.subscribe_private(&app, ENC);
}

#[test]
fn published_payloads_are_relayed_unchanged_on_every_shard() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut subs: Vec<Ws> = [0, 1]
        .into_iter()
        .map(|shard| {
            let mut ws = server.connect_on(shard, &mut spare);
            ws.subscribe_private(&app, ENC);
            ws
        })
        .collect();
    let mut rest = server.rest();
    rest.trigger(json!({"name": "secret", "channel": ENC, "data": PAYLOAD}));
    rest.trigger(json!({"name": "secret-2", "channels": [ENC], "data": PAYLOAD}));
    for ws in &mut subs {
        expect_payload(ws, "secret", ENC, PAYLOAD);
        expect_payload(ws, "secret-2", ENC, PAYLOAD);
    }
    // The cached variant keeps the payload unchanged too.
    let cached = "private-encrypted-cache-room";
    rest.trigger(json!({"name": "kept", "channel": cached, "data": PAYLOAD}));
    for shard in [0, 1] {
        let mut ws = server.connect_on(shard, &mut spare);
        ws.subscribe_private(&app, cached);
        expect_payload(&mut ws, "kept", cached, PAYLOAD);
    }
}

#[test]
fn client_events_are_refused_with_4300() {
    let server = server();
    let app = server.app.clone();
    let mut sender = server.connect();
    let mut receiver = server.connect();
    sender.subscribe_private(&app, ENC);
    receiver.subscribe_private(&app, ENC);
    sender.send_json(&json!({"event": "client-x", "channel": ENC,
        "data": {"nonce": "n", "ciphertext": "c"}}));
    let reply = sender.recv_json();
    assert_eq!(reply["event"], "pusher:error", "{reply}");
    assert_eq!(reply["data"]["code"], 4300, "{reply}");
    sender.ping_pong();
    server
        .rest()
        .trigger(json!({"name": "marker", "channel": ENC, "data": "m"}));
    assert_eq!(receiver.expect_event("marker", ENC), "m");
}

#[test]
fn an_event_for_several_channels_including_an_encrypted_one_is_refused() {
    let server = server();
    let app = server.app.clone();
    let mut plain = server.connect();
    plain.subscribe_ok("plain");
    let mut enc = server.connect();
    enc.subscribe_private(&app, ENC);
    let mut rest = server.rest();
    for channels in [
        json!(["plain", ENC]),
        json!([ENC, "private-encrypted-other"]),
        json!(["private-encrypted-cache-x", "plain"]),
    ] {
        let body = json!({"name": "mixed", "channels": channels, "data": "x"});
        rest.post("events", &body).assert_error(400);
    }
    rest.trigger(json!({"name": "single", "channels": [ENC], "data": "s"}));
    let batch = json!({"batch": [
        {"name": "b1", "channel": ENC, "data": "1"},
        {"name": "b2", "channel": "plain", "data": "2"}
    ]});
    assert_eq!(rest.post("batch_events", &batch).ok(), &json!({}));
    // Nothing of the refused events was delivered.
    assert_eq!(enc.expect_event("single", ENC), "s");
    assert_eq!(enc.expect_event("b1", ENC), "1");
    assert_eq!(plain.expect_event("b2", "plain"), "2");
}
