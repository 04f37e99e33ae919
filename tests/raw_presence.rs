//! Presence on raw channels: every connection is a member (its `uuid`, its `user`); connections
//! that ask with `presence=1` get `system:member_list` on joining and `system:member_joined` /
//! `system:member_left` afterwards, across shards; others get none of it.

mod common;

use common::Server;
use serde_json::{json, Value};

fn event(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("JSON event expected, got {text}"))
}

fn uuids(members: &Value) -> Vec<String> {
    members
        .as_array()
        .expect("members array")
        .iter()
        .map(|m| m["uuid"].as_str().expect("uuid").to_string())
        .collect()
}

#[test]
fn listeners_get_the_list_then_joins_and_leaves_on_every_shard() {
    let server = Server::start(&[]);
    let mut watcher = server.raw("room", "&presence=1&uuid=watcher&user=wendy");
    let list = event(&watcher.recv_text());
    assert_eq!(list["event"], "system:member_list");
    assert_eq!(
        list["data"]["members"],
        json!([{"uuid": "watcher", "user": "wendy"}])
    );

    // Enough members that both shards hold some; each join is announced in order.
    let mut others = Vec::new();
    for i in 0..12 {
        others.push(server.raw("room", &format!("&uuid=m{i}&user=u{i}")));
        let joined = event(&watcher.recv_text());
        assert_eq!(joined["event"], "system:member_joined");
        assert_eq!(
            joined["data"]["member"],
            json!({"uuid": format!("m{i}"), "user": format!("u{i}")})
        );
        assert_eq!(uuids(&joined["data"]["members"]).len(), i + 2);
    }
    let subs = server.gauge("corecast_subscriptions");
    assert!(
        subs.iter().all(|&n| n > 0),
        "members on every shard: {subs:?}"
    );

    for (i, mut ws) in others.into_iter().enumerate() {
        ws.close();
        let left = event(&watcher.recv_text());
        assert_eq!(left["event"], "system:member_left");
        assert_eq!(left["data"]["member"]["uuid"], format!("m{i}"));
        assert!(!uuids(&left["data"]["members"]).contains(&format!("m{i}")));
    }
}

#[test]
fn connections_without_presence_hear_only_messages() {
    let server = Server::start(&[]);
    let mut quiet = server.raw("hall", "");
    let mut listener = server.raw("hall", "&presence=1&uuid=l");
    let list = event(&listener.recv_text());
    assert_eq!(
        uuids(&list["data"]["members"]).len(),
        2,
        "the quiet one is a member too"
    );
    let mut late = server.raw("hall", "&presence=1");
    let joined = event(&listener.recv_text());
    assert_eq!(joined["data"]["member"]["user"], "anonymous");
    let late_list = event(&late.recv_text());
    assert_eq!(uuids(&late_list["data"]["members"]).len(), 3);
    // The quiet member's next message is an ordinary one: no presence events reached it.
    late.send_text("marker");
    assert_eq!(quiet.recv_text(), "marker");
}

#[test]
fn a_jwt_user_claim_names_the_member() {
    // {"sub":"private-vip","user":{"name":"Ann"},"exp":4102444800} signed with app-secret.
    let server = Server::start(&[]);
    let token = jwt(
        &server.app.secret,
        r#"{"sub":"private-vip","user":{"name":"Ann"},"exp":4102444800}"#,
    );
    let mut ws = server.raw(
        "private-vip",
        &format!("&presence=1&user=ignored&jwt={token}"),
    );
    let list = event(&ws.recv_text());
    assert_eq!(list["data"]["members"][0]["user"], json!({"name": "Ann"}));
}

/// An HS256 JWT over `payload` (as the application's server would mint it).
fn jwt(secret: &str, payload: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(payload);
    let sig =
        corecast::auth::hmac_sha256_hex(secret.as_bytes(), format!("{head}.{body}").as_bytes());
    let raw_sig = hex::decode(sig).expect("hex");
    format!("{head}.{body}.{}", b64.encode(raw_sig))
}
