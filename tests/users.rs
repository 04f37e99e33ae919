//! Signed-in users: `pusher:signin` (success echoes `user_data` exactly; failure is
//! `pusher:error` 4009 and close 4009), `#server-to-user-{id}` channels (only for that user;
//! REST events reach all of the user's connections on every shard), `terminate_connections`,
//! presence membership from the signed-in user, and watchlist online/offline events.

mod common;

use std::time::Duration;

use common::{presence_of, Server, Ws};
use serde_json::{json, Value};

fn signed_in(server: &Server, ws: &mut Ws, user_data: &str) {
    let reply = ws.signin(&server.app, user_data);
    assert_eq!(reply["event"], "pusher:signin_success", "{reply}");
}

fn to_user(id: &str) -> String {
    format!("#server-to-user-{id}")
}

fn watch(events: Value) -> Value {
    json!({"event": "pusher_internal:watchlist_events", "data": {"events": events}})
}

#[test]
fn signin_success_echoes_the_exact_user_data() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let user_data = r#"{"id":"12345",  "user_info":{"name":"Alice","tags":["a"]} }"#;
    assert_eq!(
        ws.signin(&server.app, user_data),
        json!({"event": "pusher:signin_success", "data": {"user_data": user_data}})
    );
    ws.ping_pong();
}

#[test]
fn failed_signin_sends_4009_and_closes_with_4009() {
    let server = Server::start(&[]);
    let app = server.app.clone();
    let good = r#"{"id":"1"}"#;
    type Make = fn(&common::App, &str) -> (String, String);
    let cases: [(&str, Make); 6] = [
        ("bad signature", |a, sid| {
            (a.user_auth(sid, r#"{"id":"2"}"#), r#"{"id":"1"}"#.into())
        }),
        ("wrong key", |a, sid| {
            let sig = a.user_auth(sid, r#"{"id":"1"}"#);
            (format!("other{sig}"), r#"{"id":"1"}"#.into())
        }),
        ("empty auth", |_, _| (String::new(), r#"{"id":"1"}"#.into())),
        ("not an object", |a, sid| {
            (a.user_auth(sid, "[]"), "[]".into())
        }),
        ("numeric id", |a, sid| {
            (a.user_auth(sid, r#"{"id":1}"#), r#"{"id":1}"#.into())
        }),
        ("no id", |a, sid| {
            (
                a.user_auth(sid, r#"{"user_info":{}}"#),
                r#"{"user_info":{}}"#.into(),
            )
        }),
    ];
    let expect_4009 = |ws: &mut Ws, case: &str| {
        let (code, before) = ws.expect_close();
        assert_eq!(code, 4009, "{case}: {before:?}");
        assert_eq!(before.len(), 1, "{case}: {before:?}");
        assert_eq!(before[0]["event"], "pusher:error", "{case}: {before:?}");
        assert_eq!(before[0]["data"]["code"], 4009, "{case}: {before:?}");
    };
    for (case, make) in cases {
        let mut ws = server.connect();
        let (auth, user_data) = make(&app, &ws.socket_id);
        ws.send_json(&json!({"event": "pusher:signin",
            "data": {"auth": auth, "user_data": user_data}}));
        expect_4009(&mut ws, case);
    }
    // Signing in again as someone else.
    let mut ws = server.connect();
    signed_in(&server, &mut ws, good);
    let auth = app.user_auth(&ws.socket_id, r#"{"id":"2"}"#);
    ws.send_json(&json!({"event": "pusher:signin",
        "data": {"auth": auth, "user_data": r#"{"id":"2"}"#}}));
    expect_4009(&mut ws, "second user");
}

#[test]
fn server_to_user_channel_is_only_for_that_signed_in_user() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    let refused = |ws: &mut Ws, channel: &str| {
        let reply = ws.subscribe_with(channel, Some(""));
        assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
        assert_eq!(reply["channel"], channel, "{reply}");
        assert_eq!(reply["data"]["type"], "AuthError", "{reply}");
        assert_eq!(reply["data"]["status"], 403, "{reply}");
    };
    refused(&mut ws, &to_user("u1"));
    signed_in(&server, &mut ws, r#"{"id":"u1"}"#);
    for other in ["u2", "u", "u1x", "U1"] {
        refused(&mut ws, &to_user(other));
    }
    ws.subscribe_ok(&to_user("u1"));
}

#[test]
fn server_to_user_events_reach_every_connection_of_the_user_on_every_shard() {
    let server = Server::start(&[]);
    let mut spare = Vec::new();
    let mut mine = Vec::new();
    for shard in [0, 1] {
        let mut ws = server.connect_on(shard, &mut spare);
        signed_in(&server, &mut ws, r#"{"id":"u1"}"#);
        ws.subscribe_ok(&to_user("u1"));
        mine.push(ws);
    }
    let mut other = server.connect_on(1, &mut spare);
    signed_in(&server, &mut other, r#"{"id":"u2"}"#);
    other.subscribe_ok(&to_user("u2"));
    let mut rest = server.rest();
    rest.trigger(json!({"name": "notify", "channel": to_user("u1"), "data": "{\"n\":1}"}));
    rest.trigger(json!({"name": "again", "channels": [to_user("u1")], "data": "2"}));
    for ws in &mut mine {
        assert_eq!(ws.expect_event("notify", &to_user("u1")), "{\"n\":1}");
        assert_eq!(ws.expect_event("again", &to_user("u1")), "2");
    }
    rest.trigger(json!({"name": "marker", "channel": to_user("u2"), "data": "m"}));
    assert_eq!(other.expect_event("marker", &to_user("u2")), "m");
    // Internal channels are hidden from the list; the channel itself is reachable encoded.
    assert_eq!(rest.get("channels", &[]).ok(), &json!({"channels": {}}));
    let info = [("info", "subscription_count")];
    assert_eq!(
        rest.get("channels/%23server-to-user-u1", &info).ok(),
        &json!({"occupied": true, "subscription_count": 2})
    );
}

#[test]
fn terminate_connections_closes_only_that_users_connections_on_every_shard() {
    let server = Server::start(&[]);
    let app = server.app.clone();
    let mut spare = Vec::new();
    let (mut doomed, mut kept) = (Vec::new(), Vec::new());
    for shard in [0, 1] {
        let mut ws = server.connect_on(shard, &mut spare);
        signed_in(&server, &mut ws, r#"{"id":"ann/7"}"#);
        doomed.push(ws);
        let mut ws = server.connect_on(shard, &mut spare);
        signed_in(&server, &mut ws, r#"{"id":"bob"}"#);
        kept.push(ws);
    }
    // Presence identity alone is not a sign-in.
    let mut presence_only = server.connect();
    presence_of(
        &presence_only.join_presence(&app, "presence-x", r#"{"user_id":"ann/7"}"#),
        "presence-x",
    );
    kept.push(presence_only);
    let mut rest = server.rest();
    let reply = rest.post("users/ann%2F7/terminate_connections", &json!({}));
    assert_eq!(reply.ok(), &json!({}));
    for ws in &mut doomed {
        let (code, before) = ws.expect_close();
        assert_eq!(code, 4009, "{before:?}");
        assert_eq!(
            before,
            vec![json!({"event": "pusher:error",
                "data": {"code": 4009, "message": "You got disconnected by the app."}})]
        );
    }
    for ws in &mut kept {
        ws.ping_pong();
    }
    let reply = rest.post("users/nobody/terminate_connections", &json!({}));
    assert_eq!(reply.ok(), &json!({}));
}

#[test]
fn presence_without_channel_data_uses_the_signed_in_user() {
    let server = Server::start(&[]);
    let app = server.app.clone();
    let room = "presence-room";
    let mut a = server.connect();
    signed_in(
        &server,
        &mut a,
        r#"{"id":"u7","user_info":{"name":"Seven"}}"#,
    );
    let auth = app.channel_auth(&a.socket_id, room);
    assert_eq!(
        presence_of(&a.subscribe_with(room, Some(&auth)), room),
        json!({"ids": ["u7"], "hash": {"u7": {"name": "Seven"}}, "count": 1})
    );
    let mut b = server.connect();
    signed_in(&server, &mut b, r#"{"id":"u8"}"#);
    // The presence-form signature does not fit when no channel_data is sent.
    let wrong = app.presence_auth(&b.socket_id, room, r#"{"user_id":"u8"}"#);
    let reply = b.subscribe_with(room, Some(&wrong));
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    assert_eq!(reply["data"]["status"], 401, "{reply}");
    let auth = app.channel_auth(&b.socket_id, room);
    let joined = presence_of(&b.subscribe_with(room, Some(&auth)), room);
    assert_eq!(joined["ids"], json!(["u7", "u8"]));
    assert_eq!(joined["hash"]["u8"], json!({}));
    let added = a.expect_event("pusher_internal:member_added", room);
    let added: Value = serde_json::from_str(added.as_str().expect("string data")).unwrap();
    assert_eq!(added, json!({"user_id": "u8", "user_info": {}}));
}

#[test]
fn watchlist_reports_online_state_then_transitions_across_shards() {
    let server = Server::start(&[("CORECAST_ENABLE_WATCHLIST_EVENTS", "true")]);
    let mut spare = Vec::new();
    let mut alice = server.connect_on(1, &mut spare);
    signed_in(&server, &mut alice, r#"{"id":"alice"}"#);
    // Let the sign-in reach the user's owner shard (the race is covered separately below).
    std::thread::sleep(Duration::from_millis(200));
    let mut watcher = server.connect_on(0, &mut spare);
    signed_in(
        &server,
        &mut watcher,
        r#"{"id":"w","watchlist":["alice","bob"]}"#,
    );
    assert_eq!(
        watcher.recv_json(),
        watch(json!([
            {"name": "online", "user_ids": ["alice"]},
            {"name": "offline", "user_ids": ["bob"]}
        ]))
    );
    watcher.ping_pong();
    let mut bob1 = server.connect_on(1, &mut spare);
    signed_in(&server, &mut bob1, r#"{"id":"bob"}"#);
    assert_eq!(
        watcher.recv_json(),
        watch(json!([{"name": "online", "user_ids": ["bob"]}]))
    );
    // A second connection of an online user and the close of one of two change nothing.
    let mut bob2 = server.connect_on(1, &mut spare);
    signed_in(&server, &mut bob2, r#"{"id":"bob"}"#);
    bob1.close();
    bob2.close();
    assert_eq!(
        watcher.recv_json(),
        watch(json!([{"name": "offline", "user_ids": ["bob"]}]))
    );
    drop(alice);
    assert_eq!(
        watcher.recv_json(),
        watch(json!([{"name": "offline", "user_ids": ["alice"]}]))
    );
}

#[test]
fn the_first_watchlist_frame_is_the_snapshot_even_right_after_a_watched_sign_in() {
    let server = Server::start(&[("CORECAST_ENABLE_WATCHLIST_EVENTS", "true")]);
    let mut spare = Vec::new();
    let mut keep = Vec::new();
    for round in 0..20 {
        let id = format!("u{round}");
        let mut watched = server.connect_on(1, &mut spare);
        let mut watcher = server.connect_on(0, &mut spare);
        signed_in(&server, &mut watched, &json!({ "id": id }).to_string());
        let user_data = json!({"id": format!("w{round}"), "watchlist": [id]}).to_string();
        signed_in(&server, &mut watcher, &user_data);
        // Everything that arrives before the answer to a ping sent after the snapshot.
        let mut got = vec![watcher.recv_json()];
        watcher.send_json(&json!({"event": "pusher:ping", "data": {}}));
        loop {
            let msg = watcher.recv_json();
            if msg["event"] == "pusher:pong" {
                break;
            }
            got.push(msg);
        }
        assert_eq!(
            got,
            vec![watch(json!([{"name": "online", "user_ids": [id]}]))],
            "round {round}: expected only the snapshot, with {id} online"
        );
        keep.push((watched, watcher));
    }
}

#[test]
fn a_watchlist_over_100_ids_is_cut_with_4302() {
    let server = Server::start(&[("CORECAST_ENABLE_WATCHLIST_EVENTS", "true")]);
    let ids: Vec<String> = (0..150).map(|i| format!("x{i}")).collect();
    let user_data = json!({"id": "big", "watchlist": ids}).to_string();
    let mut ws = server.connect();
    signed_in(&server, &mut ws, &user_data);
    let mut rest = vec![ws.recv_json(), ws.recv_json()];
    rest.sort_by_key(|m| m["event"].to_string());
    assert_eq!(rest[0]["event"], "pusher:error", "{rest:?}");
    assert_eq!(rest[0]["data"]["code"], 4302, "{rest:?}");
    assert_eq!(
        rest[1],
        watch(json!([{"name": "offline", "user_ids": ids[..100]}]))
    );
    ws.ping_pong();
}

#[test]
fn watchlist_events_are_off_unless_enabled() {
    let server = Server::start(&[]);
    let mut other = server.connect();
    signed_in(&server, &mut other, r#"{"id":"other"}"#);
    let mut ws = server.connect();
    signed_in(
        &server,
        &mut ws,
        r#"{"id":"w","watchlist":["other","gone"]}"#,
    );
    ws.ping_pong();
    drop(other);
    let mut late = server.connect();
    signed_in(&server, &mut late, r#"{"id":"gone"}"#);
    ws.assert_silent(Duration::from_millis(300));
}
