//! Fanout scenario: C subscribers over K channels, publishers at a fixed rate or flat out;
//! reports delivery throughput, publish→receive latency, loss and ordering.

mod accounting;
mod publisher;
mod receiver;

use crate::cli::{FanoutArgs, PublishMode, Rate};
use crate::cpu::CpuSample;
use crate::payload::now_us;
use crate::plot::{self, PlotData};
use crate::report::{self, Report};
use crate::scenarios::{self as sc, Ctx, Tally};
use crate::stats::{timeline, LatencySink, LatencySummary};
use publisher::{PubResult, PubShared};
use receiver::{ReceiverResult, RecvShared};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Client-mode publishers needed for `rate` at the default 10 client events/s per connection.
pub fn default_publishers(rate: Rate, channels: u32) -> u32 {
    let by_rate = match rate {
        // Stay below the limit: 8 events/s per publisher.
        Rate::PerSec(r) => (r / 8.0).ceil() as u32,
        Rate::Max => 0,
    };
    by_rate.max(channels).max(1)
}

/// REST publisher connections: `--inflight` requests spread `--pipeline` per connection.
pub fn rest_connections(args: &FanoutArgs) -> u32 {
    let depth = args.pipeline.max(1) as usize;
    args.inflight.max(1).div_ceil(depth) as u32
}

/// Connections the scenario opens (for file-descriptor planning).
pub fn planned_connections(args: &FanoutArgs) -> u64 {
    let publishers = match args.publish {
        PublishMode::Rest => rest_connections(args) as u64,
        PublishMode::Client => {
            args.publishers
                .unwrap_or_else(|| default_publishers(args.rate, args.channels)) as u64
        }
    };
    args.connections + publishers
}

pub async fn run(args: &FanoutArgs, ctx: &Ctx) -> Report {
    let private = args.publish == PublishMode::Client;
    let k = args.channels.max(1);
    let c = args.connections;
    let (stop_tx, stop_rx) = sc::stop_signal();
    let (go_tx, go_rx) = sc::stop_signal();
    let setup_deadline = Instant::now() + ctx.setup_timeout;

    // Subscribers.
    let n_urls = ctx.subscribers.len();
    let recv = Arc::new(RecvShared {
        connectors: ctx.subscribers.clone(),
        sink: LatencySink::new(ctx.threads * 4),
        url_sinks: if n_urls > 1 {
            (0..n_urls)
                .map(|_| LatencySink::new(ctx.threads * 4))
                .collect()
        } else {
            Vec::new()
        },
        closed: Tally::default(),
        private,
    });
    let counters: Arc<Vec<Arc<AtomicU64>>> =
        Arc::new((0..c).map(|_| Arc::new(AtomicU64::new(0))).collect());
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let spawner = {
        let (recv, counters, ready, stop, go) = (
            Arc::clone(&recv),
            Arc::clone(&counters),
            ready_tx.clone(),
            stop_rx.clone(),
            go_rx.clone(),
        );
        sc::spawn_connections(
            c,
            ctx.concurrency,
            setup_deadline,
            ready_tx,
            move |i, permit| {
                let (recv, counter, ready, stop, go) = (
                    Arc::clone(&recv),
                    Arc::clone(&counters[i as usize]),
                    ready.clone(),
                    stop.clone(),
                    go.clone(),
                );
                receiver::run(
                    i,
                    (i % k as u64) as u32,
                    sc::spread::url_index(i, k, n_urls),
                    recv,
                    permit,
                    ready,
                    counter,
                    go,
                    stop,
                )
            },
        )
    };
    let (mut connect_failures, mut ok) = (BTreeMap::new(), 0);
    let (o, f, pending) =
        sc::collect_ready(&mut ready_rx, c, setup_deadline, "subscribers", ctx.quiet).await;
    ok += o;
    sc::merge_counts(&mut connect_failures, f);
    if pending > 0 {
        *connect_failures.entry("setup_timeout".into()).or_insert(0) += pending;
    }
    let receivers = spawner.await.unwrap_or_default();

    // Publishers.
    let publishers = match args.publish {
        PublishMode::Rest => rest_connections(args),
        PublishMode::Client => args
            .publishers
            .unwrap_or_else(|| default_publishers(args.rate, k)),
    };
    let shared = Arc::new(PubShared {
        connector: Arc::clone(&ctx.connector),
        app_id: ctx.app_id.clone(),
        channels: k,
        payload: args.payload,
        deadline: std::sync::OnceLock::new(),
        max_publishes: args.max_publishes,
        attempts: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        active: AtomicU64::new(publishers as u64),
        tokens: match (args.publish, args.rate) {
            (PublishMode::Rest, Rate::PerSec(_)) => Some(Arc::new(Semaphore::new(0))),
            _ => None,
        },
        pipeline: args.pipeline.max(1) as usize,
        rtt: LatencySink::new(4),
        closed: Tally::default(),
    });
    let mut pub_handles = Vec::new();
    let mut publisher_failures = BTreeMap::new();
    if private {
        let (ptx, mut prx) = mpsc::unbounded_channel();
        let rate = match args.rate {
            Rate::PerSec(r) => Some(r / publishers as f64),
            Rate::Max => None,
        };
        for p in 0..publishers {
            pub_handles.push(tokio::spawn(publisher::client_publisher(
                p,
                p % k,
                rate,
                Arc::clone(&shared),
                ptx.clone(),
                go_rx.clone(),
                stop_rx.clone(),
            )));
        }
        let (_, f, pending) = sc::collect_ready(
            &mut prx,
            publishers as u64,
            setup_deadline,
            "publishers",
            ctx.quiet,
        )
        .await;
        sc::merge_counts(&mut publisher_failures, f);
        if pending > 0 {
            *publisher_failures
                .entry("setup_timeout".into())
                .or_insert(0) += pending;
        }
    }

    // Measured phase.
    let cpu = CpuSample::now();
    let start_us = now_us();
    // Without subscribers there is nothing to measure: skip publishing.
    let duration = if ok == 0 {
        Duration::ZERO
    } else {
        ctx.duration
    };
    let deadline = Instant::now() + duration;
    let _ = shared.deadline.set(deadline);
    let _ = go_tx.send(true);
    let feeder = match (&shared.tokens, args.rate) {
        (Some(sem), Rate::PerSec(r)) => Some(tokio::spawn(publisher::feed_tokens(
            Arc::clone(sem),
            r,
            publishers as usize,
            deadline,
        ))),
        _ => None,
    };
    if !private {
        for p in 0..publishers {
            pub_handles.push(tokio::spawn(publisher::rest_publisher(
                p,
                Arc::clone(&shared),
            )));
        }
    }
    let sampler = {
        let counters = Arc::clone(&counters);
        timeline::spawn_sampler(move || sc::sum(&counters), stop_rx.clone())
    };
    {
        let (counters, shared) = (Arc::clone(&counters), Arc::clone(&shared));
        let (mut last_d, mut last_p) = (0u64, 0u64);
        sc::spawn_progress(ctx.quiet, stop_rx.clone(), move |_| {
            let d = sc::sum(&counters);
            let p = shared.accepted.load(Ordering::Relaxed);
            let line = format!(
                "deliveries/s {:>9}  publishes/s {:>7}",
                d - last_d,
                p - last_p
            );
            (last_d, last_p) = (d, p);
            line
        });
    }
    let hard_stop = deadline + Duration::from_secs(6);
    while shared.active.load(Ordering::Relaxed) > 0 && Instant::now() < hard_stop {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end_us = now_us();
    let dropped = match feeder {
        Some(h) => h.await.unwrap_or(0),
        None => 0,
    };

    // REST publishers are finished now; client publishers finish after the stop signal.
    let mut results: Vec<(PubResult, u64)> = Vec::new();
    if !private {
        for h in pub_handles.drain(..) {
            if let Ok(r) = h.await {
                results.push(r);
            }
        }
    }
    let drain_start = Instant::now();
    let target = (!private).then(|| {
        let pubs: Vec<&PubResult> = results.iter().map(|(r, _)| r).collect();
        accounting::expected_deliveries(&pubs, &accounting::receiver_counts(c, k))
    });
    sc::drain(
        || sc::sum(&counters),
        target,
        Duration::from_secs_f64(args.drain),
    )
    .await;
    let drain_secs = drain_start.elapsed().as_secs_f64();
    let usage = cpu.usage_since(ctx.threads);
    let _ = stop_tx.send(true);
    for h in pub_handles {
        if let Ok(r) = h.await {
            results.push(r);
        }
    }
    let recv_results: Vec<ReceiverResult> = sc::join_all(receivers).await;
    let samples = sampler.await.unwrap_or_default();

    // Accounting.
    let pubs: Vec<&PubResult> = results.iter().map(|(r, _)| r).collect();
    let t = accounting::account(&recv_results, &pubs);
    let accepted = accounting::accepted(&pubs);
    let mut publish_failures = publisher_failures;
    let mut http_conns = 0;
    for (r, conns) in &results {
        http_conns += conns;
        sc::merge_counts(&mut publish_failures, r.failures.clone());
    }
    let window_us = recv.sink.last_us().max(end_us).saturating_sub(start_us);

    let mut rep = Report::new("fanout", usage, ctx.threads);
    rep.latency_label = "publish→receive latency";
    rep.deliveries_per_sec = sc::per_sec(t.deliveries, window_us as f64 / 1e6);
    rep.publishes_per_sec = sc::per_sec(accepted, end_us.saturating_sub(start_us) as f64 / 1e6);
    let latency = recv.sink.merged();
    rep.latency_us = LatencySummary::from_histogram(&latency);
    rep.plot = Some(PlotData {
        latency_percentiles_us: plot::percentile_curve(&latency),
        deliveries_per_sec: timeline::rates(&samples),
    });
    rep.lost = t.lost;
    rep.out_of_order = t.out_of_order;
    rep.closed_by_server = recv.closed.snapshot();
    sc::merge_counts(&mut rep.closed_by_server, shared.closed.snapshot());
    rep.param("connections", c);
    rep.param("channels", k);
    rep.param(
        "rate",
        match args.rate {
            Rate::PerSec(r) => report::number(r),
            Rate::Max => json!("max"),
        },
    );
    rep.param("payload_bytes", args.payload as u64);
    rep.param("publish", if private { "client" } else { "rest" });
    rep.param("publishers", publishers);
    rep.param(
        "inflight",
        if private {
            json!(null)
        } else {
            json!(publishers as u64 * args.pipeline as u64)
        },
    );
    rep.param(
        "pipeline",
        if private {
            json!(null)
        } else {
            json!(args.pipeline)
        },
    );
    rep.param("duration_secs", report::number(ctx.duration.as_secs_f64()));
    rep.result("connections_established", ok);
    rep.result("connection_failures", json!(connect_failures));
    rep.result("publishes", accepted);
    rep.result("publish_failures", json!(publish_failures));
    rep.result("publish_dropped", dropped);
    rep.result("deliveries", t.deliveries);
    rep.result("expected_deliveries", t.expected);
    rep.result("unique_deliveries", t.unique);
    rep.result("duplicates", t.duplicates);
    rep.result("receivers_closed", t.closed_receivers);
    if !private {
        rep.result("publish_rtt_us", json!(shared.rtt.summary()));
        rep.result("http_connections_opened", http_conns);
    }
    rep.result("drain_secs", (drain_secs * 10.0).round() / 10.0);
    if n_urls > 1 {
        rep.result(
            "per_url",
            per_url(
                &ctx.urls,
                c,
                k,
                &recv_results,
                &pubs,
                window_us,
                &recv.url_sinks,
            ),
        );
    }
    warnings(
        &mut rep,
        ok,
        c,
        dropped,
        &publish_failures,
        recv_results.len() as u64,
    );
    if t.closed_receivers > 0 {
        rep.warnings.push(format!(
            "the server closed {} subscribers (codes in closed_by_server; e.g. 4100 = slow \
             consumer); their missing events are not counted as lost",
            t.closed_receivers
        ));
    }
    rep.ok = !recv_results.is_empty();
    rep
}

/// Subscribers and their deliveries, loss and order by `--url` (several URLs only): a node
/// that loses, duplicates or reorders what another node received shows here.
fn per_url(
    urls: &[String],
    c: u64,
    k: u32,
    receivers: &[ReceiverResult],
    pubs: &[&PubResult],
    window_us: u64,
    sinks: &[Arc<LatencySink>],
) -> serde_json::Value {
    let planned = sc::spread::counts(c, k, urls.len());
    let rows: Vec<serde_json::Value> = urls
        .iter()
        .enumerate()
        .map(|(u, url)| {
            let mine: Vec<&ReceiverResult> = receivers.iter().filter(|r| r.url == u).collect();
            let t = accounting::account(mine.iter().copied(), pubs);
            json!({
                "url": url,
                "planned_subscribers": planned.get(u).copied().unwrap_or(0),
                "subscribers": mine.len(),
                "deliveries": t.deliveries,
                "deliveries_per_sec": report::number(
                    (sc::per_sec(t.deliveries, window_us as f64 / 1e6) * 10.0).round() / 10.0
                ),
                "expected_deliveries": t.expected,
                "lost": t.lost,
                "duplicates": t.duplicates,
                "out_of_order": t.out_of_order,
                "receivers_closed": t.closed_receivers,
                "latency_us": sinks.get(u).map(|s| s.summary()),
            })
        })
        .collect();
    json!(rows)
}

fn warnings(
    rep: &mut Report,
    ok: u64,
    c: u64,
    dropped: u64,
    pf: &BTreeMap<String, u64>,
    live: u64,
) {
    if ok < c {
        rep.warnings.push(format!(
            "only {ok} of {c} subscribers were ready ({live} measured)"
        ));
    }
    if dropped > 0 {
        rep.warnings.push(format!(
            "{dropped} scheduled publishes were dropped: the open-loop rate was not sustained"
        ));
    }
    let failed: u64 = pf.values().sum();
    if failed > 0 {
        rep.warnings.push(format!(
            "{failed} publishes failed or were rejected (see publish_failures)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_defaults() {
        assert_eq!(default_publishers(Rate::PerSec(95.0), 2), 12);
        assert_eq!(default_publishers(Rate::PerSec(5.0), 4), 4);
        assert_eq!(default_publishers(Rate::Max, 3), 3);
    }
}
