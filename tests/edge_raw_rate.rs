//! The raw endpoint's per-connection message rate: by default high enough that an ordinary
//! burst (chat, game state) is relayed whole; per app in the apps file
//! (`raw_max_messages_per_second`), where a low limit still drops the excess and warns.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{json, Value};
use tungstenite::Message;

/// How long to wait for messages that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// Sends `n` messages in one write from `sender` and returns what `receiver` got.
fn relay_burst(sender: &mut common::Ws, receiver: &mut common::Ws, n: usize) -> Vec<String> {
    let burst: Vec<Value> = (0..n).map(|i| json!({"seq": i})).collect();
    sender.send_burst(&burst);
    let mut got = Vec::new();
    while let Some(Message::Text(t)) = receiver.recv_within(QUIET) {
        got.push(t.as_str().to_string());
    }
    got
}

#[test]
fn a_burst_of_two_hundred_messages_reaches_the_other_member_whole() {
    let server = Server::start(&[]);
    let mut sender = server.raw("room", "");
    let mut receiver = server.raw("room", "");
    let got = relay_burst(&mut sender, &mut receiver, 200);
    let want: Vec<String> = (0..200).map(|i| json!({"seq": i}).to_string()).collect();
    assert_eq!(got.len(), 200, "messages lost: got {}", got.len());
    assert_eq!(got, want);
    // No rate-limit warning either.
    sender.assert_silent(QUIET);
}

#[test]
fn an_app_with_a_low_raw_rate_still_limits_and_warns() {
    let server = Server::with_apps(
        json!([
            {"id": "slow", "key": "slow-key", "secret": "s1", "raw_max_messages_per_second": 3},
            {"id": "fast", "key": "fast-key", "secret": "s2"}
        ]),
        &[],
    );
    let mut sender = server.ws("/v3/room?api_key=slow-key");
    let mut receiver = server.ws("/v3/room?api_key=slow-key");
    let got = relay_burst(&mut sender, &mut receiver, 10);
    assert!(
        (3..=4).contains(&got.len()),
        "3 messages (one refill at most) pass: {got:?}"
    );
    assert_eq!(sender.recv_text(), r#"{"error":"Rate limit exceeded"}"#);
    // The other app keeps the server default.
    let mut sender = server.ws("/v3/room?api_key=fast-key");
    let mut receiver = server.ws("/v3/room?api_key=fast-key");
    assert_eq!(relay_burst(&mut sender, &mut receiver, 200).len(), 200);
}

#[test]
fn the_server_default_comes_from_the_environment() {
    let server = Server::start(&[("CORECAST_RAW_MAX_MESSAGES_PER_SECOND", "5")]);
    let mut sender = server.raw("room", "");
    let mut receiver = server.raw("room", "");
    let got = relay_burst(&mut sender, &mut receiver, 20);
    assert!((5..=6).contains(&got.len()), "{got:?}");
    assert_eq!(sender.recv_text(), r#"{"error":"Rate limit exceeded"}"#);
}
