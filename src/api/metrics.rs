//! `GET /metrics`: per-shard counters in the Prometheus text format, gathered from every shard.

use std::fmt::Write;
use std::rc::Rc;

use crate::bus::ShardStats;
use crate::http::Response;
use crate::shard::Shard;

/// A gauge: name, help text, and how to read it off a shard's counters.
type Series = (&'static str, &'static str, fn(&ShardStats) -> usize);

/// Renders the counters of every shard.
pub async fn render(shard: &Rc<Shard>) -> Response {
    let stats = shard.all_stats().await;
    let mut out = String::new();
    let series: [Series; 3] = [
        ("corecast_connections", "Open WebSocket connections", |s| {
            s.connections
        }),
        (
            "corecast_subscriptions",
            "Channel subscriptions held",
            |s| s.subscriptions,
        ),
        ("corecast_channels", "Occupied channels", |s| s.channels),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}, per shard.\n# TYPE {name} gauge");
        for s in &stats {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(s));
        }
    }
    Response {
        status: 200,
        body: out.into_bytes(),
        content_type: "text/plain; version=0.0.4",
    }
}
