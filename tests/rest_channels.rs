//! REST queries and HTTP plumbing: `GET /channels` (occupied channels only, `filter_by_prefix`,
//! `info=subscription_count`, `user_count` refused without a presence prefix),
//! `GET /channels/{name}` (occupied or not, counts), `/events` with `info`, HTTP/1.1
//! keep-alive and pipelining, `Connection: close`, and `GET /up`.

mod common;

use std::time::Instant;

use common::{Server, WAIT};
use serde_json::json;

#[test]
fn channel_list_shows_occupied_channels_only() {
    let server = Server::start(&[]);
    let mut a = server.connect();
    let mut b = server.connect();
    a.subscribe_ok("news-1");
    b.subscribe_ok("news-1");
    b.subscribe_ok("news-2");
    b.subscribe_ok("sport");
    a.subscribe_ok("gone");
    a.unsubscribe("gone");
    a.ping_pong();
    let mut rest = server.rest();
    let all = rest.get("channels", &[]);
    assert_eq!(
        all.ok(),
        &json!({"channels": {"news-1": {}, "news-2": {}, "sport": {}}})
    );
    let news = rest.get("channels", &[("filter_by_prefix", "news-")]);
    assert_eq!(
        news.ok(),
        &json!({"channels": {"news-1": {}, "news-2": {}}})
    );
    let counted = rest.get(
        "channels",
        &[
            ("filter_by_prefix", "news-"),
            ("info", "subscription_count"),
        ],
    );
    assert_eq!(
        counted.ok(),
        &json!({"channels": {
            "news-1": {"subscription_count": 2},
            "news-2": {"subscription_count": 1}
        }})
    );
    let none = rest.get("channels", &[("filter_by_prefix", "presence-")]);
    assert_eq!(none.ok(), &json!({"channels": {}}));
}

#[test]
fn channel_list_user_count_needs_a_presence_prefix() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    rest.get("channels", &[("info", "user_count")])
        .assert_error(400);
    rest.get(
        "channels",
        &[("filter_by_prefix", "private-"), ("info", "user_count")],
    )
    .assert_error(400);
    let ok = rest.get(
        "channels",
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
    );
    assert_eq!(ok.ok(), &json!({"channels": {}}));
}

#[test]
fn channel_disappears_from_the_list_when_its_last_subscriber_leaves() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    {
        let mut ws = server.connect();
        ws.subscribe_ok("short-lived");
        assert_eq!(
            rest.get("channels/short-lived", &[]).ok(),
            &json!({"occupied": true})
        );
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let body = rest.get("channels", &[]).ok().clone();
        if body == json!({"channels": {}}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still listed after disconnect: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        rest.get("channels/short-lived", &[]).ok(),
        &json!({"occupied": false})
    );
}

#[test]
fn single_channel_reports_occupancy_and_counts() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("here");
    let mut rest = server.rest();
    assert_eq!(
        rest.get("channels/here", &[]).ok(),
        &json!({"occupied": true})
    );
    assert_eq!(
        rest.get("channels/here", &[("info", "subscription_count")])
            .ok(),
        &json!({"occupied": true, "subscription_count": 1})
    );
    assert_eq!(
        rest.get("channels/empty-room", &[]).ok(),
        &json!({"occupied": false})
    );
    assert_eq!(
        rest.get("channels/empty-room", &[("info", "subscription_count")])
            .ok(),
        &json!({"occupied": false, "subscription_count": 0})
    );
    rest.get("channels/here", &[("info", "user_count")])
        .assert_error(400);
    rest.get("channels/bad%20name", &[]).assert_error(400);
}

#[test]
fn events_info_reports_subscription_counts() {
    let server = Server::start(&[]);
    let mut one = server.connect();
    let mut two = server.connect();
    one.subscribe_ok("counted");
    two.subscribe_ok("counted");
    let reply = server.rest().post(
        "events",
        &json!({
            "name": "e", "channels": ["counted", "uncounted"], "data": "d",
            "info": "subscription_count"
        }),
    );
    assert_eq!(
        reply.ok(),
        &json!({"channels": {
            "counted": {"subscription_count": 2},
            "uncounted": {"subscription_count": 0}
        }})
    );
    one.expect_event("e", "counted");
    two.expect_event("e", "counted");
}

#[test]
fn several_requests_share_one_keep_alive_connection() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("kept");
    let mut rest = server.rest();
    for i in 0..5 {
        let reply = rest.post(
            "events",
            &json!({"name": "k", "channel": "kept", "data": i.to_string()}),
        );
        assert_eq!(reply.ok(), &json!({}));
        assert!(
            reply
                .header("connection")
                .is_none_or(|c| !c.eq_ignore_ascii_case("close")),
            "{:?}",
            reply.headers
        );
        let info = rest.get("channels/kept", &[]);
        assert_eq!(info.ok(), &json!({"occupied": true}));
    }
    rest.get("channels/bad%20name", &[]).assert_error(400);
    assert_eq!(rest.get("channels", &[]).status, 200);
    assert_eq!(rest.connections, 1, "all requests on one TCP connection");
    for i in 0..5 {
        assert_eq!(ws.expect_event("k", "kept"), i.to_string());
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    let path = format!("/apps/{}/channels", server.app.id);
    let q1 = rest.query("GET", &path, &[], b"", common::now_unix());
    let req = format!(
        "GET /up HTTP/1.1\r\nHost: x\r\n\r\nGET {path}?{q1} HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let first = rest.exchange(req.as_bytes());
    assert_eq!(first.status, 200);
    let second = rest.exchange(b"");
    assert_eq!(second.ok(), &json!({"channels": {}}));
    let third = rest.exchange(b"");
    third.assert_error(404);
    assert_eq!(rest.connections, 1);
}

/// Signed `POST /events` bytes publishing `data` to `channel`, with extra header lines.
fn publish_request(
    rest: &common::Rest,
    app_id: &str,
    channel: &str,
    data: &str,
    extra: &str,
) -> Vec<u8> {
    let path = format!("/apps/{app_id}/events");
    let body = json!({"name": "p", "channel": channel, "data": data}).to_string();
    let q = rest.query("POST", &path, &[], body.as_bytes(), common::now_unix());
    format!(
        "POST {path}?{q} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn pipelined_publishes_are_answered_together_and_in_order() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("piped");
    let mut rest = server.rest();
    let id = server.app.id.clone();
    // Three publishes, a refused one (bad signature) and a fourth publish, in one write.
    let mut wire = Vec::new();
    for i in 0..3 {
        wire.extend(publish_request(&rest, &id, "piped", &i.to_string(), ""));
    }
    let bad = publish_request(&rest, &id, "piped", "x", "");
    let bad = String::from_utf8(bad)
        .unwrap()
        .replacen("auth_signature=", "auth_signature=0", 1);
    wire.extend(bad.into_bytes());
    wire.extend(publish_request(&rest, &id, "piped", "3", ""));
    assert_eq!(rest.exchange(&wire).status, 200);
    for _ in 1..3 {
        assert_eq!(rest.exchange(b"").status, 200);
    }
    rest.exchange(b"").assert_error(401);
    assert_eq!(rest.exchange(b"").status, 200);
    for i in 0..4 {
        assert_eq!(ws.expect_event("p", "piped"), i.to_string());
    }
    // A request that has only partly arrived does not hold back the answer to the one
    // before it.
    let first = publish_request(&rest, &id, "piped", "4", "");
    let second = publish_request(&rest, &id, "piped", "5", "");
    let (head, tail) = second.split_at(second.len() - 5);
    let mut wire = first.clone();
    wire.extend_from_slice(head);
    assert_eq!(rest.exchange(&wire).status, 200);
    assert_eq!(ws.expect_event("p", "piped"), "4");
    assert_eq!(rest.exchange(tail).status, 200);
    assert_eq!(ws.expect_event("p", "piped"), "5");
    // `Connection: close` in the middle ends the connection after its own answer.
    let mut wire = publish_request(&rest, &id, "piped", "6", "Connection: close\r\n");
    wire.extend(publish_request(&rest, &id, "piped", "7", ""));
    let reply = rest.exchange(&wire);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(ws.expect_event("p", "piped"), "6");
    ws.ping_pong();
    assert_eq!(rest.connections, 1);
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = Server::start(&[]);
    let mut ws = server.connect();
    ws.subscribe_ok("big");
    let mut rest = server.rest();
    let req = publish_request(
        &rest,
        &server.app.id,
        "big",
        &"x".repeat(2000),
        "Expect: 100-continue\r\n",
    );
    let split = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(rest.exchange(&req[..split]).status, 100);
    assert_eq!(rest.exchange(&req[split..]).status, 200);
    assert_eq!(ws.expect_event("p", "big"), "x".repeat(2000));
    // A body that came with its head needs no 100.
    let whole = publish_request(
        &rest,
        &server.app.id,
        "big",
        "y",
        "Expect: 100-continue\r\n",
    );
    assert_eq!(rest.exchange(&whole).status, 200);
    assert_eq!(ws.expect_event("p", "big"), "y");
    assert_eq!(rest.connections, 1);
}

#[test]
fn unreadable_requests_get_a_json_error_and_a_close() {
    let server = Server::start(&[]);
    let path = format!("/apps/{}/events", server.app.id);
    let cases: [(Vec<u8>, u16); 4] = [
        (
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            .into_bytes(),
            411,
        ),
        (
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n").into_bytes(),
            400,
        ),
        (
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
                .into_bytes(),
            413,
        ),
        (
            format!(
                "GET /up HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n",
                "a".repeat(20_000)
            )
            .into_bytes(),
            431,
        ),
    ];
    for (request, status) in cases {
        let mut rest = server.rest();
        // Sent after a good request on the same connection: the refusal ends it.
        assert_eq!(rest.send("GET", "/up", b"", &[]).status, 200);
        let reply = rest.exchange(&request);
        reply.assert_error(status);
        assert_eq!(reply.header("connection"), Some("close"), "{status}");
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    let reply = rest.send("GET", "/up", b"", &[("Connection", "close")]);
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close")),
        "{:?}",
        reply.headers
    );
    assert_eq!(rest.send("GET", "/up", b"", &[]).status, 200);
    assert_eq!(rest.connections, 2);
}

#[test]
fn up_is_200_without_authentication() {
    let server = Server::start(&[]);
    let mut rest = server.rest();
    let reply = rest.send("GET", "/up", b"", &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let metrics = rest.send("GET", "/metrics", b"", &[]);
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("corecast_connections{shard=\"1\"}"));
}
