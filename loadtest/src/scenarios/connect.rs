//! Connect scenario: open C connections as fast as the server accepts them, subscribe each,
//! hold them idle, and report handshake rate, latency, failures and server memory growth.

use crate::cli::ConnectArgs;
use crate::cpu::CpuSample;
use crate::limits::vm_rss_bytes;
use crate::net::{self, Incoming};
use crate::payload::now_us;
use crate::pusher;
use crate::report::Report;
use crate::scenarios::{self as sc, Ctx, Tally};
use crate::stats::LatencySink;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

struct Shared {
    handshake: Arc<LatencySink>,
    subscribe: Arc<LatencySink>,
    closed: Tally,
    last_ready_us: AtomicU64,
}

/// Server RSS growth per established connection.
pub fn rss_per_conn(before: Option<u64>, after: Option<u64>, established: u64) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if established > 0 => Some((a as f64 - b as f64) / established as f64),
        _ => None,
    }
}

pub async fn run(args: &ConnectArgs, ctx: &Ctx) -> Report {
    let c = args.connections;
    let k = args.channels.max(1);
    let shared = Arc::new(Shared {
        handshake: LatencySink::new(ctx.threads * 4),
        subscribe: LatencySink::new(ctx.threads * 4),
        closed: Tally::default(),
        last_ready_us: AtomicU64::new(0),
    });
    let rss_before = args.server_pid.and_then(vm_rss_bytes);
    let (stop_tx, stop_rx) = sc::stop_signal();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let cpu = CpuSample::now();
    let start_us = now_us();
    // Connecting is bounded by --duration; attempts already started may take connect_timeout.
    let spawn_deadline = Instant::now() + ctx.duration;
    let collect_deadline = spawn_deadline + ctx.connector.connect_timeout * 2;

    let spawner = {
        let (shared, connector, stop, ready) = (
            Arc::clone(&shared),
            Arc::clone(&ctx.connector),
            stop_rx.clone(),
            ready_tx.clone(),
        );
        sc::spawn_connections(
            c,
            ctx.concurrency,
            spawn_deadline,
            ready_tx,
            move |i, permit| {
                let (shared, connector, ready, mut stop) = (
                    Arc::clone(&shared),
                    Arc::clone(&connector),
                    ready.clone(),
                    stop.clone(),
                );
                async move {
                    let mut conn = match connector.open().await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready.send(Err(e.reason()));
                            return;
                        }
                    };
                    let now = now_us();
                    shared.handshake.record(i as usize, conn.handshake_us, now);
                    let channel = format!("loadtest-{}", i % k as u64);
                    let limit = connector.connect_timeout;
                    if let Err(e) = net::subscribe(&mut conn.ws, &channel, None, None, limit).await
                    {
                        let _ = ready.send(Err(e.reason()));
                        return;
                    }
                    let done = now_us();
                    shared
                        .subscribe
                        .record(i as usize, done.saturating_sub(now), done);
                    shared.last_ready_us.fetch_max(done, Ordering::Relaxed);
                    drop(permit);
                    let _ = ready.send(Ok(()));
                    let mut ws = conn.ws;
                    loop {
                        tokio::select! {
                            _ = sc::stopped(&mut stop) => break,
                            msg = ws.next() => match net::classify(msg) {
                                Incoming::Text(t) => {
                                    let is_ping =
                                        pusher::parse_frame(&t).is_ok_and(|f| f.event == pusher::PING);
                                    if is_ping {
                                        let _ = net::send_text(&mut ws, pusher::PONG.into()).await;
                                    }
                                }
                                Incoming::Closed(reason) => {
                                    shared.closed.add(reason, 1);
                                    return;
                                }
                                Incoming::Other => {}
                            },
                        }
                    }
                    net::close_quietly(&mut ws).await;
                }
            },
        )
    };
    let (ok, mut failures, pending) =
        sc::collect_ready(&mut ready_rx, c, collect_deadline, "connections", ctx.quiet).await;
    if pending > 0 {
        failures.insert("timeout_setup".into(), pending);
    }
    let usage = cpu.usage_since(ctx.threads);
    let last = shared.last_ready_us.load(Ordering::Relaxed);
    let phase_secs = last.saturating_sub(start_us) as f64 / 1e6;
    let handles = spawner.await.unwrap_or_default();

    let rss_after = match args.server_pid {
        Some(pid) => {
            // Let the server finish per-connection work before sampling.
            tokio::time::sleep(Duration::from_millis(500)).await;
            vm_rss_bytes(pid)
        }
        None => None,
    };
    let closed_before_hold = shared.closed.total();
    if args.hold > 0.0 {
        let shared2 = Arc::clone(&shared);
        let (hold_tx, hold_rx) = sc::stop_signal();
        sc::spawn_progress(ctx.quiet, hold_rx, move |_| {
            format!(
                "holding {} connections",
                ok.saturating_sub(shared2.closed.total())
            )
        });
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
        let _ = hold_tx.send(true);
    }
    let rss_after_hold = match args.server_pid {
        Some(pid) if args.hold > 0.0 => vm_rss_bytes(pid),
        _ => rss_after,
    };
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }

    let mut rep = Report::new("connect", usage, ctx.threads);
    rep.latency_label = "subscribe latency";
    rep.latency_us = shared.subscribe.summary();
    rep.closed_by_server = shared.closed.snapshot();
    rep.param("connections", c);
    rep.param("channels", k);
    rep.param("concurrency", ctx.concurrency as u64);
    rep.param("hold_secs", crate::report::number(args.hold));
    rep.param(
        "duration_secs",
        crate::report::number(ctx.duration.as_secs_f64()),
    );
    rep.param("server_pid", json!(args.server_pid));
    rep.result("connections_established", ok);
    rep.result(
        "connections_per_sec",
        (sc::per_sec(ok, phase_secs) * 10.0).round() / 10.0,
    );
    rep.result("connect_phase_secs", (phase_secs * 1000.0).round() / 1000.0);
    rep.result("handshake_us", json!(shared.handshake.summary()));
    rep.result("failures", json!(failures));
    rep.result(
        "closed_during_hold",
        shared.closed.total().saturating_sub(closed_before_hold),
    );
    rep.result("server_rss_before_bytes", json!(rss_before));
    rep.result("server_rss_after_bytes", json!(rss_after));
    rep.result("server_rss_after_hold_bytes", json!(rss_after_hold));
    let per_conn = rss_per_conn(rss_before, rss_after, ok).map(|v| v.round());
    rep.result(
        "server_rss_per_conn_bytes",
        per_conn.map_or(Value::Null, |v| json!(v as i64)),
    );
    if args.server_pid.is_some() && (rss_before.is_none() || rss_after.is_none()) {
        rep.warnings
            .push("could not read the server's VmRSS from /proc".into());
    }
    rep.ok = ok > 0;
    if ok < c {
        rep.warnings
            .push(format!("only {ok} of {c} connections were established"));
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_per_connection() {
        assert_eq!(rss_per_conn(Some(1000), Some(11_000), 100), Some(100.0));
        assert_eq!(rss_per_conn(Some(5000), Some(4000), 10), Some(-100.0));
        assert_eq!(rss_per_conn(None, Some(1), 1), None);
        assert_eq!(rss_per_conn(Some(1), Some(2), 0), None);
    }
}
