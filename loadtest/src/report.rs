//! Final report: a readable table and one JSON object with stable keys.

use crate::cpu::CpuUsage;
use crate::stats::LatencySummary;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    pub deliveries_per_sec: f64,
    pub publishes_per_sec: f64,
    /// What `latency_us` measures, for the table.
    pub latency_label: &'static str,
    pub latency_us: LatencySummary,
    pub lost: u64,
    pub out_of_order: u64,
    pub cpu: CpuUsage,
    pub threads: usize,
    /// Close code (or reason) → connections the server closed.
    pub closed_by_server: BTreeMap<String, u64>,
    /// Scenario parameters, emitted as top-level JSON keys.
    pub params: Vec<(&'static str, Value)>,
    /// Scenario-specific results, emitted as top-level JSON keys.
    pub results: Vec<(&'static str, Value)>,
    pub warnings: Vec<String>,
    /// Curves for a picture of the run (fanout), emitted as JSON key `plot` only.
    pub plot: Option<crate::plot::PlotData>,
    /// False when the run could not measure anything (e.g. no connection was established).
    pub ok: bool,
}

impl Report {
    pub fn new(scenario: &'static str, cpu: CpuUsage, threads: usize) -> Self {
        Self {
            scenario,
            deliveries_per_sec: 0.0,
            publishes_per_sec: 0.0,
            latency_label: "latency",
            latency_us: LatencySummary::default(),
            lost: 0,
            out_of_order: 0,
            cpu,
            threads,
            closed_by_server: BTreeMap::new(),
            params: Vec::new(),
            results: Vec::new(),
            warnings: Vec::new(),
            plot: None,
            ok: true,
        }
    }

    pub fn param(&mut self, key: &'static str, value: impl Into<Value>) {
        self.params.push((key, value.into()));
    }

    pub fn result(&mut self, key: &'static str, value: impl Into<Value>) {
        self.results.push((key, value.into()));
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("scenario".into(), json!(self.scenario));
        m.insert(
            "deliveries_per_sec".into(),
            json!(round1(self.deliveries_per_sec)),
        );
        m.insert(
            "publishes_per_sec".into(),
            json!(round1(self.publishes_per_sec)),
        );
        m.insert("latency_us".into(), json!(self.latency_us));
        m.insert("lost".into(), json!(self.lost));
        m.insert("out_of_order".into(), json!(self.out_of_order));
        m.insert("client_cpu_percent".into(), json!(round1(self.cpu.percent)));
        m.insert("client_cpu_cores".into(), json!(round2(self.cpu.cores)));
        m.insert("client_saturated".into(), json!(self.cpu.saturated));
        m.insert("threads".into(), json!(self.threads));
        m.insert("closed_by_server".into(), json!(self.closed_by_server));
        for (k, v) in self.params.iter().chain(&self.results) {
            m.insert((*k).into(), v.clone());
        }
        m.insert("warnings".into(), json!(self.warnings));
        if let Some(plot) = &self.plot {
            m.insert("plot".into(), json!(plot));
        }
        Value::Object(m)
    }

    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.params {
            rows.push(((*k).into(), render(v)));
        }
        let n_params = rows.len();
        rows.push((
            "deliveries/s".into(),
            format!("{:.1}", self.deliveries_per_sec),
        ));
        rows.push((
            "publishes/s".into(),
            format!("{:.1}", self.publishes_per_sec),
        ));
        rows.push((
            format!("{} (µs)", self.latency_label),
            render(&json!(self.latency_us)),
        ));
        rows.push(("lost".into(), self.lost.to_string()));
        rows.push(("out_of_order".into(), self.out_of_order.to_string()));
        for (k, v) in &self.results {
            rows.push(((*k).into(), render(v)));
        }
        let closed = if self.closed_by_server.is_empty() {
            "none".to_string()
        } else {
            render(&json!(self.closed_by_server))
        };
        rows.push(("closed_by_server".into(), closed));
        rows.push((
            "client CPU".into(),
            format!(
                "{:.1}% of {} threads ({:.2} cores){}",
                self.cpu.percent,
                self.threads,
                self.cpu.cores,
                if self.cpu.saturated {
                    "  SATURATED"
                } else {
                    ""
                }
            ),
        ));

        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "== corecast-loadtest {} ==", self.scenario);
        for (i, (k, v)) in rows.iter().enumerate() {
            if i == n_params {
                let _ = writeln!(out, "{}", "-".repeat(width + 20));
            }
            let pad = width - k.chars().count();
            let _ = writeln!(out, "{k}{}  {v}", " ".repeat(pad));
        }
        for w in &self.warnings {
            let _ = writeln!(out, "WARNING: {w}");
        }
        out
    }
}

/// A JSON number, integral when the value has no fractional part.
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Compact one-line rendering of a JSON value for the table.
fn render(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("p50") => {
            let g = |k: &str| m.get(k).map(render).unwrap_or_default();
            format!(
                "p50={} p90={} p99={} p99.9={} max={} (n={})",
                g("p50"),
                g("p90"),
                g("p99"),
                g("p999"),
                g("max"),
                g("count")
            )
        }
        Value::Object(m) if m.is_empty() => "none".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", render(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let cpu = CpuUsage {
            cores: 0.5,
            percent: 25.0,
            saturated: false,
        };
        let mut r = Report::new("connect", cpu, 2);
        r.param("connections", 10);
        r.result("connections_per_sec", 123.4);
        r.result("handshake_us", json!(LatencySummary::default()));
        r.result("failures", json!({"connect_refused": 2}));
        r.result("server_rss_per_conn_bytes", Value::Null);
        r.closed_by_server.insert("4100".into(), 3);
        r
    }

    #[test]
    fn json_has_required_keys() {
        let v = sample().to_json();
        for key in [
            "scenario",
            "deliveries_per_sec",
            "publishes_per_sec",
            "latency_us",
            "lost",
            "out_of_order",
            "client_cpu_percent",
            "client_saturated",
            "closed_by_server",
            "connections",
            "connections_per_sec",
            "handshake_us",
            "failures",
            "server_rss_per_conn_bytes",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(
                v["latency_us"].get(key).is_some(),
                "missing latency_us.{key}"
            );
            assert!(
                v["handshake_us"].get(key).is_some(),
                "missing handshake_us.{key}"
            );
        }
        assert_eq!(v["scenario"], "connect");
        assert_eq!(v["client_saturated"], false);
        assert_eq!(v["closed_by_server"]["4100"], 3);
        assert!(v["server_rss_per_conn_bytes"].is_null());
        // One line of JSON.
        assert!(!v.to_string().contains('\n'));
    }

    #[test]
    fn table_is_readable() {
        let mut r = sample();
        r.warnings.push("be careful".into());
        let t = r.table();
        assert!(t.contains("connections_per_sec"));
        assert!(t.contains("p50=0"));
        assert!(t.contains("connect_refused=2"));
        assert!(t.contains("4100=3"));
        assert!(t.contains("WARNING: be careful"));
    }
}
