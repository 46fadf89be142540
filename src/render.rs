//! Human-readable text for checkpoints: the lines and labels of `run`, `log`, `show`, `tree`,
//! `tag`, `gc`, `rollback`, `diff` and the other commands that name checkpoints.

use relearn_train::Metric;
use std::fmt::Write;

use relearn_data::Task;
use relearn_store::{Manifest, Store};

/// The first 12 hex digits of an id.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A comma-separated list, or "none".
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// A score (or any measured number) for text output: `decimals` decimals, or 4 significant
/// digits in scientific notation when it is too large or too small for them (`|x| >= 1e6`, or
/// `0 < |x| < 1e-3`): a diverged mse prints `3.142e57`, not 57 digits. JSON keeps the exact
/// value.
pub fn num(x: f64, decimals: usize) -> String {
    let a = x.abs();
    if a.is_finite() && (a >= 1e6 || (a > 0.0 && a < 1e-3)) {
        format!("{x:.3e}")
    } else {
        format!("{x:.decimals$}")
    }
}

/// [`num`] right-aligned in `width` characters.
pub fn num_width(x: f64, decimals: usize, width: usize) -> String {
    format!("{:>width$}", num(x, decimals))
}

/// The headline metric of a manifest's prequential score, e.g. ` acc 0.912` (empty for the
/// initial model).
pub fn metric_suffix(m: &Manifest) -> String {
    let (accuracy, mse) = (Metric::Accuracy.name(), Metric::Mse.name());
    let score = match &m.metrics.prequential {
        Some(p) if p.contains_key(accuracy) => format!(" acc {}", num(p[accuracy], 3)),
        Some(p) if p.contains_key(mse) => format!(" mse {}", num(p[mse], 3)),
        _ => String::new(),
    };
    format!("{score}{}", skill_suffix(m))
}

/// ` skill 0.123` when the checkpoint records its skill over the no-skill baseline.
fn skill_suffix(m: &Manifest) -> String {
    m.metrics
        .prequential
        .as_ref()
        .and_then(|p| p.get(Metric::Skill.name()))
        .map_or_else(String::new, |&s| format!(" skill {}", num(s, 3)))
}

/// Windows by time: the label of the checkpoint's window's period (`extra.period`,
/// `2026-12-01`); `None` for windows of `window.size` rows.
pub fn period(m: &Manifest) -> Option<String> {
    relearn_train::CheckpointExtra::of(m).ok()?.period
}

/// `window 12`, and for a window by time `window 12 (2026-12-14)`, in `width` characters
/// for the number.
fn window_name(m: &Manifest, width: usize) -> String {
    match period(m) {
        Some(p) => format!("window {:>width$} ({p})", m.window),
        None => format!("window {:>width$}", m.window),
    }
}

/// `run`'s line per committed checkpoint: window, prequential score, training time.
pub fn window_line(m: &Manifest, task: Task) -> String {
    let score = match &m.metrics.prequential {
        None if m.relation == relearn_store::Relation::Imported => {
            "imported model (no prequential score)".to_string()
        }
        None => "initial model (no prequential score)".to_string(),
        Some(p) => {
            let [a, b] =
                Metric::of(task).map(|k| (k.name(), p.get(k.name()).copied().unwrap_or(f64::NAN)));
            format!(
                "{} {}  {} {}{}",
                a.0,
                num(a.1, 4),
                b.0,
                num(b.1, 4),
                skill_suffix(m)
            )
        }
    };
    format!(
        "{}  {:<10}  {score:<50}  train {:>7.3}s  {}{}",
        window_name(m, 4),
        m.relation.as_str(),
        m.train_seconds,
        short(&m.id),
        out_of_range_suffix(m)
    )
}

/// `  out of range: price 17 rows (5800 sd), year 3 rows (9.1 sd)` when the window had
/// inputs beyond the serving model's `data.clip` (`extra.out_of_range`), else nothing.
pub fn out_of_range_suffix(m: &Manifest) -> String {
    let notes = out_of_range_notes(m);
    if notes.is_empty() {
        String::new()
    } else {
        format!("  out of range: {}", notes.join(", "))
    }
}

/// `price 17 rows (5800 sd)` per column of `extra.out_of_range`, farthest first (three at
/// most, then `and N more columns`).
pub fn out_of_range_notes(m: &Manifest) -> Vec<String> {
    let Ok(extra) = relearn_train::CheckpointExtra::of(m) else {
        return Vec::new();
    };
    let items = extra.out_of_range;
    let mut notes: Vec<String> = items
        .iter()
        .take(3)
        .map(|o| {
            format!(
                "{} {} row{} ({} sd)",
                o.column,
                o.rows,
                if o.rows == 1 { "" } else { "s" },
                sd(o.max_std)
            )
        })
        .collect();
    if items.len() > 3 {
        notes.push(format!("and {} more columns", items.len() - 3));
    }
    notes
}

/// A distance in standard deviations, to 2 significant digits below 100 (`9.1`, `57`)
/// and as a whole number above (`5800`), `1.2e9` beyond a million.
fn sd(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    if x >= 1e6 {
        format!("{x:.1e}")
    } else if x >= 100.0 {
        let digits = 10f64.powi(x.log10().floor() as i32 - 1);
        format!("{:.0}", (x / digits).round() * digits)
    } else if x >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// `  [tag, ...]` after a checkpoint's line, or nothing when it has no tags.
fn tags_suffix(m: &Manifest) -> String {
    if m.tags.is_empty() {
        String::new()
    } else {
        format!("  [{}]", m.tags.join(", "))
    }
}

/// `log`'s line per checkpoint.
pub fn log_line(m: &Manifest) -> String {
    let tags = tags_suffix(m);
    format!(
        "{}  {:<20} {}  {:<10}{:<12}  {}{tags}",
        short(&m.id),
        m.run,
        window_name(m, 4),
        m.relation.as_str(),
        metric_suffix(m),
        m.created_at
    )
}

/// `tree`'s label of a node.
pub fn node_label(m: &Manifest) -> String {
    let tags = tags_suffix(m);
    // A candidate the promotion gate rejected never served: say so where lineage is drawn.
    let rejected = match gate_failures(m) {
        Some(failed) => format!("  rejected: fails {}", failed.join(", ")),
        None => String::new(),
    };
    let imported = match import_record(m) {
        Some((file, _)) => format!(" from {file}"),
        None => String::new(),
    };
    let window = match period(m) {
        Some(p) => format!("window {} ({p})", m.window),
        None => format!("window {:<4}", m.window),
    };
    format!(
        "{}  {window} {}{imported}{}{rejected}{tags}",
        short(&m.id),
        m.relation.as_str(),
        metric_suffix(m)
    )
}

/// An imported checkpoint's file name and sha256 (`extra.import`); `None` for others.
pub fn import_record(m: &Manifest) -> Option<(String, String)> {
    let import = relearn_train::CheckpointExtra::of(m).ok()?.import?;
    Some((import.file, import.sha256))
}

/// The conditions a promotion gate found this checkpoint failing (`extra.gate.failed`);
/// `None` for a checkpoint no gate rejected.
pub fn gate_failures(m: &Manifest) -> Option<Vec<String>> {
    let extra = relearn_train::CheckpointExtra::of(m).ok()?;
    Some(extra.gate?.failed)
}

/// `show`'s text.
pub fn show(store: &Store, m: &Manifest) -> anyhow::Result<String> {
    let mut s = String::new();
    show_identity(&mut s, m)?;
    show_training(&mut s, m)?;
    show_model(&mut s, m)?;
    show_time_columns(&mut s, store, m)?;
    show_parts(&mut s, store, m)?;
    Ok(s)
}

/// `show`'s line on the columns the checkpoint reads as time and their calendar features
/// (its preprocessing's `time`), when it has any: `time       "signup" read as time (...)`.
/// Nothing when the part cannot be read (`verify` reports a damaged store).
fn show_time_columns(s: &mut String, store: &Store, m: &Manifest) -> std::fmt::Result {
    let part = relearn_model::parts::PREPROCESSOR;
    let Some(pre) = m
        .parts
        .contains_key(part)
        .then(|| store.load_part(m, part).ok())
        .flatten()
        .and_then(|bytes| relearn_data::Preprocessor::from_bytes(&bytes).ok())
    else {
        return Ok(());
    };
    for t in &pre.time {
        let names: Vec<&str> = t
            .parts
            .iter()
            .flat_map(|p| p.suffixes().iter().copied())
            .collect();
        let features = match names.is_empty() {
            true => "none".to_string(),
            false => names.join(", "),
        };
        writeln!(
            s,
            "time       \"{}\" read as time (calendar features {features})",
            t.column
        )?;
    }
    Ok(())
}

/// `show`'s first lines: the checkpoint's id, run, window, relation, where it came from
/// (import, parent, the checkpoint it replaces), when, its tags and its config.
fn show_identity(s: &mut String, m: &Manifest) -> std::fmt::Result {
    let opt = |o: &Option<relearn_store::CheckpointId>| {
        o.as_ref()
            .map_or_else(|| "none".to_string(), |id| id.to_string())
    };
    writeln!(s, "checkpoint {}", m.id)?;
    writeln!(s, "run        {} ({})", m.run, m.mode)?;
    match period(m) {
        Some(p) => writeln!(s, "window     {} (period {p})", m.window)?,
        None => writeln!(s, "window     {}", m.window)?,
    }
    writeln!(s, "relation   {}", m.relation.as_str())?;
    if let Some((file, sha256)) = import_record(m) {
        writeln!(s, "imported   {file} (sha256 {sha256})")?;
    }
    writeln!(s, "parent     {}", opt(&m.parent))?;
    writeln!(s, "replaces   {}", opt(&m.replaces))?;
    writeln!(s, "created    {}", m.created_at)?;
    if !m.tags.is_empty() {
        writeln!(s, "tags       {}", m.tags.join(", "))?;
    }
    writeln!(s, "config     {}", m.config_fingerprint)
}

/// `show`'s lines on the data the checkpoint was trained on: its windows and samples, the
/// rows skipped, new classes, inputs out of range, past data kept, and the training time.
fn show_training(s: &mut String, m: &Manifest) -> std::fmt::Result {
    let windows = &m.trained_on.windows;
    let range = match (windows.first(), windows.last()) {
        (Some(a), Some(b)) if a == b => format!("window {a}"),
        (Some(a), Some(b)) if (b - a + 1) as usize == windows.len() => format!("windows {a}..={b}"),
        _ => format!("windows {windows:?}"),
    };
    writeln!(s, "trained on {} samples from {range}", m.samples_trained)?;
    if m.samples_skipped > 0 {
        writeln!(
            s,
            "skipped    {} rows with a missing target (data.missing)",
            m.samples_skipped
        )?;
    }
    if let Ok(extra) = relearn_train::CheckpointExtra::of(m)
        && !extra.new_classes.is_empty()
    {
        writeln!(
            s,
            "new classes {} (first learned here: the output layer grew by {})",
            extra.new_classes.join(", "),
            extra.new_classes.len()
        )?;
    }
    let out_of_range = out_of_range_notes(m);
    if !out_of_range.is_empty() {
        writeln!(
            s,
            "out of range {} (inputs outside the serving model's fitted range when it scored this window)",
            out_of_range.join(", ")
        )?;
    }
    writeln!(
        s,
        "retained   {} samples, {} of past data kept by the run",
        m.retained.samples,
        bytes(m.retained.bytes)
    )?;
    writeln!(s, "train time {:.3}s", m.train_seconds)
}

/// `show`'s lines on the model: its prequential scores, its training loss, and what it is.
fn show_model(s: &mut String, m: &Manifest) -> std::fmt::Result {
    match &m.metrics.prequential {
        Some(p) => {
            let parts: Vec<String> = p
                .iter()
                .map(|(k, &v)| format!("{k} {}", num(v, 4)))
                .collect();
            writeln!(s, "prequential {}", parts.join(", "))?;
        }
        None if m.relation == relearn_store::Relation::Imported => {
            writeln!(s, "prequential none (imported model)")?
        }
        None => writeln!(s, "prequential none (initial model)")?,
    }
    if let Some(l) = m.metrics.train_loss {
        writeln!(s, "train loss {}", num(l, 4))?;
    }
    if let Some(model) = m.extra.get("model") {
        writeln!(s, "model      {}", model)?;
    }
    Ok(())
}

/// `show`'s last lines: each stored part's size and file in `store`, and their total.
fn show_parts(s: &mut String, store: &Store, m: &Manifest) -> std::fmt::Result {
    writeln!(s, "parts")?;
    let mut total = 0;
    for (name, part) in &m.parts {
        total += part.bytes;
        writeln!(
            s,
            "  {name:<13} {:>10}  {}",
            bytes(part.bytes),
            store.object_path(&part.object).display()
        )?;
    }
    writeln!(s, "  {:<13} {:>10}", "total", bytes(total))
}

/// Bytes in a human unit.
pub fn bytes(n: u64) -> String {
    relearn_train::runner::human_bytes(n.into())
}

/// `run@window`, the REF that names a checkpoint by its run and window.
pub fn run_at(m: &Manifest) -> String {
    format!("{}@{}", m.run, m.window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_a_bounded_length() {
        assert_eq!(num(0.91234, 4), "0.9123");
        assert_eq!(num(0.0, 4), "0.0000");
        assert_eq!(num(-0.25, 3), "-0.250");
        assert_eq!(num(123456.7, 4), "123456.7000");
        assert_eq!(num(2.71828e57, 4), "2.718e57");
        assert_eq!(num(-2.5e6, 3), "-2.500e6");
        assert_eq!(num(0.000123456, 4), "1.235e-4");
        assert_eq!(num(f64::NAN, 4), "NaN");
        assert_eq!(num(f64::INFINITY, 4), "inf");
        assert!(num(f64::MAX, 4).len() <= 10);
        assert_eq!(num_width(1e300, 6, 12), "   1.000e300");
    }
}
