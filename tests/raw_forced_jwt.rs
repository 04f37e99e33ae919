//! Per-app `raw_require_jwt` (`CORECAST_RAW_REQUIRE_JWT` for the default app): every raw
//! `/v3/{channel_id}` connection of such an app needs a valid JWT for its channel (query `jwt`
//! or `jwt` header, HS256 with the app secret, `sub` = the channel id), not only `private-`
//! ones; without one it gets `{"error":"Authentication failed, provide valid jwt token."}`
//! and close 4009. Other apps keep needing one only on `private-` channels.

mod common;

use common::{now_unix, Server, Ws};
use corecast::auth::raw::sign_jwt;
use serde_json::json;

const AUTH_FAILED: &str = "Authentication failed, provide valid jwt token.";

fn token(secret: &str, sub: &str, exp: u64) -> String {
    let now = now_unix();
    sign_jwt(
        secret,
        &json!({"sub": sub, "iat": now, "exp": exp, "user": "alice"}).to_string(),
    )
}

/// Asserts `ws` gets the authentication error and close 4009.
fn auth_refused(ws: &mut Ws) {
    let (code, before) = ws.expect_close();
    assert_eq!(code, 4009, "got {before:?}");
    assert_eq!(before, vec![json!({"error": AUTH_FAILED})]);
}

/// Asserts `ws` (opened with `notify_self`) is a member: its message comes back.
fn echoes(ws: &mut Ws) {
    ws.send_text("hello");
    assert_eq!(ws.recv_text(), "hello");
}

#[test]
fn an_app_with_raw_require_jwt_needs_a_token_on_every_channel() {
    let server = Server::with_apps(
        json!([
            {"id": "locked", "key": "locked-key", "secret": "locked-secret",
             "raw_require_jwt": true},
            {"id": "open", "key": "open-key", "secret": "open-secret"},
        ]),
        &[],
    );
    let path = |key: &str, channel: &str, extra: &str| {
        format!("/v3/{channel}?api_key={key}&notify_self{extra}")
    };
    let later = now_unix() + 600;
    let good = token("locked-secret", "room-1", later);
    for extra in [
        String::new(),
        "&jwt=".to_string(),
        "&jwt=not.a.token".to_string(),
        format!("&jwt={}", token("locked-secret", "room-2", later)),
        format!(
            "&jwt={}",
            token("locked-secret", "room-1", now_unix() - 3600)
        ),
        format!("&jwt={}", token("open-secret", "room-1", later)),
    ] {
        auth_refused(&mut server.ws(&path("locked-key", "room-1", &extra)));
    }
    echoes(&mut server.ws(&path("locked-key", "room-1", &format!("&jwt={good}"))));
    let mut by_header = Ws::open_with_headers(
        server.addr,
        &path("locked-key", "room-1", ""),
        &[("jwt", &good)],
    )
    .expect("upgrade");
    echoes(&mut by_header);
    // The other app still needs a token on private channels only.
    echoes(&mut server.ws(&path("open-key", "room-1", "")));
    auth_refused(&mut server.ws(&path("open-key", "private-room", "")));
    let private = token("open-secret", "private-room", later);
    echoes(&mut server.ws(&path(
        "open-key",
        "private-room",
        &format!("&jwt={private}"),
    )));
}

#[test]
fn the_default_app_takes_it_from_the_environment() {
    let server = Server::start(&[("CORECAST_RAW_REQUIRE_JWT", "true")]);
    auth_refused(&mut server.raw("room-1", "&notify_self"));
    let good = token(&server.app.secret, "room-1", now_unix() + 600);
    echoes(&mut server.raw("room-1", &format!("&notify_self&jwt={good}")));
}
