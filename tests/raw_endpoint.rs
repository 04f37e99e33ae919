//! The PieSocket-style raw endpoint `/v3/{channel_id}?api_key=KEY`: verbatim relay across
//! shards, join semantics, `notify_self`, binary frames, refusals and their close codes, app
//! and namespace isolation, the message size and rate limits, protocol errors, JWTs on
//! `private-` channels, and `POST /api/publish`.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{now_unix, Server, Ws, WAIT};
use corecast::auth::raw::sign_jwt;
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// Opens `path`, expects an `{"error":…}` message and a close; returns the code and the error.
fn refused(server: &Server, path: &str) -> (u16, String) {
    let mut ws = server.ws(path);
    let (code, before) = ws.expect_close();
    assert_eq!(
        before.len(),
        1,
        "one error message before the close: {before:?}"
    );
    let error = before[0]["error"]
        .as_str()
        .expect("{\"error\":…}")
        .to_string();
    (code, error)
}

/// Raw members of `channel` (query `extra`) until `/metrics` shows subscriptions on every shard (at least `min`).
fn members_on_every_shard(server: &Server, channel: &str, min: usize, extra: &str) -> Vec<Ws> {
    let mut conns = Vec::new();
    while conns.len() < 64 {
        conns.push(server.raw(channel, extra));
        if conns.len() >= min {
            let subs = server.gauge("corecast_subscriptions");
            assert!(subs.len() >= 2, "two shards in /metrics: {subs:?}");
            if subs.iter().all(|&n| n > 0) {
                return conns;
            }
        }
    }
    panic!("64 raw connections did not reach every shard");
}

#[test]
fn messages_reach_members_on_every_shard_verbatim_but_not_the_sender() {
    let server = Server::start(&[]);
    let mut conns = members_on_every_shard(&server, "room-1", 8, "");
    let mut sender = conns.pop().expect("a sender");
    let text = r#"{"event":"new-message","data":"hi","meta":{}}"#;
    sender.send_text(text);
    sender.send_text("not json at all");
    for ws in &mut conns {
        assert_eq!(ws.recv_text(), text);
        assert_eq!(ws.recv_text(), "not json at all");
    }
    sender.assert_silent(QUIET);
}

#[test]
fn a_new_member_never_receives_messages_sent_before_it_joined() {
    let server = Server::start(&[("CORECAST_RAW_MAX_MESSAGES_PER_SECOND", "0")]);
    let mut sender = server.raw("late", "&notify_self");
    let burst: Vec<Value> = (0..200).map(|i| json!(i)).collect();
    for _round in 0..20 {
        sender.send_burst(&burst);
        // The last echo shows that the sender's shard has published the whole burst; copies
        // for the other shard may still be on the bus when the new member connects there.
        while sender.recv_text() != "199" {}
        let mut late = server.raw("late", "");
        late.assert_silent(Duration::from_millis(20));
    }
}

#[test]
fn notify_self_flag_forms() {
    let server = Server::start(&[]);
    let forms = [
        ("&notify_self", true),
        ("&notify_self=1", true),
        ("&notify_self=true", true),
        ("&notify_self=0", false),
        ("&notify_self=false", false),
        ("", false),
    ];
    for (i, (extra, echoed)) in forms.into_iter().enumerate() {
        // A channel of its own: a late cross-shard copy of an earlier "me" cannot reach it.
        let channel = format!("selfie{i}");
        let mut ws = server.raw(&channel, extra);
        ws.send_text("me");
        if echoed {
            assert_eq!(ws.recv_text(), "me", "{extra}");
        } else {
            ws.assert_silent(QUIET);
        }
    }
}

#[test]
fn binary_is_relayed_as_binary_and_pings_are_answered() {
    let server = Server::start(&[]);
    let mut a = server.raw("bin", "");
    let mut b = server.raw("bin", "");
    let payload = vec![0u8, 159, 146, 150, 255];
    a.send(Message::binary(payload.clone()));
    match b.recv() {
        Message::Binary(got) => assert_eq!(got.as_ref(), &payload[..]),
        other => panic!("expected binary, got {other:?}"),
    }
    a.send(Message::Ping(b"are you there".to_vec().into()));
    match a.recv() {
        Message::Pong(p) => assert_eq!(p.as_ref(), b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[test]
fn bad_channel_ids_are_refused_with_4005() {
    let server = Server::start(&[]);
    let long = "x".repeat(31);
    for id in ["bad.id", "", "a%20b", &long, "1/1998"] {
        let (code, error) = refused(&server, &format!("/v3/{id}?api_key=app-key"));
        assert_eq!(
            (code, error.as_str()),
            (4005, "Invalid channel id"),
            "{id:?}"
        );
    }
    let max = "x".repeat(30);
    server.raw(&max, "&notify_self").send_text("ok");
}

#[test]
fn missing_or_unknown_key_is_refused_with_4001_and_the_alias_works() {
    let server = Server::start(&[]);
    assert_eq!(refused(&server, "/v3/room").0, 4001);
    assert_eq!(refused(&server, "/v3/room?api_key=nope").0, 4001);
    assert_eq!(refused(&server, "/v3/room?api_key=").0, 4001);
    let mut ws = server.ws("/v3/room?apiKey=app-key&notify_self=1");
    ws.send_text("alias");
    assert_eq!(ws.recv_text(), "alias");
}

#[test]
fn sdk_parameters_are_ignored() {
    let server = Server::start(&[]);
    let extra = "&notify_self=1&presence=0&user=bob&uuid=0f8e-77aa&source=js&v=3";
    let mut ws = server.raw("lobby", extra);
    ws.send_text("still relayed");
    assert_eq!(ws.recv_text(), "still relayed");
}

#[test]
fn apps_are_isolated_and_app_state_is_enforced() {
    let server = Server::with_apps(
        json!([
            {"id": "1", "key": "key-one", "secret": "s1"},
            {"id": "2", "key": "key-two", "secret": "s2"},
            {"id": "3", "key": "key-off", "secret": "s3", "enabled": false},
            {"id": "4", "key": "key-one-conn", "secret": "s4", "max_connections": 1}
        ]),
        &[],
    );
    let mut one_a = server.ws("/v3/shared?api_key=key-one");
    let mut one_b = server.ws("/v3/shared?api_key=key-one");
    let mut two = server.ws("/v3/shared?api_key=key-two");
    one_a.send_text("for app one");
    assert_eq!(one_b.recv_text(), "for app one");
    two.assert_silent(QUIET);
    two.send_text("for app two");
    one_a.assert_silent(QUIET);
    one_b.assert_silent(QUIET);
    assert_eq!(refused(&server, "/v3/shared?api_key=key-off").0, 4003);
    let _only = server.ws("/v3/shared?api_key=key-one-conn");
    assert_eq!(refused(&server, "/v3/shared?api_key=key-one-conn").0, 4004);
}

#[test]
fn raw_and_pusher_channels_of_the_same_name_do_not_meet() {
    let server = Server::start(&[]);
    let mut pusher = server.connect();
    pusher.subscribe_ok("chat");
    let mut raw = server.raw("chat", "");
    let mut raw_sender = server.raw("chat", "");
    raw_sender.send_text("raw only");
    assert_eq!(raw.recv_text(), "raw only");
    pusher.assert_silent(QUIET);
    server
        .rest()
        .trigger(json!({"name": "ev", "channel": "chat", "data": "pusher only"}));
    assert_eq!(pusher.expect_event("ev", "chat"), "pusher only");
    raw.assert_silent(QUIET);
    // The internal name is neither subscribable nor listed.
    let reply = pusher.subscribe_with("#raw:chat", None);
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    let list = server.rest().get("channels", &[]);
    assert_eq!(list.ok()["channels"], json!({"chat": {}}));
}

#[test]
fn oversize_message_closes_1009_and_others_are_unaffected() {
    let server = Server::start(&[]);
    let mut big = server.raw("sizes", "");
    let mut other = server.raw("sizes", "");
    let mut third = server.raw("sizes", "");
    let limit = 32 * 1024;
    big.send_text(&"a".repeat(limit));
    assert_eq!(other.recv_text().len(), limit);
    assert_eq!(third.recv_text().len(), limit);
    big.send_text(&"a".repeat(limit + 1));
    assert_eq!(big.expect_close().0, 1009);
    third.send_text("after");
    assert_eq!(other.recv_text(), "after");
}

#[test]
fn excess_messages_are_dropped_with_one_rate_limit_error_per_second() {
    let server = Server::start(&[("CORECAST_RAW_MAX_MESSAGES_PER_SECOND", "3")]);
    let mut sender = server.raw("busy", "");
    let mut receiver = server.raw("busy", "");
    let burst: Vec<Value> = (0..10).map(|i| json!(i)).collect();
    sender.send_burst(&burst);
    let mut got = Vec::new();
    while let Some(Message::Text(t)) = receiver.recv_within(QUIET) {
        got.push(t.as_str().to_string());
    }
    assert!(
        (3..=4).contains(&got.len()),
        "3 messages (one refill at most) pass: {got:?}"
    );
    assert_eq!(got[..3], ["0", "1", "2"]);
    assert_eq!(sender.recv_text(), r#"{"error":"Rate limit exceeded"}"#);
    sender.assert_silent(QUIET);
    std::thread::sleep(Duration::from_millis(1100));
    sender.send_text("later");
    assert_eq!(receiver.recv_text(), "later");
}

/// A masked client frame (`b0` = FIN/RSV/opcode byte) with a short payload.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![b0, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[test]
fn a_protocol_error_keeps_replies_to_the_messages_before_it() {
    let server = Server::start(&[]);
    let mut ws = server.raw("strict", "&notify_self");
    // A valid text message and a frame with a reserved bit set, in one write.
    let mut bytes = client_frame(0x81, b"Hello");
    bytes.extend(client_frame(0xA1, b"bad"));
    std::io::Write::write_all(ws.inner().get_mut(), &bytes).expect("write");
    assert_eq!(ws.recv_text(), "Hello");
    assert_eq!(ws.expect_close().0, 1002);
}

/// Upgrades to `path` with an extra `jwt` request header.
fn open_with_jwt_header(server: &Server, path: &str, token: &str) -> WebSocket<TcpStream> {
    let url = format!("ws://{}{path}", server.addr);
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("jwt", token.parse().expect("header value"));
    let stream = TcpStream::connect_timeout(&server.addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    tungstenite::client::client(request, stream)
        .expect("upgrade")
        .0
}

#[test]
fn private_channels_need_a_jwt_for_that_channel() {
    let server = Server::start(&[]);
    let secret = &server.app.secret;
    let now = now_unix();
    let token = |sub: &str, exp: u64| {
        sign_jwt(
            secret,
            &json!({"sub": sub, "iat": now, "exp": exp, "user": "alice"}).to_string(),
        )
    };
    let good = token("private-room", now + 600);
    let mut ws = server.raw("private-room", &format!("&notify_self&jwt={good}"));
    ws.send_text("authorized");
    assert_eq!(ws.recv_text(), "authorized");
    let path = format!("/v3/private-header?api_key={}&notify_self", server.app.key);
    let mut ws = open_with_jwt_header(&server, &path, &token("private-header", now + 600));
    ws.send(Message::text("header token")).expect("send");
    assert_eq!(ws.read().expect("echo"), Message::text("header token"));

    let denied = "Authentication failed, provide valid jwt token.";
    let wrong_secret = sign_jwt(
        "not-the-secret",
        &json!({"sub": "private-room", "exp": now + 600}).to_string(),
    );
    for bad in [
        String::new(),
        format!("&jwt={}", token("private-other", now + 600)),
        format!("&jwt={}", token("private-room", now - 120)),
        format!("&jwt={wrong_secret}"),
        "&jwt=garbage".to_string(),
    ] {
        let path = format!("/v3/private-room?api_key={}{bad}", server.app.key);
        assert_eq!(refused(&server, &path), (4009, denied.to_string()), "{bad}");
    }
}

/// Sends `body` to `POST /api/publish`.
fn publish(server: &Server, body: &Value) -> common::Reply {
    server
        .rest()
        .send("POST", "/api/publish", body.to_string().as_bytes(), &[])
}

#[test]
fn http_publish_reaches_every_member_on_every_shard() {
    let server = Server::start(&[]);
    let mut conns = members_on_every_shard(&server, "room-1", 8, "");
    // Object messages are relayed as compact JSON in their original key order.
    let body = r#"{"key":"app-key","secret":"app-secret","channelId":"room-1",
        "message": { "event" : "new-message", "data" : "hi" }}"#;
    // One keep-alive connection: both publishes start on the same shard, so they stay ordered.
    let mut rest = server.rest();
    let reply = rest.send("POST", "/api/publish", body.as_bytes(), &[]);
    assert_eq!(reply.ok(), &json!({"success": true}));
    let text = json!({"key": "app-key", "secret": "app-secret", "roomId": "room-1",
        "message": "plain text"});
    let reply = rest.send("POST", "/api/publish", text.to_string().as_bytes(), &[]);
    assert_eq!(reply.ok(), &json!({"success": true}));
    for ws in &mut conns {
        assert_eq!(ws.recv_text(), r#"{"event":"new-message","data":"hi"}"#);
        assert_eq!(ws.recv_text(), "plain text");
    }
}

#[test]
fn http_publish_refusals() {
    let server = Server::start(&[]);
    let mut member = server.raw("room-1", "");
    let base = json!({"key": "app-key", "secret": "app-secret", "channelId": "room-1",
        "message": "m"});
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = base.clone();
        b.as_object_mut().expect("object").remove(field);
        b
    };
    publish(&server, &with("secret", json!("wrong"))).assert_error(401);
    publish(&server, &without("secret")).assert_error(401);
    publish(&server, &with("key", json!("nope"))).assert_error(401);
    publish(&server, &without("key")).assert_error(401);
    publish(&server, &with("channelId", json!("bad.id"))).assert_error(400);
    publish(&server, &without("channelId")).assert_error(400);
    publish(&server, &without("message")).assert_error(400);
    publish(&server, &with("message", json!("x".repeat(32 * 1024 + 1)))).assert_error(413);
    let mut rest = server.rest();
    rest.send("POST", "/api/publish", b"{not json", &[])
        .assert_error(400);
    assert_eq!(rest.send("GET", "/api/publish", b"", &[]).status, 405);
    member.assert_silent(QUIET);
}
