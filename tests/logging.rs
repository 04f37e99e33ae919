//! Log output: `CORECAST_LOG_FORMAT=json` writes one JSON object per stderr line, connection-level
//! events are at debug level, and nothing is logged per message or per connection at info.

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::{corecast_command, output_within, read_response, App, LoggingServer, Rest, Ws, WAIT};
use serde_json::{json, Value};

/// Traffic of every kind: a WebSocket that subscribes and receives REST-published events, a
/// refused WebSocket handshake, and a clean close.
fn traffic(server: &LoggingServer) {
    let path = "/app/app-key?protocol=7&client=js&version=8.4.0&flash=false";
    let mut ws = Ws::open(server.addr, path).expect("upgrade");
    ws.established();
    ws.subscribe_ok("logs");
    let mut rest = Rest::new(server.addr, App::default_app());
    for i in 0..5 {
        rest.trigger(json!({"name": "tick", "channel": "logs", "data": i.to_string()}));
        ws.expect_event("tick", "logs");
    }
    // An upgrade without Sec-WebSocket-Key: refused with 400, logged at debug.
    let mut raw = TcpStream::connect(server.addr).expect("connect");
    raw.set_read_timeout(Some(WAIT)).expect("timeout");
    raw.write_all(
        b"GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("write");
    assert_eq!(read_response(&mut raw, &mut Vec::new()).status, 400);
    ws.close();
}

fn parse_all(lines: &[String]) -> Vec<Value> {
    assert!(!lines.is_empty(), "no log lines at all");
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"));
            for key in ["timestamp", "level", "target", "message"] {
                assert!(v.get(key).is_some(), "no {key:?} in {l}");
            }
            v
        })
        .collect()
}

#[test]
fn json_logs_are_one_object_per_line_with_connection_events_at_debug() {
    let server =
        LoggingServer::start(&[("CORECAST_LOG_FORMAT", "json"), ("CORECAST_LOG", "debug")]);
    traffic(&server);
    server.wait_for_stderr("handshake refused");
    let logs = parse_all(&server.terminate());
    let refused = logs
        .iter()
        .find(|v| v["message"] == "websocket handshake refused")
        .expect("the refused handshake is logged");
    assert_eq!(refused["level"], "DEBUG", "{refused}");
    assert!(refused["error"].is_string(), "fields are kept: {refused}");
    let stop = logs.last().expect("a last line");
    assert_eq!(stop["level"], "INFO", "{stop}");
    assert!(
        stop["message"].as_str().unwrap_or("").contains("SIGTERM"),
        "{stop}"
    );
}

#[test]
fn nothing_is_logged_per_connection_or_message_at_info() {
    let server = LoggingServer::start(&[("CORECAST_LOG_FORMAT", "json"), ("CORECAST_LOG", "info")]);
    traffic(&server);
    let logs = parse_all(&server.terminate());
    // Only the stop notice.
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert!(logs[0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("SIGTERM"));
}

#[test]
fn text_stays_the_default_and_a_bad_format_is_refused_naming_the_variable() {
    let server = LoggingServer::start(&[("CORECAST_LOG", "info")]);
    let lines = server.terminate();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("corecast: SIGTERM"), "{lines:?}");
    let mut cmd = corecast_command();
    cmd.env("CORECAST_LOG_FORMAT", "xml");
    let out = output_within(cmd, WAIT);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CORECAST_LOG_FORMAT"), "{stderr}");
}

#[test]
fn a_refused_start_is_logged_as_json_too() {
    // A configuration error, then a TLS error: each stops the start with one JSON line.
    for (var, value, expected) in [
        ("CORECAST_PLAIN_PORT", "6001", "CORECAST_PLAIN_PORT=6001"),
        (
            "CORECAST_TLS_CERT",
            "cert.pem",
            "CORECAST_TLS_CERT is set but CORECAST_TLS_KEY is not",
        ),
    ] {
        let mut cmd = corecast_command();
        cmd.env("CORECAST_LOG_FORMAT", "json")
            .env("CORECAST_PORT", "6001")
            .env(var, value);
        let out = output_within(cmd, WAIT);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
        let logs = parse_all(&lines);
        assert_eq!(logs.len(), 1, "{var}: {stderr}");
        assert_eq!(logs[0]["level"], "ERROR", "{var}: {stderr}");
        let message = logs[0]["message"].as_str().unwrap_or("");
        assert!(message.contains(expected), "{var}: {stderr}");
    }
}
