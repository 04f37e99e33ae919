//! How webhooks travel: batching within the window (and one event per POST with 0), retries
//! of the same signed body and id after failures, a black-holed receiver that does not slow
//! the fan-out, the flush at SIGTERM, the delivery metrics, and refused configurations.

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use common::{corecast_command, output_within, LoggingServer, Server, Ws, APP_KEY, APP_SECRET};
use receiver::Receiver;
use serde_json::json;

fn server(rx: &Receiver, batch_ms: &str, extra: &[(&str, &str)]) -> Server {
    let url = rx.url();
    let mut envs = vec![
        ("CORECAST_WEBHOOK_URL", url.as_str()),
        ("CORECAST_WEBHOOK_EVENTS", "channel_occupied,client_event"),
        ("CORECAST_WEBHOOK_BATCH_MS", batch_ms),
    ];
    envs.extend_from_slice(extra);
    Server::start(&envs)
}

fn occupy(s: &Server, channels: usize) -> Ws {
    let mut ws = s.connect();
    for i in 0..channels {
        ws.subscribe_ok(&format!("ch-{i}"));
    }
    ws
}

#[test]
fn events_within_the_window_share_a_post() {
    let rx = Receiver::start();
    let s = server(&rx, "1000", &[]);
    let started = Instant::now();
    let _ws = occupy(&s, 5);
    rx.wait_events(APP_KEY, APP_SECRET, Duration::from_secs(10), |e| {
        e.len() >= 5
    });
    let requests = rx.requests();
    assert!(
        requests.len() < 5,
        "{} POSTs for 5 events within the window",
        requests.len()
    );
    assert!(requests.iter().any(|r| r.events().len() >= 2));
    // The batch was held for its window, not sent at once.
    assert!(requests[0].at.duration_since(started) >= Duration::from_millis(900));
    let time_ms = requests[0].json()["time_ms"].as_u64().expect("time_ms");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(time_ms <= now_ms && now_ms - time_ms < 60_000, "{time_ms}");
}

#[test]
fn a_zero_window_sends_one_event_per_post() {
    let rx = Receiver::start();
    let s = server(&rx, "0", &[]);
    let _ws = occupy(&s, 5);
    let requests = rx.wait_requests(5, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 5);
    for r in &requests {
        r.assert_signed(APP_KEY, APP_SECRET);
        assert_eq!(r.events().len(), 1, "{:?}", r.json());
    }
    let ids: std::collections::HashSet<_> = requests
        .iter()
        .map(|r| r.header("x-corecast-webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "every POST has its own id");
}

#[test]
fn failures_are_retried_with_the_same_body_and_id() {
    let rx = Receiver::scripted(&[500, 500, 500]);
    let s = server(&rx, "0", &[]);
    let _ws = occupy(&s, 1);
    let requests = rx.wait_requests(4, Duration::from_secs(20));
    for r in &requests {
        r.assert_signed(APP_KEY, APP_SECRET);
        assert_eq!(r.body, requests[0].body);
        assert_eq!(
            r.header("x-corecast-webhook-id"),
            requests[0].header("x-corecast-webhook-id")
        );
    }
    // Back-off: 1 s, 2 s, 4 s (generous lower bounds).
    for (i, min_ms) in [(1, 900), (2, 1800), (3, 3600)] {
        let gap = requests[i].at.duration_since(requests[i - 1].at);
        assert!(gap >= Duration::from_millis(min_ms), "gap {i}: {gap:?}");
    }
    s.wait_metric("corecast_webhooks_sent_total", 1);
    assert_eq!(s.metric("corecast_webhook_failed_attempts_total"), Some(3));
    assert_eq!(s.metric("corecast_webhook_retries_total"), Some(3));
    assert_eq!(s.metric("corecast_webhook_events_sent_total"), Some(1));
    assert_eq!(s.metric("corecast_webhook_queue_depth"), Some(0));
    assert_eq!(s.metric("corecast_webhook_delivery_seconds_count"), Some(1));
    assert_eq!(
        s.metric("corecast_webhook_dropped_total{reason=\"expired\"}"),
        Some(0)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 4, "delivered once answered 200");
}

/// Time for `events` client events from one subscriber to reach the other `n - 1` subscribers.
fn fan_out_time(s: &Server, n: usize, events: usize) -> Duration {
    let app = s.app.clone();
    let mut subs: Vec<Ws> = (0..n)
        .map(|_| {
            let mut ws = s.connect();
            ws.subscribe_private(&app, "private-fan");
            ws
        })
        .collect();
    let mut sender = subs.pop().expect("a sender");
    let started = Instant::now();
    for i in 0..events {
        sender.send_json(&json!({"event": "client-x", "channel": "private-fan", "data": {"i": i}}));
    }
    for ws in &mut subs {
        for _ in 0..events {
            ws.expect_event("client-x", "private-fan");
        }
    }
    started.elapsed()
}

#[test]
fn a_black_holed_receiver_does_not_slow_the_fan_out() {
    let client = [
        ("CORECAST_ENABLE_CLIENT_MESSAGES", "true"),
        ("CORECAST_MAX_CLIENT_EVENTS_PER_SECOND", "1000"),
    ];
    let plain = {
        let s = Server::start(&client);
        fan_out_time(&s, 1000, 10)
    };
    let hole = Receiver::black_hole();
    let s = server(&hole, "0", &client);
    let with_hole = fan_out_time(&s, 1000, 10);
    eprintln!(
        "fan-out of 10 events to 999: {plain:?} without webhooks, {with_hole:?} with a black hole"
    );
    // The sender is stuck on the first POST (10 s timeout) while the fan-out went on.
    hole.wait_requests(1, Duration::from_secs(5));
    assert!(
        with_hole <= plain * 5 + Duration::from_secs(2),
        "fan-out took {with_hole:?} with a black-holed receiver, {plain:?} without"
    );
    let queued = s.metric("corecast_webhook_queue_depth").unwrap_or(0);
    assert!(
        queued >= 10,
        "events should wait behind the stuck POST: {queued}"
    );
}

#[test]
fn a_full_backlog_drops_the_oldest_waiting_posts_and_counts_them() {
    let hole = Receiver::black_hole();
    let s = server(&hole, "0", &[("CORECAST_WEBHOOK_QUEUE", "1")]);
    let _ws = occupy(&s, 5);
    hole.wait_requests(1, Duration::from_secs(5));
    // One POST in flight (stuck) and at most one waiting; the others were dropped, by the
    // shards (the queue to the sender holds one event too) or as the oldest waiting POST.
    let dropped = |reason: &str| {
        s.metric(&format!(
            "corecast_webhook_dropped_total{{reason=\"{reason}\"}}"
        ))
        .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let depth = s.metric("corecast_webhook_queue_depth").unwrap_or(0);
        let lost = dropped("queue_full") + dropped("backlog_full");
        if lost + depth == 5 && depth <= 2 && lost >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "dropped {lost}, waiting {depth}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.output().contains("webhook events dropped") {
        assert!(Instant::now() < deadline, "no log line: {}", s.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_flushes_the_open_batch() {
    let rx = Receiver::start();
    let url = rx.url();
    let s = LoggingServer::start(&[
        ("CORECAST_WEBHOOK_URL", &url),
        (
            "CORECAST_WEBHOOK_EVENTS",
            "channel_occupied,channel_vacated",
        ),
        ("CORECAST_WEBHOOK_BATCH_MS", "60000"),
        ("CORECAST_LOG", "warn"),
    ]);
    let mut ws = Ws::open(s.addr, &Server::pusher_path(APP_KEY)).expect("upgrade");
    ws.established();
    ws.subscribe_ok("held");
    std::thread::sleep(Duration::from_millis(300));
    assert!(rx.requests().is_empty(), "the 60 s window was not held");
    let stopped = Instant::now();
    let lines = s.terminate();
    assert!(stopped.elapsed() < Duration::from_secs(8), "{lines:#?}");
    let events = rx.events(APP_KEY, APP_SECRET);
    assert_eq!(
        events.first(),
        Some(&json!({"name": "channel_occupied", "channel": "held"})),
        "{events:#?}"
    );
}

#[test]
fn bad_webhook_settings_are_refused_at_start() {
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = corecast_command();
        cmd.env("CORECAST_HOST", "127.0.0.1")
            .env("CORECAST_PORT", "0");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = output_within(cmd, Duration::from_secs(10));
        assert!(!out.status.success(), "started with {envs:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[("CORECAST_WEBHOOK_URL", "ftp://example.com/x")]);
    assert!(
        err.contains("CORECAST_WEBHOOK_URL=\"ftp://example.com/x\" must start with http"),
        "{err}"
    );
    let err = run(&[
        ("CORECAST_WEBHOOK_URL", "http://127.0.0.1:9/"),
        (
            "CORECAST_WEBHOOK_EVENTS",
            "channel_occupied,channel_existence",
        ),
    ]);
    assert!(
        err.contains("CORECAST_WEBHOOK_EVENTS") && err.contains("channel_existence"),
        "{err}"
    );
    let path =
        std::env::temp_dir().join(format!("corecast-webhook-apps-{}.json", std::process::id()));
    let apps = json!([{"id": "shop", "key": "k", "secret": "s",
        "webhooks": [{"url": "http://127.0.0.1:9/", "event_types": ["member_added", "bogus"]}]}]);
    std::fs::write(&path, apps.to_string()).expect("write apps file");
    let err = run(&[("CORECAST_APPS_FILE", path.to_str().unwrap())]);
    let _ = std::fs::remove_file(&path);
    assert!(
        err.contains("app shop") && err.contains("webhooks[0].event_types[1] \"bogus\""),
        "{err}"
    );
}
