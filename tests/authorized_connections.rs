//! Authorized connections (`enable_user_authentication`, `user_authentication_timeout`): a
//! connection that has neither signed in nor joined a private or presence channel within the
//! timeout gets `pusher:error` 4009 "Connection not authorized within timeout." and close
//! 4009; public channels and failed subscriptions do not count; apps without the feature keep
//! such connections.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Ws};
use serde_json::json;

/// Generous bound for a close due after a timeout of a second or two: the machine is shared.
const CLOSE_BOUND: Duration = Duration::from_secs(15);

/// Asserts `ws` is closed with 4009 after the authorization-timeout error (within the bound).
fn closed_unauthorized(ws: &mut Ws) {
    let (code, before) = ws.expect_close_within(CLOSE_BOUND);
    assert_eq!(code, 4009, "got {before:?}");
    let last = before.last().expect("a pusher:error before the close");
    assert_eq!(
        last,
        &json!({"event": "pusher:error", "data": {
            "code": 4009, "message": "Connection not authorized within timeout."
        }})
    );
}

#[test]
fn connections_neither_signed_in_nor_on_a_private_channel_are_closed_after_the_timeout() {
    let timeout = Duration::from_secs(2);
    let server = Server::start(&[
        ("CORECAST_ENABLE_USER_AUTHENTICATION", "true"),
        ("CORECAST_USER_AUTHENTICATION_TIMEOUT", "2"),
    ]);
    let started = Instant::now();
    let mut idle = server.connect();
    let mut public = server.connect();
    public.subscribe_ok("news");
    public.subscribe_ok("cache-news");
    // A failed private subscription does not authorize either.
    let mut refused = server.connect();
    let reply = refused.subscribe_with("private-room", Some("app-key:0000"));
    assert_eq!(reply["event"], "pusher:subscription_error", "{reply}");
    for ws in [&mut idle, &mut public, &mut refused] {
        closed_unauthorized(ws);
    }
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(100),
        "closed after {:?}, before the {timeout:?} timeout",
        started.elapsed()
    );
}

#[test]
fn signing_in_or_joining_a_private_or_presence_channel_keeps_the_connection() {
    let server = Server::start(&[
        ("CORECAST_ENABLE_USER_AUTHENTICATION", "true"),
        ("CORECAST_USER_AUTHENTICATION_TIMEOUT", "1"),
    ]);
    let app = server.app.clone();
    let mut signed_in = server.connect();
    let reply = signed_in.signin(&app, r#"{"id":"42"}"#);
    assert_eq!(reply["event"], "pusher:signin_success", "{reply}");
    let mut private = server.connect();
    private.subscribe_private(&app, "private-room");
    let mut encrypted = server.connect();
    encrypted.subscribe_private(&app, "private-encrypted-room");
    let mut presence = server.connect();
    let reply = presence.join_presence(&app, "presence-room", r#"{"user_id":"7"}"#);
    assert_eq!(
        reply["event"], "pusher_internal:subscription_succeeded",
        "{reply}"
    );
    // Left the private channel again: having been authorized once is enough.
    private.unsubscribe("private-room");
    // Opened last, so its deadline is the latest: once it is closed, every other
    // connection's deadline has passed too.
    let mut sentinel = server.connect();
    closed_unauthorized(&mut sentinel);
    // Leave every shard's sweep (250 ms ticks) time to pass the deadlines.
    signed_in.assert_silent(Duration::from_secs(1));
    for ws in [&mut signed_in, &mut private, &mut encrypted, &mut presence] {
        ws.ping_pong();
    }
}

#[test]
fn each_app_decides_and_apps_without_the_feature_keep_every_connection() {
    let server = Server::with_apps(
        json!([
            {"id": "strict", "key": "strict-key", "secret": "s1",
             "enable_user_authentication": true, "user_authentication_timeout": 1},
            {"id": "relaxed", "key": "relaxed-key", "secret": "s2",
             "user_authentication_timeout": 1},
        ]),
        &[],
    );
    let mut relaxed = server.connect_key("relaxed-key");
    relaxed.subscribe_ok("news");
    let mut strict = server.connect_key("strict-key");
    closed_unauthorized(&mut strict);
    relaxed.assert_silent(Duration::from_secs(1));
    relaxed.ping_pong();
}
