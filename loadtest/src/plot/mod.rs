//! Pictures of fanout runs: the data a report carries for them ([`PlotData`]: the latency
//! percentile curve and the deliveries-per-second timeline), reading it back from saved
//! `--json` reports, and the `plot` subcommand that draws one or several runs into one SVG.

mod draw;

use crate::cli::PlotArgs;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

/// What a fanout report carries for its picture (JSON key `plot`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlotData {
    /// `(percentile 0–100, latency µs)`, from the median to the last sample.
    pub latency_percentiles_us: Vec<(f64, u64)>,
    /// `(seconds since publishing started, deliveries per second in the interval ending then)`.
    pub deliveries_per_sec: Vec<(f64, f64)>,
}

/// Points per decade of "nines" (90 %, 99 %, 99.9 %, …) on the percentile curve.
const POINTS_PER_NINE: u32 = 10;

/// The latency at percentiles 0, …, 90, …, 99, …, 99.9, … as far as the sample count
/// resolves them, then the maximum at the last sample's percentile.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    let n = h.len();
    if n == 0 {
        return Vec::new();
    }
    let nines = (n as f64).log10();
    let steps = (nines * POINTS_PER_NINE as f64).floor() as u32;
    let mut out: Vec<(f64, u64)> = (0..=steps)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-(k as f64) / POINTS_PER_NINE as f64);
            (100.0 * q, h.value_at_quantile(q))
        })
        .collect();
    let last = 100.0 * (1.0 - 1.0 / n as f64);
    if n > 1 && out.last().is_some_and(|p| p.0 < last) {
        out.push((last, h.max()));
    }
    out
}

/// One run in a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name (a server, a setting).
    pub label: String,
    /// Latency p99 of the run, µs.
    pub p99_us: u64,
    /// Delivery rate of the run.
    pub deliveries_per_sec: f64,
    /// The curves.
    pub data: PlotData,
}

impl Series {
    /// The series of a fanout report (as printed by `--json`).
    pub fn from_report(label: &str, report: &Value) -> Result<Series, String> {
        if report["scenario"] != "fanout" {
            return Err("not a fanout report".into());
        }
        let data: PlotData = serde_json::from_value(report["plot"].clone())
            .map_err(|e| format!("no plot data in the report ({e})"))?;
        Ok(Series {
            label: label.to_string(),
            p99_us: report["latency_us"]["p99"].as_u64().unwrap_or(0),
            deliveries_per_sec: report["deliveries_per_sec"].as_f64().unwrap_or(0.0),
            data,
        })
    }

    /// The legend line: label and the run's headline figures.
    pub fn legend(&self) -> String {
        format!(
            "{}: p99 {} ms, {} deliveries/s",
            self.label,
            draw::ms_label(self.p99_us as f64 / 1000.0),
            draw::rate_label(self.deliveries_per_sec)
        )
    }
}

/// A title naming the run's parameters.
pub fn title(report: &Value) -> String {
    let rate = match &report["rate"] {
        Value::String(s) => s.clone(),
        other => format!("{other}/s"),
    };
    let channels = match report["channels"].as_u64() {
        Some(1) => "1 channel".to_string(),
        _ => format!("{} channels", report["channels"]),
    };
    format!(
        "fanout: {} connections, {channels}, rate {rate}, {}-byte events over {}, {} s",
        report["connections"],
        report["payload_bytes"],
        match report["publish"].as_str() {
            Some("client") => "client events",
            _ => "REST",
        },
        report["duration_secs"]
    )
}

/// Draws `series` under `title` into the SVG file `path`.
pub fn write(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let svg = draw::svg(title, series)?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The report in `text`: its last line that is a JSON object.
pub fn last_report(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(Value::is_object)
}

/// The `plot` subcommand.
pub fn run(args: &PlotArgs) -> ExitCode {
    let mut series = Vec::new();
    let mut first = None;
    for (label, file) in &args.runs {
        let loaded = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| last_report(&t).ok_or_else(|| "no JSON report in it".to_string()))
            .and_then(|r| Series::from_report(label, &r).map(|s| (s, r)));
        match loaded {
            Ok((s, report)) => {
                first.get_or_insert(report);
                series.push(s);
            }
            Err(e) => {
                eprintln!(
                    "corecast-loadtest: {}: {e} (expected the last line of \
                     `corecast-loadtest fanout --json`)",
                    file.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    let title = args
        .title
        .clone()
        .or_else(|| first.as_ref().map(title))
        .unwrap_or_default();
    match write(&args.out, &title, &series) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corecast-loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
