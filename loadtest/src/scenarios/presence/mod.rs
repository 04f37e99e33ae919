//! Presence scenario: users join and leave presence channels while observers check that every
//! join and leave arrives exactly once as member_added / member_removed, and how fast.

mod log;
mod tasks;

use crate::cli::PresenceArgs;
use crate::cpu::CpuSample;
use crate::payload::now_us;
use crate::report::Report;
use crate::scenarios::{self as sc, Ctx, Tally};
use crate::stats::LatencySink;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Pusher's default limit of distinct users per presence channel.
const MEMBER_LIMIT: u64 = 100;

/// Connections the scenario opens (for file-descriptor planning).
pub fn planned_connections(args: &PresenceArgs) -> u64 {
    args.users as u64 + args.channels.max(1) as u64 * args.observers as u64
}

pub async fn run(args: &PresenceArgs, ctx: &Ctx) -> Report {
    let k = args.channels.max(1);
    let shared = Arc::new(tasks::Shared {
        connectors: ctx.subscribers.clone(),
        ready_per_url: ctx.subscribers.iter().map(|_| AtomicU64::new(0)).collect(),
        log: log::PresenceLog::default(),
        sink: LatencySink::new(ctx.threads * 4),
        channels: k,
        dwell: Duration::from_millis(args.dwell_ms),
        pause: Duration::from_millis(args.pause_ms),
        leave: args.leave,
        deadline: OnceLock::new(),
        max_joins: args.max_joins,
        join_attempts: AtomicU64::new(0),
        joins: AtomicU64::new(0),
        leaves: AtomicU64::new(0),
        join_failures: Tally::default(),
        closed: Tally::default(),
        observed: AtomicU64::new(0),
        active_churners: AtomicU64::new(args.users as u64),
        observers_ready: (0..k).map(|_| AtomicU64::new(0)).collect(),
    });
    let (stop_tx, stop_rx) = sc::stop_signal();
    let (go_tx, go_rx) = sc::stop_signal();
    let setup_deadline = Instant::now() + ctx.setup_timeout;
    let mut connect_failures = std::collections::BTreeMap::new();

    // Observers first, so they see every join.
    let n_obs = k as u64 * args.observers as u64;
    let per = args.observers.max(1) as u64;
    let (otx, mut orx) = mpsc::unbounded_channel();
    let obs_spawner = {
        let (shared, stop, ready) = (Arc::clone(&shared), stop_rx.clone(), otx.clone());
        sc::spawn_connections(
            n_obs,
            ctx.concurrency,
            setup_deadline,
            otx,
            move |i, permit| {
                let (ch, o) = ((i / per) as u32, (i % per) as u32);
                tasks::observer(
                    i,
                    ch,
                    o,
                    Arc::clone(&shared),
                    permit,
                    ready.clone(),
                    stop.clone(),
                )
            },
        )
    };
    let (obs_ok, f, pending) =
        sc::collect_ready(&mut orx, n_obs, setup_deadline, "observers", ctx.quiet).await;
    sc::merge_counts(&mut connect_failures, f);
    *connect_failures.entry("setup_timeout".into()).or_insert(0) += pending;
    let observers = obs_spawner.await.unwrap_or_default();

    let (ctx_tx, mut crx) = mpsc::unbounded_channel();
    let churn_spawner = {
        let (shared, go, ready) = (Arc::clone(&shared), go_rx.clone(), ctx_tx.clone());
        sc::spawn_connections(
            args.users as u64,
            ctx.concurrency,
            setup_deadline,
            ctx_tx,
            move |n, permit| {
                tasks::churner(
                    n as u32,
                    Arc::clone(&shared),
                    permit,
                    ready.clone(),
                    go.clone(),
                )
            },
        )
    };
    let (users_ok, f, pending) = sc::collect_ready(
        &mut crx,
        args.users as u64,
        setup_deadline,
        "users",
        ctx.quiet,
    )
    .await;
    sc::merge_counts(&mut connect_failures, f);
    *connect_failures.entry("setup_timeout".into()).or_insert(0) += pending;
    connect_failures.retain(|_, v| *v > 0);
    let churners = churn_spawner.await.unwrap_or_default();
    // Churners that were never spawned will not decrement the counter themselves.
    let unspawned = args.users as u64 - churners.len() as u64;
    shared
        .active_churners
        .fetch_sub(unspawned, Ordering::Relaxed);

    // Measured phase.
    let cpu = CpuSample::now();
    let start_us = now_us();
    let deadline = Instant::now() + ctx.duration;
    let _ = shared.deadline.set(deadline);
    let _ = go_tx.send(true);
    {
        let shared = Arc::clone(&shared);
        let (mut last_j, mut last_o) = (0u64, 0u64);
        sc::spawn_progress(ctx.quiet, stop_rx.clone(), move |_| {
            let j = shared.joins.load(Ordering::Relaxed);
            let o = shared.observed.load(Ordering::Relaxed);
            let line = format!(
                "joins/s {:>6}  member events/s {:>7}",
                j - last_j,
                o - last_o
            );
            (last_j, last_o) = (j, o);
            line
        });
    }
    let churn_grace = shared.dwell + shared.pause + ctx.connector.connect_timeout * 3;
    let hard_stop = deadline + churn_grace;
    while shared.active_churners.load(Ordering::Relaxed) > 0 && Instant::now() < hard_stop {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_us = now_us();
    let expected: u64 = (0..k)
        .map(|ch| {
            shared.log.expected(ch) * shared.observers_ready[ch as usize].load(Ordering::Relaxed)
        })
        .sum();
    let shared2 = Arc::clone(&shared);
    sc::drain(
        move || shared2.observed.load(Ordering::Relaxed),
        Some(expected),
        Duration::from_secs_f64(args.drain),
    )
    .await;
    let usage = cpu.usage_since(ctx.threads);
    let _ = stop_tx.send(true);
    for h in churners {
        h.abort();
    }
    let results = sc::join_all(observers).await;

    let (mut missed, mut duplicated, mut unexpected, mut closed_obs) = (0u64, 0u64, 0u64, 0u64);
    for r in &results {
        duplicated += r.duplicated;
        unexpected += r.unexpected;
        if r.closed {
            closed_obs += 1;
        } else {
            missed += r.missed_inline + shared.log.unmatched(&r.cursor, r.channel);
        }
    }
    let received = shared.observed.load(Ordering::Relaxed);
    let joins = shared.joins.load(Ordering::Relaxed);
    let leaves = shared.leaves.load(Ordering::Relaxed);
    let window_us = shared.sink.last_us().max(end_us).saturating_sub(start_us);
    let churn_secs = end_us.saturating_sub(start_us) as f64 / 1e6;

    let mut rep = Report::new("presence", usage, ctx.threads);
    rep.latency_label = "join/leave→member event latency";
    rep.deliveries_per_sec = sc::per_sec(received, window_us as f64 / 1e6);
    rep.publishes_per_sec = sc::per_sec(joins + leaves, churn_secs);
    rep.latency_us = shared.sink.summary();
    rep.lost = missed;
    rep.closed_by_server = shared.closed.snapshot();
    rep.param("users", args.users);
    rep.param("channels", k);
    rep.param("observers_per_channel", args.observers);
    rep.param("dwell_ms", args.dwell_ms);
    rep.param("pause_ms", args.pause_ms);
    rep.param("leave", format!("{:?}", args.leave).to_ascii_lowercase());
    rep.param(
        "duration_secs",
        crate::report::number(ctx.duration.as_secs_f64()),
    );
    rep.result(
        "events_per_sec",
        (rep.deliveries_per_sec * 10.0).round() / 10.0,
    );
    rep.result("joins", joins);
    rep.result("leaves", leaves);
    rep.result("member_events_received", received);
    rep.result("expected_member_events", expected);
    rep.result("missed", missed);
    rep.result("duplicated", duplicated);
    rep.result("unexpected", unexpected);
    rep.result("join_failures", json!(shared.join_failures.snapshot()));
    rep.result("observers_ready", obs_ok);
    rep.result("users_ready", users_ok);
    rep.result("observers_closed", closed_obs);
    rep.result("connection_failures", json!(connect_failures));
    if ctx.urls.len() > 1 {
        // Observers and users over the URLs: round-robin, each kind counted from 0.
        let per_url: Vec<_> = ctx
            .urls
            .iter()
            .zip(&shared.ready_per_url)
            .map(|(url, n)| json!({"url": url, "connections_ready": n.load(Ordering::Relaxed)}))
            .collect();
        rep.result("per_url", json!(per_url));
    }
    rep.ok = obs_ok > 0 && users_ok > 0;
    let per_channel = (args.users as u64).div_ceil(k as u64) + args.observers as u64;
    if per_channel > MEMBER_LIMIT {
        rep.warnings.push(format!(
            "up to {per_channel} members per channel exceeds the usual limit of {MEMBER_LIMIT}; \
             expect LimitReached join failures"
        ));
    }
    if obs_ok < n_obs || users_ok < args.users as u64 {
        rep.warnings.push(format!(
            "only {obs_ok}/{n_obs} observers and {users_ok}/{} users were ready",
            args.users
        ));
    }
    rep
}
