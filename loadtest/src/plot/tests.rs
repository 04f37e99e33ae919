use super::draw::{ms_label, nines, percentile_label, rate_label};
use super::*;
use crate::stats::latency::new_histogram;
use serde_json::json;

fn uniform(n: u64) -> Histogram<u64> {
    let mut h = new_histogram();
    for v in 1..=n {
        h.record(v).expect("in range");
    }
    h
}

fn near(actual: u64, expected: u64) -> bool {
    actual.abs_diff(expected) * 100 <= expected
}

#[test]
fn the_curve_runs_from_the_median_side_to_the_maximum() {
    let curve = percentile_curve(&uniform(10_000));
    assert_eq!(curve.len(), 41, "{curve:?}");
    let at = |p: f64| {
        curve
            .iter()
            .find(|c| (c.0 - p).abs() < 1e-6)
            .map(|c| c.1)
            .unwrap_or_else(|| panic!("no point at {p}: {curve:?}"))
    };
    assert!(at(0.0) <= 2);
    assert!(near(at(90.0), 9_000), "{curve:?}");
    assert!(near(at(99.0), 9_900), "{curve:?}");
    assert!(near(at(99.9), 9_990), "{curve:?}");
    assert!(near(curve[40].1, 10_000), "{curve:?}");
    assert!(curve
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    // Between whole nines the maximum is added at the last sample's percentile.
    let curve = percentile_curve(&uniform(500));
    let last = curve.last().expect("points");
    assert!(
        (last.0 - 99.8).abs() < 1e-9 && near(last.1, 500),
        "{curve:?}"
    );
    assert!(percentile_curve(&new_histogram()).is_empty());
}

#[test]
fn axis_labels_read_as_people_write_them() {
    let labels: Vec<String> = (0..5).map(|x| percentile_label(x as f64)).collect();
    assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    assert!((nines(99.9) - 3.0).abs() < 1e-9);
    assert_eq!(nines(0.0), 0.0);
    assert!(nines(100.0).is_finite());
    assert_eq!(
        [
            ms_label(0.052),
            ms_label(0.25),
            ms_label(3.12),
            ms_label(120.4)
        ],
        ["0.052", "0.25", "3.1", "120"]
    );
    assert_eq!(
        [
            rate_label(640.0),
            rate_label(4_500.0),
            rate_label(850_000.0),
            rate_label(1.2e6)
        ],
        ["640", "4.5k", "850k", "1.20M"]
    );
}

fn report(rate: f64) -> Value {
    let data = PlotData {
        latency_percentiles_us: percentile_curve(&uniform(2_000)),
        deliveries_per_sec: vec![
            (1.0, rate),
            (2.0, rate * 1.1),
            (3.0, rate * 0.9),
            (3.4, 100.0),
        ],
    };
    json!({
        "scenario": "fanout", "connections": 100, "channels": 2, "rate": "max",
        "payload_bytes": 100, "publish": "rest", "duration_secs": 3,
        "deliveries_per_sec": rate, "latency_us": {"p99": 1980},
        "plot": data,
    })
}

#[test]
fn reports_read_back_into_series() {
    let text = format!("== a table ==\nrow  1\n{}\n", report(5_000.0));
    let r = last_report(&text).expect("the JSON line");
    let s = Series::from_report("corecast", &r).expect("a fanout report");
    assert_eq!(s.p99_us, 1980);
    assert_eq!(s.data.deliveries_per_sec.len(), 4);
    assert_eq!(s.legend(), "corecast: p99 2.0 ms, 5.0k deliveries/s");
    assert!(title(&r).starts_with("fanout: 100 connections, 2 channels, rate max"));
    assert!(Series::from_report("x", &json!({"scenario": "connect"})).is_err());
    assert!(Series::from_report("x", &json!({"scenario": "fanout"})).is_err());
    assert_eq!(last_report("no json here\n"), None);
}

#[test]
fn the_svg_has_both_charts_every_run_and_labelled_axes() {
    let runs = [
        Series::from_report("corecast", &report(80_000.0)).expect("series"),
        Series::from_report("other", &report(20_000.0)).expect("series"),
    ];
    let svg = draw::svg("two servers", &runs).expect("drawn");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in [
        "two servers",
        "Latency by percentile",
        "Deliveries per second",
        "latency (ms, log scale)",
        "percentile (log scale of nines)",
        "time since publishing started (s)",
        "deliveries per second",
        "99.9%",
        "corecast: p99 2.0 ms, 80k deliveries/s",
        "other: p99 2.0 ms, 20k deliveries/s",
    ] {
        assert!(svg.contains(text), "no {text:?} in the SVG");
    }
    // One line per run in each chart.
    assert!(svg.matches("<polyline").count() >= 4, "{svg}");
    // An empty run still draws (axes only) instead of failing.
    let empty = Series {
        label: "nothing".into(),
        p99_us: 0,
        deliveries_per_sec: 0.0,
        data: PlotData::default(),
    };
    assert!(draw::svg("", &[empty]).is_ok());
}
