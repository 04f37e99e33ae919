use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use super::{Dispatch, Outcome};
use crate::config::{Config, Settings};
use crate::webhooks::{Event, WebhookStats};

fn config(batch_ms: &str, events: &str) -> Config {
    let settings = Settings::try_parse_from([
        "corecast",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--webhook-events",
        events,
        "--webhook-batch-ms",
        batch_ms,
    ])
    .unwrap();
    Config::from_settings(settings).unwrap()
}

fn occupied(n: usize) -> Event {
    Event::ChannelOccupied {
        channel: format!("c{n}"),
    }
}

fn dispatch(batch_ms: &str, limit: usize) -> (Dispatch, Arc<WebhookStats>) {
    let stats = Arc::new(WebhookStats::default());
    let c = config(batch_ms, "channel_occupied");
    (
        Dispatch::new(&c.apps, "nk.1".into(), limit, Arc::clone(&stats)),
        stats,
    )
}

#[test]
fn events_of_one_window_share_a_post_and_unwanted_ones_are_skipped() {
    let (mut d, stats) = dispatch("50", 100);
    let t0 = Instant::now();
    d.record(0, &occupied(1), t0, 1000);
    d.record(
        0,
        &Event::CacheMiss {
            channel: "x".into(),
        },
        t0,
        1000,
    );
    d.record(0, &occupied(2), t0, 1000);
    assert!(d.poll(t0).is_empty());
    assert_eq!(d.next_wakeup(), Some(t0 + Duration::from_millis(50)));
    let jobs = d.poll(t0 + Duration::from_millis(50));
    assert_eq!(jobs.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&jobs[0].body).unwrap();
    assert_eq!(body["time_ms"], 1000);
    assert_eq!(body["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(&*jobs[0].id, "nk.1-1");
    assert_eq!(
        &*jobs[0].signature,
        crate::auth::hmac_sha256_hex(b"app-secret", &jobs[0].body)
    );
    assert_eq!(jobs[0].info.key, "app-key");
    assert_eq!(d.pending(), 2);
    d.outcome(0, &Outcome::Delivered, t0 + Duration::from_millis(60));
    assert_eq!(d.pending(), 0);
    assert_eq!(stats.posts_sent.load(Ordering::Relaxed), 1);
    assert_eq!(stats.events_sent.load(Ordering::Relaxed), 2);
}

#[test]
fn one_post_in_flight_and_retries_keep_body_and_id() {
    let (mut d, stats) = dispatch("0", 100);
    let t0 = Instant::now();
    d.record(0, &occupied(1), t0, 1);
    d.record(0, &occupied(2), t0, 1);
    let first = d.poll(t0);
    assert_eq!(first.len(), 1, "one request in flight per URL");
    assert!(d.poll(t0).is_empty());
    d.outcome(0, &Outcome::Failed("500".into()), t0);
    assert!(d.poll(t0 + Duration::from_millis(999)).is_empty());
    assert_eq!(d.next_wakeup(), Some(t0 + Duration::from_secs(1)));
    let again = d.poll(t0 + Duration::from_secs(1));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].body, first[0].body);
    assert_eq!(again[0].signature, first[0].signature);
    let t1 = t0 + Duration::from_secs(1);
    d.outcome(0, &Outcome::Failed("timeout".into()), t1);
    assert!(d.poll(t1 + Duration::from_millis(1999)).is_empty());
    let third = d.poll(t1 + Duration::from_secs(2));
    assert_eq!(third[0].id, first[0].id);
    d.outcome(0, &Outcome::Delivered, t1 + Duration::from_secs(2));
    let next = d.poll(t1 + Duration::from_secs(2));
    assert_eq!(&*next[0].id, "nk.1-2");
    assert_eq!(stats.failed_attempts.load(Ordering::Relaxed), 2);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2);
}

#[test]
fn retries_stop_after_five_minutes() {
    let (mut d, stats) = dispatch("0", 100);
    let mut now = Instant::now();
    d.record(0, &occupied(1), now, 1);
    let mut attempts = 0;
    while d.pending() > 0 {
        let jobs = d.poll(now);
        if !jobs.is_empty() {
            attempts += 1;
            d.outcome(0, &Outcome::Failed("down".into()), now);
        }
        now = d.next_wakeup().unwrap_or(now);
    }
    // 1+2+4+8+16+32+60+60+60 = 243 s of waits; the next 60 s wait would pass 300 s.
    assert_eq!(attempts, 10);
    assert_eq!(
        stats.dropped(crate::webhooks::stats::DropReason::Expired),
        1
    );
}

#[test]
fn a_full_backlog_drops_its_oldest_waiting_post() {
    let (mut d, stats) = dispatch("0", 2);
    let t0 = Instant::now();
    d.record(0, &occupied(1), t0, 1);
    let inflight = d.poll(t0);
    for n in 2..=4 {
        d.record(0, &occupied(n), t0, 1);
    }
    assert_eq!(
        stats.dropped(crate::webhooks::stats::DropReason::BacklogFull),
        2
    );
    d.outcome(0, &Outcome::Delivered, t0);
    let next = d.poll(t0);
    assert_ne!(next[0].id, inflight[0].id);
    let body = String::from_utf8(next[0].body.to_vec()).unwrap();
    assert!(body.contains("\"c4\""), "{body}");
    d.close_batches();
    assert_eq!(d.take_unlogged_drops(), 2);
}
