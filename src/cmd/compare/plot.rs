//! The plot of per-window prequential scores of each policy, with the declared drift points
//! marked, as SVG and PNG.
//!
//! Text is laid out and rasterised with `ab_glyph` and DejaVu Sans embedded in the binary
//! (the `dejavu` crate), so the plot looks the same on a machine without system fonts.

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use relearn_train::Policy;
use relearn_train::compare::{Report, WindowRow, stats};

use super::prose::fmt_score;
use crate::output::write_atomic;

/// Pixel size of both images.
pub const SIZE: (u32, u32) = (1000, 520);

const DRIFT: RGBColor = RGBColor(120, 120, 120);

/// Each policy's line colour (the book modes keep the colours they always had).
fn color(policy: Policy) -> RGBColor {
    use relearn_spec::AnchorKind;
    use relearn_train::Mode;
    let RGBColor(r, g, b) = match policy.mode {
        Mode::Stateless => RGBColor(31, 119, 180),
        Mode::Stateful => RGBColor(230, 110, 10),
        Mode::Replay => RGBColor(44, 160, 44),
        Mode::Drift => RGBColor(200, 30, 120),
    };
    // The tree family: the mode's colour, mixed a third of the way to black.
    if policy.family == relearn_spec::ModelKind::Gbdt {
        let dark = |c: u8| (u16::from(c) * 2 / 3) as u8;
        return RGBColor(dark(r), dark(g), dark(b));
    }
    // An anchored variant: the mode's colour, darker (`l2-init`) or lighter (`ewc`).
    match policy.anchor {
        None | Some(AnchorKind::None) => RGBColor(r, g, b),
        Some(AnchorKind::L2Init) => RGBColor(r / 2, g / 2, b / 2),
        Some(AnchorKind::Ewc) => RGBColor(r / 2 + 128, g / 2 + 100, b / 2 + 128),
    }
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // DejaVu Sans is a valid TrueType font; registration cannot fail on it.
        let ok = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .is_ok();
        debug_assert!(ok, "DejaVu Sans registers");
    });
}

/// Writes `compare.svg` and `compare.png` into `dir`.
pub fn write(report: &Report, dir: &Path) -> anyhow::Result<()> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, report).map_err(|e| anyhow::anyhow!("cannot draw the SVG plot: {e}"))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("cannot draw the SVG plot: {e}"))?;
    }
    write_atomic(&dir.join("compare.svg"), |w| {
        Ok(w.write_all(svg.as_bytes())?)
    })?;

    let (w, h) = SIZE;
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, report).map_err(|e| anyhow::anyhow!("cannot draw the PNG plot: {e}"))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("cannot draw the PNG plot: {e}"))?;
    }
    write_atomic(&dir.join("compare.png"), |w| write_png(w, &pixels, SIZE))?;
    Ok(())
}

fn write_png(out: &mut dyn Write, rgb: &[u8], (w, h): (u32, u32)) -> anyhow::Result<()> {
    let mut encoder = png::Encoder::new(out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}

/// The y range: every score with a margin; accuracy kept inside `[0, 1]`.
fn y_range(report: &Report) -> (f64, f64) {
    let scores = report
        .modes
        .0
        .iter()
        .flat_map(|m| &m.windows)
        .map(|w| w.score)
        .chain(baseline_points(report).into_iter().map(|(_, b)| b));
    let (lo, hi) = scores.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(if report.setup.higher_is_better {
        0.01
    } else {
        hi.abs() * 0.02 + 1e-9
    });
    let (mut lo, mut hi) = (lo - pad, hi + pad);
    if report.setup.higher_is_better {
        lo = lo.max(0.0);
        hi = hi.min(1.005);
    } else {
        lo = lo.max(0.0);
    }
    (lo, hi)
}

/// The no-skill baseline per window, as points.
fn baseline_points(report: &Report) -> Vec<(f64, f64)> {
    report
        .baseline_by_window()
        .into_iter()
        .map(|(w, b)| (w as f64, b))
        .collect()
}

/// The baseline's line colour.
const BASELINE: RGBColor = RGBColor(150, 150, 150);

/// Draws the whole plot: the title and the legend in a band on top, the chart below it.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(56);
    // Title on the left, legend on the right of the top band.
    draw_title(&top, report)?;
    draw_legend(&top, &legend_entries(report))?;
    draw_chart(&body, report)
}

/// The title (what is plotted) and, under it, the stream and which way is better.
fn draw_title<DB: DrawingBackend>(
    top: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let metric = report.setup.metric;
    let title = format!("{}: prequential {metric} per window", report.setup.name);
    top.draw(&Text::new(
        title,
        (16, 10),
        ("sans-serif", 22).into_font().color(&BLACK),
    ))?;
    let better = if report.setup.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    let stream = &report.setup.stream;
    let sub = match &stream.every {
        Some(every) => format!("{}, one window per {every}; {better}", stream.source),
        None => format!(
            "{}, windows of {} samples; {better}",
            stream.source, stream.window_size
        ),
    };
    top.draw(&Text::new(
        sub,
        (16, 36),
        ("sans-serif", 14).into_font().color(&RGBColor(80, 80, 80)),
    ))?;
    Ok(())
}

/// One line of the legend: its words and the line drawn before them.
struct LegendEntry {
    /// `stateful (mean 0.9791)`.
    label: String,
    /// The colour of the line it stands for.
    color: RGBColor,
    /// Drawn dashed (the drift points), else solid.
    dashed: bool,
}

/// The legend's lines: each policy with its mean score, the no-skill baseline when the
/// report has one, and the drift points when the stream declares any.
fn legend_entries(report: &Report) -> Vec<LegendEntry> {
    let mean = |m: Option<f64>| m.map_or("-".to_string(), |v| fmt_score(&report.setup, v));
    let mut entries: Vec<LegendEntry> = report
        .modes
        .0
        .iter()
        .map(|m| LegendEntry {
            label: format!("{} (mean {})", m.mode, mean(m.score.mean)),
            color: color(m.mode),
            dashed: false,
        })
        .collect();
    let baseline = baseline_points(report);
    if !baseline.is_empty() {
        let mean = baseline.iter().map(|p| p.1).sum::<f64>() / baseline.len() as f64;
        entries.push(LegendEntry {
            label: format!(
                "no-skill baseline (mean {})",
                fmt_score(&report.setup, mean)
            ),
            color: BASELINE,
            dashed: false,
        });
    }
    // A stream without declared drift points (a CSV, say) has no markers to explain.
    if !report.setup.stream.drift_windows().is_empty() {
        entries.push(LegendEntry {
            label: "drift point".to_string(),
            color: DRIFT,
            dashed: true,
        });
    }
    entries
}

/// The legend in the top band's right part: one column of up to three entries; two
/// columns (of three) beyond that.
fn draw_legend<DB: DrawingBackend>(
    top: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let legend_font = ("sans-serif", 15).into_font().color(&BLACK);
    let two_columns = entries.len() > 3;
    for (i, entry) in entries.iter().enumerate() {
        let x0 = match two_columns {
            false => SIZE.0 as i32 - 300,
            true => SIZE.0 as i32 - 520 + 260 * (i / 3) as i32,
        };
        let y = if two_columns { 4 } else { 10 } + 16 * (i % 3) as i32;
        if entry.dashed {
            for k in 0..3 {
                top.draw(&PathElement::new(
                    vec![(x0 + 8 * k, y + 7), (x0 + 8 * k + 4, y + 7)],
                    entry.color.stroke_width(2),
                ))?;
            }
        } else {
            top.draw(&PathElement::new(
                vec![(x0, y + 7), (x0 + 22, y + 7)],
                entry.color.stroke_width(3),
            ))?;
        }
        top.draw(&Text::new(
            entry.label.clone(),
            (x0 + 30, y),
            legend_font.clone(),
        ))?;
    }
    Ok(())
}

/// The first and the last window any policy scored (the x axis), at least one apart.
fn window_span(report: &Report) -> (u64, u64) {
    let all = || report.modes.0.iter().flat_map(|m| &m.windows);
    let first = all()
        .map(|w| w.window)
        .min()
        .unwrap_or(report.setup.stream.initial_windows as u64);
    let last = all()
        .map(|w| w.window)
        .max()
        .unwrap_or(first + 1)
        .max(first + 1);
    (first, last)
}

/// The chart: axes and grid, a dashed line at each drift point, the baseline's line and
/// each policy's line (with dots when there are few windows).
fn draw_chart<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let metric = report.setup.metric;
    let (first, last) = window_span(report);
    let (y0, y1) = y_range(report);
    let mut chart = ChartBuilder::on(body)
        .margin_left(12)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(first as f64 - 0.5..last as f64 + 0.5, y0..y1)?;
    let y_digits = if report.setup.higher_is_better { 2 } else { 3 };
    // Windows by time are named by their periods (`2026-12-01`) where a window has one.
    let periods = report.period_by_window();
    let x_label = |x: &f64| {
        let w = x.round();
        match periods.get(&(w.max(0.0) as u64)) {
            Some(label) if (x - w).abs() < 1e-9 => label.clone(),
            _ => format!("{x:.0}"),
        }
    };
    let mut mesh = chart.configure_mesh();
    if !periods.is_empty() {
        // Dates are wider than window numbers.
        mesh.x_labels(6);
    }
    mesh.x_desc(if periods.is_empty() {
        "window"
    } else {
        "window (period)"
    })
    .y_desc(format!("prequential {metric}"))
    .axis_desc_style(("sans-serif", 15))
    .label_style(("sans-serif", 13))
    .x_label_formatter(&x_label)
    .y_label_formatter(&|y| stats::format_sig(*y, y_digits))
    .light_line_style(RGBColor(235, 235, 235))
    .bold_line_style(RGBColor(215, 215, 215))
    .draw()?;

    for (_, w) in report.setup.stream.drift_windows() {
        let x = w as f64;
        chart.draw_series(DashedLineSeries::new(
            vec![(x, y0), (x, y1)],
            6,
            4,
            DRIFT.stroke_width(2),
        ))?;
    }
    let points = |rows: &[WindowRow]| -> Vec<(f64, f64)> {
        rows.iter().map(|w| (w.window as f64, w.score)).collect()
    };
    let longest = report
        .modes
        .0
        .iter()
        .map(|m| m.windows.len())
        .max()
        .unwrap_or(0);
    let dot = if longest <= 60 { 3 } else { 0 };
    let baseline = baseline_points(report);
    if !baseline.is_empty() {
        chart.draw_series(LineSeries::new(baseline, BASELINE.stroke_width(2)))?;
    }
    for m in &report.modes.0 {
        chart.draw_series(
            LineSeries::new(points(&m.windows), color(m.mode).stroke_width(2)).point_size(dot),
        )?;
    }
    Ok(())
}
