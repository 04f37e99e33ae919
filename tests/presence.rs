//! Presence channels across shards: `subscription_succeeded` lists every member including the
//! joiner; `member_added` / `member_removed` reach the other subscribers only on a user's first
//! join and last leave (unsubscribe, close or dropped TCP); the member limit counts distinct
//! users; bad `channel_data` and bad signatures are refused; numeric user ids keep their JSON
//! type; REST user lists and counts are global; client events carry the sender's `user_id`.

mod common;

use std::net::Shutdown;

use common::{assert_sub_error, presence_of, App, Server, Ws};
use serde_json::{json, Value};

const ROOM: &str = "presence-room";

fn server() -> Server {
    Server::start(&[("CORECAST_ENABLE_CLIENT_MESSAGES", "true")])
}

fn member(id: &str, name: &str) -> String {
    json!({"user_id": id, "user_info": {"name": name}}).to_string()
}

/// Joins `channel` with `channel_data`, asserting success; returns the presence object.
fn join(ws: &mut Ws, app: &App, channel: &str, channel_data: &str) -> Value {
    let reply = ws.join_presence(app, channel, channel_data);
    presence_of(&reply, channel)
}

/// Expects `pusher_internal:{kind}` on `channel` next; returns its data, which must be a string.
fn expect_member(ws: &mut Ws, kind: &str, channel: &str) -> Value {
    let data = ws.expect_event(&format!("pusher_internal:{kind}"), channel);
    let text = data
        .as_str()
        .unwrap_or_else(|| panic!("{kind} data: {data}"));
    serde_json::from_str(text).expect("member data holds JSON")
}

/// `GET /channels/{channel}/users`, with the list sorted by id.
fn users(server: &Server, channel: &str) -> Value {
    let reply = server.rest().get(&format!("channels/{channel}/users"), &[]);
    let mut body = reply.ok().clone();
    let list = body["users"].as_array_mut().expect("users array");
    list.sort_by_key(|u| u["id"].to_string());
    body
}

#[test]
fn members_include_the_joiner_and_are_announced_to_the_others_on_every_shard() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut a = server.connect_on(0, &mut spare);
    let mut b = server.connect_on(1, &mut spare);
    let mut c = server.connect_on(0, &mut spare);
    assert_eq!(
        join(&mut a, &app, ROOM, &member("1", "A")),
        json!({"ids": ["1"], "hash": {"1": {"name": "A"}}, "count": 1})
    );
    assert_eq!(
        join(&mut b, &app, ROOM, &member("2", "B")),
        json!({"ids": ["1", "2"], "hash": {"1": {"name": "A"}, "2": {"name": "B"}}, "count": 2})
    );
    assert_eq!(
        expect_member(&mut a, "member_added", ROOM),
        json!({"user_id": "2", "user_info": {"name": "B"}})
    );
    let all = join(&mut c, &app, ROOM, &member("3", "C"));
    assert_eq!(all["ids"], json!(["1", "2", "3"]));
    assert_eq!(all["count"], 3);
    assert_eq!(all["hash"]["3"], json!({"name": "C"}));
    for ws in [&mut a, &mut b] {
        assert_eq!(
            expect_member(ws, "member_added", ROOM),
            json!({"user_id": "3", "user_info": {"name": "C"}})
        );
    }
    // Nobody hears about itself or gets anything else.
    for ws in [&mut a, &mut b, &mut c] {
        ws.ping_pong();
    }
}

#[test]
fn a_user_is_one_member_removed_only_when_its_last_connection_leaves() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut obs = server.connect_on(1, &mut spare);
    join(&mut obs, &app, ROOM, &member("obs", "O"));

    // Unsubscribing one of two connections: nothing; closing the last: member_removed.
    let mut u1 = server.connect_on(0, &mut spare);
    let mut u2 = server.connect_on(1, &mut spare);
    assert_eq!(join(&mut u1, &app, ROOM, &member("u", "U"))["count"], 2);
    expect_member(&mut obs, "member_added", ROOM);
    let second = join(&mut u2, &app, ROOM, &member("u", "other info"));
    assert_eq!(second["ids"], json!(["obs", "u"]));
    assert_eq!(
        second["hash"]["u"],
        json!({"name": "U"}),
        "first info is kept"
    );
    u1.unsubscribe(ROOM);
    // Rejoining as someone else travels behind the leave: its member_added must come first.
    join(&mut u1, &app, ROOM, &member("s1", "S"));
    assert_eq!(
        expect_member(&mut obs, "member_added", ROOM)["user_id"],
        "s1"
    );
    u2.close();
    assert_eq!(
        expect_member(&mut obs, "member_removed", ROOM),
        json!({"user_id": "u"})
    );

    // Closing one of two connections: nothing; unsubscribing the last: member_removed.
    let mut v0 = server.connect_on(0, &mut spare);
    let mut v1 = server.connect_on(1, &mut spare);
    let mut sentinel = server.connect_on(0, &mut spare);
    join(&mut v0, &app, ROOM, &member("v", "V"));
    assert_eq!(
        expect_member(&mut obs, "member_added", ROOM)["user_id"],
        "v"
    );
    join(&mut v1, &app, ROOM, &member("v", "V"));
    let before = server.gauge("corecast_connections")[0];
    v0.close();
    server.wait_gauge("corecast_connections", 0, before - 1);
    // The sentinel's join leaves shard 0 after the closed connection's leave.
    join(&mut sentinel, &app, ROOM, &member("s2", "S"));
    assert_eq!(
        expect_member(&mut obs, "member_added", ROOM)["user_id"],
        "s2"
    );
    v1.unsubscribe(ROOM);
    assert_eq!(
        expect_member(&mut obs, "member_removed", ROOM),
        json!({"user_id": "v"})
    );
    assert_eq!(
        users(&server, ROOM)["users"],
        json!([{"id": "obs"}, {"id": "s1"}, {"id": "s2"}])
    );
}

#[test]
fn member_limit_refuses_new_users_but_admits_more_connections_of_members() {
    let server = Server::with_apps(
        json!([{"id": "lim", "key": "lim-key", "secret": "lim-secret", "max_presence_members": 2}]),
        &[],
    );
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut a = server.connect_on(0, &mut spare);
    let mut b = server.connect_on(1, &mut spare);
    let mut c = server.connect_on(0, &mut spare);
    let mut a2 = server.connect_on(1, &mut spare);
    join(&mut a, &app, ROOM, &member("a", "A"));
    join(&mut b, &app, ROOM, &member("b", "B"));
    expect_member(&mut a, "member_added", ROOM);
    let reply = c.join_presence(&app, ROOM, &member("c", "C"));
    assert_sub_error(&reply, ROOM, "LimitReached", 403);
    c.ping_pong();
    let again = join(&mut a2, &app, ROOM, &member("a", "A"));
    assert_eq!(again["ids"], json!(["a", "b"]));
    assert_eq!(again["count"], 2);
    assert_eq!(
        users(&server, ROOM),
        json!({"users": [{"id": "a"}, {"id": "b"}]})
    );
    // Room again once a member leaves.
    b.unsubscribe(ROOM);
    for ws in [&mut a, &mut a2] {
        assert_eq!(expect_member(ws, "member_removed", ROOM)["user_id"], "b");
    }
    assert_eq!(
        join(&mut c, &app, ROOM, &member("c", "C"))["ids"],
        json!(["a", "c"])
    );
}

#[test]
fn bad_or_missing_channel_data_is_refused_with_invalid_channel_data() {
    let server = server();
    let app = server.app.clone();
    let mut ws = server.connect();
    let long_id = "x".repeat(129);
    let big_info = "x".repeat(1100);
    let bad = [
        "not json".to_string(),
        r#"{"user_info":{"name":"no id"}}"#.to_string(),
        r#"{"user_id":""}"#.to_string(),
        r#"{"user_id":null}"#.to_string(),
        r#"{"user_id":true}"#.to_string(),
        r#"{"user_id":{"id":1}}"#.to_string(),
        json!({ "user_id": long_id }).to_string(),
        json!({"user_id": "1", "user_info": {"bio": big_info}}).to_string(),
        // A JSON array is not an object, even one whose first element looks like an id.
        r#"["1"]"#.to_string(),
    ];
    for data in &bad {
        let reply = ws.join_presence(&app, ROOM, data);
        assert_eq!(
            reply["event"], "pusher:subscription_error",
            "channel_data {data} was accepted: {reply}"
        );
        assert_sub_error(&reply, ROOM, "InvalidChannelData", 400);
    }
    // No channel_data at all, and not signed in.
    let auth = app.channel_auth(&ws.socket_id, ROOM);
    let reply = ws.subscribe_with(ROOM, Some(&auth));
    assert_sub_error(&reply, ROOM, "InvalidChannelData", 400);
    // None of them joined; a 128-character id is fine.
    let id = "y".repeat(128);
    let ok = join(&mut ws, &app, ROOM, &json!({ "user_id": id }).to_string());
    assert_eq!(
        ok,
        json!({"ids": [id], "hash": {id.clone(): {}}, "count": 1})
    );
}

#[test]
fn bad_signatures_are_refused_with_auth_error() {
    let server = server();
    let app = server.app.clone();
    let mut ws = server.connect();
    let data = member("1", "A");
    let sid = ws.socket_id.clone();
    let wrong_secret = App::new(&app.id, &app.key, "not-the-secret");
    let bad_auths = [
        app.presence_auth(&sid, ROOM, &member("2", "A")),
        app.channel_auth(&sid, ROOM),
        app.presence_auth("1.1", ROOM, &data),
        app.presence_auth(&sid, "presence-other", &data),
        wrong_secret.presence_auth(&sid, ROOM, &data),
        format!(
            "other-key:{}",
            app.presence_auth(&sid, ROOM, &data)
                .split_once(':')
                .unwrap()
                .1
        ),
        String::new(),
    ];
    for auth in &bad_auths {
        ws.send_json(&json!({"event": "pusher:subscribe",
            "data": {"channel": ROOM, "auth": auth, "channel_data": data}}));
        assert_sub_error(&ws.recv_json(), ROOM, "AuthError", 401);
    }
    ws.send_json(&json!({"event": "pusher:subscribe",
        "data": {"channel": ROOM, "channel_data": data}}));
    assert_sub_error(&ws.recv_json(), ROOM, "AuthError", 401);
    assert_eq!(join(&mut ws, &app, ROOM, &data)["count"], 1);
}

#[test]
fn numeric_user_ids_keep_their_json_type() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut a = server.connect_on(0, &mut spare);
    let mut b = server.connect_on(1, &mut spare);
    let first = join(&mut a, &app, ROOM, r#"{"user_id":42,"user_info":{"n":1}}"#);
    assert_eq!(
        first,
        json!({"ids": [42], "hash": {"42": {"n": 1}}, "count": 1})
    );
    let second = join(&mut b, &app, ROOM, r#"{"user_id":"7"}"#);
    assert_eq!(second["ids"], json!([42, "7"]));
    assert_eq!(
        expect_member(&mut a, "member_added", ROOM),
        json!({"user_id": "7", "user_info": {}})
    );
    let mut c = server.connect_on(0, &mut spare);
    join(&mut c, &app, ROOM, r#"{"user_id":9}"#);
    for ws in [&mut a, &mut b] {
        assert_eq!(
            expect_member(ws, "member_added", ROOM),
            json!({"user_id": 9, "user_info": {}})
        );
    }
    // REST lists ids as strings.
    assert_eq!(
        users(&server, ROOM)["users"],
        json!([{"id": "42"}, {"id": "7"}, {"id": "9"}])
    );
    a.unsubscribe(ROOM);
    for ws in [&mut b, &mut c] {
        assert_eq!(
            expect_member(ws, "member_removed", ROOM),
            json!({"user_id": 42})
        );
    }
    // A client event from a numeric member carries the number.
    c.send_json(&json!({"event": "client-hi", "channel": ROOM, "data": {}}));
    let msg = b.recv_json();
    assert_eq!(msg["event"], "client-hi", "{msg}");
    assert_eq!(msg["user_id"], json!(9), "{msg}");
}

#[test]
fn rest_user_lists_and_counts_cover_every_shard() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut conns = Vec::new();
    for (shard, channel, id) in [
        (0, ROOM, "1"),
        (1, ROOM, "1"),
        (1, ROOM, "2"),
        (0, "presence-other", "3"),
    ] {
        let mut ws = server.connect_on(shard, &mut spare);
        join(&mut ws, &app, channel, &member(id, id));
        conns.push(ws);
    }
    assert_eq!(
        users(&server, ROOM)["users"],
        json!([{"id": "1"}, {"id": "2"}])
    );
    let mut rest = server.rest();
    let info = [("info", "user_count,subscription_count")];
    assert_eq!(
        rest.get(&format!("channels/{ROOM}"), &info).ok(),
        &json!({"occupied": true, "user_count": 2, "subscription_count": 3})
    );
    assert_eq!(
        rest.get("channels/presence-empty", &[("info", "user_count")])
            .ok(),
        &json!({"occupied": false, "user_count": 0})
    );
    let filter = [("filter_by_prefix", "presence-"), ("info", "user_count")];
    assert_eq!(
        rest.get("channels", &filter).ok(),
        &json!({"channels": {ROOM: {"user_count": 2}, "presence-other": {"user_count": 1}}})
    );
    rest.get("channels", &[("info", "user_count")])
        .assert_error(400);
    rest.get("channels/plain/users", &[]).assert_error(400);
    rest.get("channels/plain", &[("info", "user_count")])
        .assert_error(400);
}

#[test]
fn client_events_carry_the_sender_user_id_and_are_not_echoed() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut sender = server.connect_on(0, &mut spare);
    let mut r0 = server.connect_on(0, &mut spare);
    let mut r1 = server.connect_on(1, &mut spare);
    join(&mut sender, &app, ROOM, &member("s", "S"));
    join(&mut r0, &app, ROOM, &member("r0", "R"));
    expect_member(&mut sender, "member_added", ROOM);
    join(&mut r1, &app, ROOM, &member("r1", "R"));
    expect_member(&mut sender, "member_added", ROOM);
    expect_member(&mut r0, "member_added", ROOM);
    sender.send_json(&json!({"event": "client-typing", "channel": ROOM, "data": {"t": 1}}));
    sender.ping_pong();
    for ws in [&mut r0, &mut r1] {
        assert_eq!(
            ws.recv_json(),
            json!({"event": "client-typing", "channel": ROOM, "data": "{\"t\":1}", "user_id": "s"})
        );
    }
}

#[test]
fn a_dropped_connection_leaves_every_shard_view() {
    let server = server();
    let app = server.app.clone();
    let mut spare = Vec::new();
    let mut o0 = server.connect_on(0, &mut spare);
    let mut o1 = server.connect_on(1, &mut spare);
    let mut gone = server.connect_on(1, &mut spare);
    join(&mut o0, &app, ROOM, &member("o0", "O"));
    join(&mut o1, &app, ROOM, &member("o1", "O"));
    expect_member(&mut o0, "member_added", ROOM);
    join(&mut gone, &app, ROOM, &member("gone", "G"));
    for ws in [&mut o0, &mut o1] {
        assert_eq!(expect_member(ws, "member_added", ROOM)["user_id"], "gone");
    }
    // TCP close without a WebSocket close frame.
    gone.inner()
        .get_mut()
        .shutdown(Shutdown::Both)
        .expect("shutdown");
    drop(gone);
    for ws in [&mut o0, &mut o1] {
        assert_eq!(
            expect_member(ws, "member_removed", ROOM),
            json!({"user_id": "gone"})
        );
    }
    let info = [("info", "user_count,subscription_count")];
    assert_eq!(
        server.rest().get(&format!("channels/{ROOM}"), &info).ok(),
        &json!({"occupied": true, "user_count": 2, "subscription_count": 2})
    );
}
