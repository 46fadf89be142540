//! The side-by-side text table `compare` prints on stdout.

use std::collections::BTreeMap;
use std::fmt::Write;

use relearn_train::Policy;
use relearn_train::compare::{Measured, ModeReport, Recovery, Report};

use super::prose::{fmt_score, thousands};
use crate::render;

/// The whole text report: header, per-window table, totals, recommendation (its words).
pub fn render(r: &Report, recommendation: &str) -> String {
    let mut s = String::new();
    header(&mut s, r);
    s.push('\n');
    per_window(&mut s, r);
    s.push('\n');
    totals(&mut s, r);
    s.push('\n');
    let _ = writeln!(s, "recommendation: {recommendation}");
    s
}

fn header(s: &mut String, r: &Report) {
    let st = &r.setup.stream;
    let _ = writeln!(
        s,
        "compare '{}': {} ({} samples), {} windows {}, {} initial",
        r.setup.name,
        st.source,
        thousands(st.samples as u64),
        st.windows,
        match &st.every {
            Some(every) => format!("by time (one per {every} with rows)"),
            None => format!("of {}", st.window_size),
        },
        st.initial_windows
    );
    let better = if r.setup.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    match st.label_delay {
        0 => writeln!(
            s,
            "score: prequential {} ({better}), before each update, on the window it then trains on",
            r.setup.metric
        ),
        k => writeln!(
            s,
            "score: prequential {} ({better}), by the model serving when the window's rows \
             arrived: labels arrive {k} window(s) late (window.label_delay)",
            r.setup.metric
        ),
    }
    .ok();
    let _ = writeln!(s, "1 point = {}", r.definitions.point);
    let _ = writeln!(
        s,
        "not used: {} samples {}",
        thousands(st.samples_unused_at_end as u64),
        match st.every {
            Some(_) => "of the last period (it waits for a row of a later one)",
            None => "after the last full window (a partial window)",
        }
    );
    let drifts = st.drift_windows();
    if drifts.is_empty() {
        let _ = writeln!(s, "drift points: none declared by the stream");
    } else {
        let list: Vec<String> = drifts
            .iter()
            .map(|(p, w)| format!("{p} (window {w})"))
            .collect();
        let _ = writeln!(s, "drift points: samples {}", list.join(", "));
    }
}

/// The per-window table: each policy's score per window, the no-skill baseline's when the
/// report has one, the difference for the book pair, and the drift points marked.
fn per_window(s: &mut String, r: &Report) {
    let scores: Vec<BTreeMap<u64, f64>> = r
        .modes
        .0
        .iter()
        .map(|mode| mode.windows.iter().map(|w| (w.window, w.score)).collect())
        .collect();
    let mut windows: Vec<u64> = scores.iter().flat_map(|s| s.keys()).copied().collect();
    windows.sort_unstable();
    windows.dedup();
    let pair = book_pair_columns(r);
    let drift: BTreeMap<u64, usize> = r
        .setup
        .stream
        .drift_windows()
        .into_iter()
        .map(|(p, w)| (w, p))
        .collect();
    // The no-skill baseline depends on the window's data alone: one column for all.
    let baseline = r.baseline_by_window();
    // Ten characters a column, more for a longer policy name (`stateful+l2-init`).
    let widths: Vec<usize> = r
        .modes
        .0
        .iter()
        .map(|m| m.mode.name().len().max(10))
        .collect();
    let periods = r.period_by_window();
    let period_width = periods
        .values()
        .map(String::len)
        .max()
        .map_or(0, |w| w.max(6));
    per_window_header(
        s,
        r,
        &widths,
        period_width,
        (!baseline.is_empty(), pair.is_some()),
    );
    let cell = |v: Option<&f64>| v.map_or("-".to_string(), |x| fmt_score(&r.setup, *x));
    for w in windows {
        let label = periods.get(&w).map_or("-", String::as_str);
        let _ = write!(s, "{}", window_cell(&w.to_string(), label, period_width));
        for (column, width) in scores.iter().zip(&widths) {
            let _ = write!(s, "  {:>width$}", cell(column.get(&w)));
        }
        if !baseline.is_empty() {
            let _ = write!(s, "  {:>10}", cell(baseline.get(&w)));
        }
        if let Some((stateless, stateful)) = pair {
            let diff = match (scores[stateless].get(&w), scores[stateful].get(&w)) {
                (Some(a), Some(b)) => format!("{:+.4}", b - a),
                _ => "-".to_string(),
            };
            let _ = write!(s, "  {diff:>10}");
        }
        let mark = drift
            .get(&w)
            .map(|p| format!("  <- drift at sample {p}"))
            .unwrap_or_default();
        let _ = writeln!(s, "{mark}");
    }
    if pair.is_some() {
        let _ = writeln!(s, "(difference: stateful - stateless)");
    }
    if !baseline.is_empty() {
        let _ = writeln!(
            s,
            "(baseline: the no-skill forecast, {}, scored on the same window)",
            r.setup.baseline_forecast()
        );
    }
}

/// The book pair's columns (stateless, stateful), whichever order `--policies` named them
/// in: its table has a difference column (stateful - stateless). `None` for other sets.
fn book_pair_columns(r: &Report) -> Option<(usize, usize)> {
    let column = |mode: Policy| r.modes.0.iter().position(|m| m.mode == mode);
    match r.modes.is_book_pair() {
        true => column(Policy::STATELESS).zip(column(Policy::STATEFUL)),
        false => None,
    }
}

/// The window column's cell: the window right-aligned in 6 characters, then for windows by
/// time (`period_width` > 0) its period's label (`2026-12-01`).
fn window_cell(window: &str, label: &str, period_width: usize) -> String {
    match period_width {
        0 => format!("{window:>6}"),
        w => format!("{window:>6}  {label:<w$}"),
    }
}

/// The per-window table's header line: `window` (and `period` for windows by time), each
/// policy's name in its column's `widths`, then `baseline` and `difference` when the table
/// has those columns.
fn per_window_header(
    s: &mut String,
    r: &Report,
    widths: &[usize],
    period_width: usize,
    (has_baseline, has_difference): (bool, bool),
) {
    let _ = write!(s, "{}", window_cell("window", "period", period_width));
    for (m, width) in r.modes.0.iter().zip(widths) {
        let _ = write!(s, "  {:>width$}", m.mode.name());
    }
    if has_baseline {
        let _ = write!(s, "  {:>10}", "baseline");
    }
    let _ = writeln!(
        s,
        "{}",
        if has_difference {
            format!("  {:>10}", "difference")
        } else {
            String::new()
        }
    );
}

/// The totals: one row per measure with a cell per policy, then, for the book pair, the
/// paired difference and the ratio of training times.
fn totals(s: &mut String, r: &Report) {
    let mut rows = Rows {
        modes: &r.modes.0,
        rows: Vec::new(),
    };
    score_rows(&mut rows, r);
    baseline_rows(&mut rows, r);
    setback_rows(&mut rows, r);
    cost_rows(&mut rows);
    write_rows(s, r, &rows.rows);
    book_pair_lines(s, r);
}

/// The rows of the totals table being built: each label with its cells, one per policy.
struct Rows<'a> {
    /// The policies, in the table's column order.
    modes: &'a [ModeReport],
    /// The rows so far: label, cells.
    rows: Vec<(String, Vec<String>)>,
}

impl Rows<'_> {
    /// Adds the row `label`, its cells made by `cell` from each policy.
    fn add(&mut self, label: String, cell: &dyn Fn(&ModeReport) -> String) {
        self.rows
            .push((label, self.modes.iter().map(cell).collect()));
    }
}

/// The run, its checkpoints, and its mean and final scores.
fn score_rows(rows: &mut Rows, r: &Report) {
    let metric = r.setup.metric;
    rows.add("run".into(), &|m| m.run.clone());
    rows.add("checkpoints (trained now)".into(), &|m| {
        format!(
            "{} ({})",
            m.windows.len() + usize::from(m.initial.is_some()),
            m.trained_now
        )
    });
    let score = |x: Option<f64>| x.map_or("-".to_string(), |v| fmt_score(&r.setup, v));
    rows.add(format!("mean {metric}"), &|m| score(m.score.mean));
    rows.add(format!("final {metric}"), &|m| {
        m.score.r#final.map_or("-".into(), |a| {
            format!("{} (window {})", fmt_score(&r.setup, a.score), a.window)
        })
    });
}

/// The no-skill baseline's mean and each policy's skill over it, when any policy has them.
fn baseline_rows(rows: &mut Rows, r: &Report) {
    let metric = r.setup.metric;
    if !r.modes.0.iter().any(|m| m.score.baseline.is_some()) {
        return;
    }
    rows.add(format!("no-skill baseline, mean {metric}"), &|m| {
        m.score
            .baseline
            .as_ref()
            .map_or("-".into(), |b| fmt_score(&r.setup, b.mean))
    });
    rows.add("skill over the baseline (mean)".into(), &|m| {
        m.score.baseline.as_ref().map_or("-".into(), |b| {
            format!(
                "{:.3}{}",
                b.skill,
                if b.beats_baseline { "" } else { " (no skill)" }
            )
        })
    });
    rows.add("skill over the baseline (pooled)".into(), &|m| {
        m.score
            .baseline
            .as_ref()
            .map_or("-".into(), |b| format!("{:.3}", b.pooled_skill))
    });
}

/// The setbacks: the worst window, the recovery after each drift point, and the score on
/// the previous concept when the report measured it.
fn setback_rows(rows: &mut Rows, r: &Report) {
    let metric = r.setup.metric;
    rows.add("worst window".into(), &|m| {
        m.score.worst.map_or("-".into(), |a| {
            format!("{} (window {})", fmt_score(&r.setup, a.score), a.window)
        })
    });
    for (i, (p, _)) in r.setup.stream.drift_windows().into_iter().enumerate() {
        rows.add(format!("recovery after sample {p}"), &|m| {
            m.recovery.get(i).map_or("-".into(), recovery_cell)
        });
    }
    if r.modes.0.iter().any(|m| m.backward.is_some()) {
        rows.add(format!("{metric} on the previous concept"), &|m| {
            m.backward.as_ref().map_or("-".into(), |b| {
                format!(
                    "{} ({:+.1} {})",
                    fmt_score(&r.setup, b.score),
                    b.transfer_points,
                    r.setup.short_unit()
                )
            })
        });
    }
}

/// The costs: training time, samples trained and skipped, past data kept, peak memory.
fn cost_rows(rows: &mut Rows) {
    rows.add("train seconds / update (mean)".into(), &|m| {
        m.train_seconds
            .per_update_mean
            .map_or("-".into(), |v| format!("{v:.3}"))
    });
    rows.add("train seconds, all updates".into(), &|m| {
        format!("{:.2}", m.train_seconds.updates_total)
    });
    rows.add("train seconds, initial model".into(), &|m| {
        format!("{:.2}", m.train_seconds.initial)
    });
    rows.add("samples trained (total)".into(), &|m| {
        thousands(m.samples_trained.total)
    });
    rows.add("rows skipped (blank target)".into(), &|m| {
        thousands(m.samples_skipped)
    });
    rows.add("past data kept at the end".into(), &|m| {
        format!(
            "{} ({})",
            thousands(m.retained_at_end.samples),
            render::bytes(m.retained_at_end.bytes)
        )
    });
    rows.add("model size (latest)".into(), &|m| {
        m.model_bytes.map_or("-".into(), render::bytes)
    });
    rows.add("peak memory".into(), &|m| match &m.peak_memory {
        Some(p) if p.measured == Measured::Now => format!("{:.1} MiB", p.mib),
        Some(p) => format!("{:.1} MiB (earlier)", p.mib),
        None => "not measured".into(),
    });
}

/// Writes the totals table: a header line of policy names, then `rows`, the labels in one
/// column as wide as the longest and every cell column as wide as the widest cell (nine
/// characters at least).
fn write_rows(s: &mut String, r: &Report, rows: &[(String, Vec<String>)]) {
    let label_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let width = rows
        .iter()
        .flat_map(|r| r.1.iter().map(String::len))
        .max()
        .unwrap_or(0)
        .max(9);
    let names: Vec<&str> = r.modes.0.iter().map(|m| m.mode.name()).collect();
    let _ = writeln!(s, "{}", table_line("", names, label_width, width));
    for (label, cells) in rows {
        let _ = writeln!(
            s,
            "{}",
            table_line(
                label,
                cells.iter().map(String::as_str).collect(),
                label_width,
                width
            )
        );
    }
}

/// One line of the totals table: `label` padded to `label_width`, then the cells, every
/// one padded to `width` but the last, which needs no padding.
fn table_line(label: &str, cells: Vec<&str>, label_width: usize, width: usize) -> String {
    let mut out = format!("{label:label_width$}");
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.into_iter().enumerate() {
        match i == last {
            true => out.push_str(&format!("  {cell}")),
            false => out.push_str(&format!("  {cell:<width$}")),
        }
    }
    out
}

/// For the book pair: stateful's advantage over stateless with its noise, and the ratio of
/// their training times.
fn book_pair_lines(s: &mut String, r: &Report) {
    let Some(c) = &r.comparison else {
        return;
    };
    if let (Some(d), Some(se)) = (c.advantage_points, c.std_error_points) {
        let unit = r.setup.unit();
        let _ = writeln!(
            s,
            "\nstateful vs stateless: {d:+.2} {unit} on average (+ favours stateful; 2 standard errors: {:.2}, {} windows): {}",
            2.0 * se,
            c.paired_windows,
            c.better.name()
        );
    }
    if let Some(k) = c.cost_ratio {
        let _ = writeln!(s, "training time, stateless / stateful: {k:.2}x");
    }
}

fn recovery_cell(r: &Recovery) -> String {
    match (r.pre_drift_level, r.windows_to_recover) {
        (None, _) => "n/a (no windows before)".into(),
        (Some(_), Some(0)) => "0 windows (no drop)".into(),
        (Some(_), Some(1)) => "1 window".into(),
        (Some(_), Some(n)) => format!("{n} windows"),
        (Some(_), None) => "did not recover".into(),
    }
}
