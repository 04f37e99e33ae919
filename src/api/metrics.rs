//! `GET /metrics`: per-shard counters in the Prometheus text format, gathered from every shard.

use std::fmt::Write;
use std::rc::Rc;

use crate::bus::ShardStats;
use crate::config::App;
use crate::http::Response;
use crate::rate_limit::RestKind;
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
    rate_limited(&mut out, &shard.config.apps, &stats);
    if let Some(link) = &shard.cluster {
        link.stats.render(&mut out);
    }
    if let Some(outbox) = &shard.globals.webhooks {
        let drops = stats.iter().map(|s| s.webhooks_dropped).sum();
        outbox.stats.render(&mut out, drops, outbox.queued() as u64);
    }
    Response {
        status: 200,
        body: out.into_bytes(),
        content_type: "text/plain; version=0.0.4",
        retry_after: None,
        partial: None,
    }
}

/// `corecast_rest_rate_limited_total`, summed over shards, for each app and kind with a limit.
fn rate_limited(out: &mut String, apps: &[App], stats: &[ShardStats]) {
    let name = "corecast_rest_rate_limited_total";
    let _ = writeln!(
        out,
        "# HELP {name} REST requests refused with 429 over the app's rate limit.\n\
         # TYPE {name} counter"
    );
    for app in apps {
        for kind in RestKind::ALL.into_iter().filter(|k| k.limit(app).is_some()) {
            let total: u64 = stats
                .iter()
                .filter_map(|s| s.rate_limited.get(app.index as usize))
                .map(|counts| counts[kind.index()])
                .sum();
            let _ = writeln!(
                out,
                "{name}{{app=\"{}\",kind=\"{}\"}} {total}",
                label_value(&app.id),
                kind.label()
            );
        }
    }
}

/// Escapes a Prometheus label value (`\`, `"`, newline).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label_value("plain-id"), "plain-id");
    }
}
