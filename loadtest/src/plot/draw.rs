//! Drawing with plotters' SVG backend: the latency percentile curve (left) and the
//! deliveries-per-second timeline (right), one colour per run, legends with each run's figures.

use super::Series;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Picture size in pixels.
const SIZE: (u32, u32) = (1400, 560);
/// One colour per run (the usual ten-colour palette, first six).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const FONT: &str = "sans-serif";

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// The SVG text of the picture.
pub fn svg(title: &str, series: &[Series]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(title, (FONT, 22)).map_err(err)?;
        let (left, right) = body.split_horizontally(SIZE.0 / 2);
        latency(&left, series)?;
        timeline(&right, series)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Position on the percentile axis: 0 at 0 %, 1 at 90 %, 2 at 99 %, 3 at 99.9 %, …
pub fn nines(percentile: f64) -> f64 {
    (100.0 / (100.0 - percentile).max(1e-9)).log10()
}

/// The percentile at axis position `x` ("99.9%").
pub fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as i32 - 2).max(0) as usize;
    if (x - x.round()).abs() < 1e-6 {
        format!("{p:.decimals$}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Milliseconds with the digits that matter ("0.25", "3.1", "120").
pub fn ms_label(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else if ms >= 0.1 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// Log-axis label: only at 1, 2 and 5 × a power of ten, which keeps a decade readable.
fn log_ms_label(ms: f64) -> String {
    let mantissa = ms / 10f64.powf(ms.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 0.01)
    {
        ms_label(ms)
    } else {
        String::new()
    }
}

/// A rate with a k/M suffix ("850k", "1.2M").
pub fn rate_label(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k", r / 1e3)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
        .map_err(err)
}

fn latency<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<(), String> {
    let lines: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.data
                .latency_percentiles_us
                .iter()
                .map(|&(p, us)| (nines(p), (us.max(1)) as f64 / 1000.0))
                .collect()
        })
        .collect();
    let all = || lines.iter().flatten();
    let max_x = all().map(|p| p.0).fold(0.0, f64::max).ceil().max(2.0);
    let (lo, hi) = all().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = if hi > 0.0 {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.01, 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption("Latency by percentile (publish → receive)", (FONT, 18))
        .margin(18)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_x, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of nines)")
        .y_desc("latency (ms, log scale)")
        .x_labels(max_x as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| log_ms_label(*y))
        .light_line_style(TRANSPARENT)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(err)?;
    for (i, (s, line)) in series.iter().zip(&lines).enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.legend())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
    }
    // The curve rises to the right: its lower right is free.
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<(), String> {
    let all = || series.iter().flat_map(|s| &s.data.deliveries_per_sec);
    let max_t = all().map(|p| p.0).fold(0.0, f64::max).ceil().max(1.0);
    let max_r = all().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.3;
    let mut chart = ChartBuilder::on(area)
        .caption("Deliveries per second", (FONT, 18))
        .margin(18)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_t, 0f64..max_r)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time since publishing started (s)")
        .y_desc("deliveries per second")
        .y_label_formatter(&|y| rate_label(*y))
        .light_line_style(TRANSPARENT)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points = &s.data.deliveries_per_sec;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    // Headroom above the highest rate keeps the legend off the lines.
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
