//! Origin allow-lists (`allowed_origins`, `CORECAST_ALLOWED_ORIGINS`): upgrades from an origin
//! off an app's list complete, then get `pusher:error` 4009 "Origin not allowed" and close
//! 4009 on `/app/{key}`, or `{"error":"Origin not allowed"}` and close 4009 on `/v3/`; the
//! check's place in the spec's order; per-app lists; and bad patterns stopping the start.

mod common;

use std::io::Read;

use common::{corecast_command, output_within, Server, Ws, WAIT};
use serde_json::{json, Value};

/// Connects to `path` sending `origin` (none: no `Origin` header).
fn open(server: &Server, path: &str, origin: Option<&str>) -> Ws {
    let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
    Ws::open_with_headers(server.addr, path, &headers)
        .unwrap_or_else(|e| panic!("upgrade {path} from {origin:?}: {e}"))
}

/// Asserts a Pusher connection was refused with `code`: one `pusher:error` carrying it, then a
/// close frame with it. Returns the error's message.
fn refused_with(ws: &mut Ws, code: u16) -> String {
    let (close, before) = ws.expect_close();
    assert_eq!(close, code, "close code; got {before:?}");
    assert_eq!(before.len(), 1, "one message before the close: {before:?}");
    assert_eq!(before[0]["event"], "pusher:error", "{before:?}");
    assert_eq!(before[0]["data"]["code"], code, "{before:?}");
    before[0]["data"]["message"]
        .as_str()
        .expect("message")
        .to_string()
}

#[test]
fn pusher_upgrades_from_origins_off_the_list_get_4009() {
    let server = Server::start(&[(
        "CORECAST_ALLOWED_ORIGINS",
        "https://app.example.com, *.example.org",
    )]);
    let path = Server::pusher_path(&server.app.key);
    for origin in [
        Some("https://app.example.com"),
        Some("HTTPS://APP.example.com:443"),
        Some("https://chat.example.org"),
        Some("http://a.b.example.org"),
        None,
    ] {
        let mut ws = open(&server, &path, origin);
        ws.established();
        ws.ping_pong();
    }
    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://example.org",
        "https://example.org.evil.net",
        "null",
        "https://app.example.com/",
    ] {
        let mut ws = open(&server, &path, Some(origin));
        assert_eq!(
            refused_with(&mut ws, 4009),
            "Origin not allowed",
            "{origin}"
        );
    }
}

#[test]
fn the_origin_is_checked_after_the_version_and_before_the_quota() {
    let server = Server::with_apps(
        json!([{"id": "one", "key": "one-key", "secret": "one-secret",
                "allowed_origins": ["https://good.example"], "max_connections": 1}]),
        &[],
    );
    let bad = Some("https://bad.example");
    let mut ws = open(&server, "/app/one-key?protocol=99", bad);
    refused_with(&mut ws, 4007);
    let mut ws = open(&server, "/app/unknown-key?protocol=7", bad);
    refused_with(&mut ws, 4001);
    let mut first = open(
        &server,
        "/app/one-key?protocol=7",
        Some("https://good.example"),
    );
    first.established();
    let mut ws = open(&server, "/app/one-key?protocol=7", bad);
    assert_eq!(refused_with(&mut ws, 4009), "Origin not allowed");
    let mut ws = open(
        &server,
        "/app/one-key?protocol=7",
        Some("https://good.example"),
    );
    refused_with(&mut ws, 4004);
    first.ping_pong();
}

#[test]
fn each_app_has_its_own_list() {
    let server = Server::with_apps(
        json!([
            {"id": "strict", "key": "strict-key", "secret": "s1",
             "allowed_origins": ["https://*.strict.example:8443", "localhost:3000"]},
            {"id": "open", "key": "open-key", "secret": "s2"},
        ]),
        &[],
    );
    let strict = Server::pusher_path("strict-key");
    let open_app = Server::pusher_path("open-key");
    for ok in [
        "https://a.strict.example:8443",
        "http://localhost:3000",
        "https://localhost:3000",
    ] {
        open(&server, &strict, Some(ok)).established();
    }
    for bad in ["https://a.strict.example", "http://localhost:3001"] {
        let mut ws = open(&server, &strict, Some(bad));
        refused_with(&mut ws, 4009);
    }
    open(&server, &open_app, Some("https://anything.example")).established();
    open(&server, &open_app, Some("null")).established();
}

#[test]
fn raw_upgrades_from_origins_off_the_list_get_an_error_and_4009() {
    let server = Server::start(&[("CORECAST_ALLOWED_ORIGINS", "https://app.example.com")]);
    let path = format!("/v3/room-1?api_key={}&notify_self", server.app.key);
    let mut ws = open(&server, &path, Some("https://evil.example.com"));
    let (code, before) = ws.expect_close();
    assert_eq!(code, 4009);
    assert_eq!(before, vec![json!({"error": "Origin not allowed"})]);
    // The app key is checked first.
    let mut ws = open(
        &server,
        "/v3/room-1?api_key=nope",
        Some("https://evil.example.com"),
    );
    assert_eq!(ws.expect_close().0, 4001);
    for origin in [Some("https://app.example.com"), None] {
        let mut ws = open(&server, &path, origin);
        ws.send_text("hello");
        assert_eq!(ws.recv_text(), "hello");
    }
}

/// Runs the server with `envs` and an apps file holding `apps`; returns its exit code and
/// standard error (it must stop at once).
#[test]
fn an_origin_header_that_is_not_utf8_is_refused_not_taken_for_a_missing_one() {
    use std::io::Write;
    let server = Server::start(&[("CORECAST_ALLOWED_ORIGINS", "https://app.example.com")]);
    let path = Server::pusher_path(&server.app.key);
    let mut tcp = std::net::TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://app.example.com"
    )
    .into_bytes();
    request.extend_from_slice(b"\xff\r\n\r\n");
    tcp.write_all(&request).expect("write");
    // Everything the server sends until it shuts its side (or the read times out).
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = tcp.read(&mut chunk) {
        got.extend_from_slice(&chunk[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 101"), "{got}");
    assert!(
        got.contains(r#""code":4009"#) && got.contains("Origin not allowed"),
        "{got}"
    );
    assert!(!got.contains("connection_established"), "{got}");
}

fn start_refused(apps: Option<Value>, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = corecast_command();
    cmd.env("CORECAST_HOST", "127.0.0.1")
        .env("CORECAST_PORT", "0");
    let path = std::env::temp_dir().join(format!("corecast-origins-{}.json", std::process::id()));
    if let Some(apps) = &apps {
        std::fs::write(&path, apps.to_string()).expect("write apps file");
        cmd.env("CORECAST_APPS_FILE", &path);
    }
    cmd.envs(envs.iter().copied());
    let out = output_within(cmd, WAIT);
    let _ = std::fs::remove_file(&path);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_policies_stop_the_start_naming_the_app_and_field_or_the_variable() {
    let app = |extra: Value| {
        let mut a = json!({"id": "shop", "key": "k", "secret": "s"});
        a.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        json!([a])
    };
    for (extra, field) in [
        (
            json!({"allowed_origins": ["https://ok.example", "https://exa mple.com"]}),
            "allowed_origins[1]",
        ),
        (
            json!({"allowed_origins": ["https://ok.example/app"]}),
            "allowed_origins[0]",
        ),
        (
            json!({"user_authentication_timeout": 0}),
            "user_authentication_timeout",
        ),
        (
            json!({"max_backend_events_per_second": 0}),
            "max_backend_events_per_second",
        ),
        (
            json!({"max_read_requests_per_second": 0}),
            "max_read_requests_per_second",
        ),
    ] {
        let (code, stderr) = start_refused(Some(app(extra.clone())), &[]);
        assert_eq!(code, Some(2), "{extra} must be refused: {stderr}");
        assert!(
            stderr.contains("app shop") && stderr.contains(field),
            "{stderr}"
        );
    }
    for (var, value) in [
        ("CORECAST_ALLOWED_ORIGINS", "https://ok.example,ftp://*"),
        ("CORECAST_USER_AUTHENTICATION_TIMEOUT", "0"),
        ("CORECAST_MAX_BACKEND_EVENTS_PER_SECOND", "0"),
        ("CORECAST_MAX_READ_REQUESTS_PER_SECOND", "lots"),
    ] {
        let (code, stderr) = start_refused(None, &[(var, value)]);
        assert_eq!(code, Some(2), "{var}={value} must be refused: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}
