//! The statistics of a comparison: means, standard errors, paired per-window differences,
//! recovery after drift points, forgetting (backward transfer) and the ranking.

use std::collections::BTreeMap;

use relearn_data::{DataError, Stream};

use super::{
    At, Backward, CLOSE_POINTS, CLOSE_STD_ERRORS, EXCESS_SHARE, EXCESS_WINDOWS, ExcessLoss,
    ModeReport, Modes, PRE_DRIFT_WINDOWS, RECOVERY_POINTS, Recovery, Setup, Standing,
    StreamSummary, WindowRow, WindowShare,
};

/// The concept (0 before the first declared drift point) of each window, and each concept's
/// windows wholly between its drift points: `(concept_of(window), windows_of(concept))`.
/// A window holding a drift point belongs to the new concept but to neither's "whole"
/// windows.
pub fn concepts(stream: &StreamSummary) -> (Vec<usize>, Vec<std::ops::Range<u64>>) {
    let ws = stream.window_size;
    let concept_of: Vec<usize> = (0..stream.windows)
        .map(|w| stream.drift_points.iter().filter(|&&p| p / ws <= w).count())
        .collect();
    let mut bounds = vec![0usize];
    bounds.extend(stream.drift_points.iter().copied());
    bounds.push(stream.windows * ws);
    let whole = bounds
        .windows(2)
        .map(|b| (b[0].div_ceil(ws) as u64)..((b[1] / ws) as u64).min(stream.windows as u64))
        .collect();
    (concept_of, whole)
}

/// The forgetting summary from each row's previous-concept score.
pub fn backward(setup: &Setup, windows: &[WindowRow]) -> Option<Backward> {
    if setup.stream.drift_points.is_empty() {
        return None;
    }
    let (concept_of, whole) = concepts(&setup.stream);
    let score_at: BTreeMap<u64, f64> = windows.iter().map(|w| (w.window, w.score)).collect();
    let (mut now, mut then) = (Vec::new(), Vec::new());
    for w in windows {
        let Some(score) = w.previous_concept else {
            continue;
        };
        let concept = concept_of[w.window as usize];
        let past: Vec<f64> = whole[concept - 1]
            .clone()
            .filter_map(|v| score_at.get(&v).copied())
            .collect();
        let Some(level) = mean(&past) else {
            continue;
        };
        now.push(score);
        then.push(level);
    }
    let (score, then_mean) = (mean(&now)?, mean(&then)?);
    let sign = if setup.higher_is_better { 1.0 } else { -1.0 };
    Some(Backward {
        checkpoints: now.len(),
        score,
        then: then_mean,
        transfer_points: sign * (score - then_mean) / setup.point(),
    })
}

/// Every policy against the most accurate (by mean prequential score).
pub fn rank(setup: &Setup, modes: &Modes) -> Vec<Standing> {
    let hib = setup.higher_is_better;
    let best = modes
        .0
        .iter()
        .filter_map(|m| Some((m, m.score.mean?)))
        .reduce(|a, b| if worse(hib, a.1, b.1) { b } else { a })
        .map(|(m, _)| m);
    let scale = setup.points_scale();
    modes
        .0
        .iter()
        .map(|m| {
            let (behind, se) = match best {
                Some(best) => {
                    let points: Vec<f64> = paired_differences(m, best)
                        .iter()
                        .map(|d| d * scale)
                        .collect();
                    (mean(&points), std_error(&points))
                }
                None => (None, None),
            };
            // Within the noise, but never with a mean score worse than the best's by more
            // than the close band, however noisy the per-window differences are.
            let mean_gap = match (m.score.mean, best.and_then(|b| b.score.mean)) {
                (Some(own), Some(top)) => (own - top) * scale,
                _ => 0.0,
            };
            let close = match (behind, se) {
                (Some(d), se) => {
                    (d.abs() < CLOSE_POINTS || se.is_some_and(|se| d.abs() < CLOSE_STD_ERRORS * se))
                        && mean_gap >= -CLOSE_POINTS
                }
                (None, _) => false,
            };
            Standing {
                policy: m.mode,
                mean: m.score.mean,
                behind_best_points: behind,
                std_error_points: se,
                close_to_best: close,
                train_seconds: m.train_seconds.updates_total,
                retained_samples: m.retained_at_end.samples,
                model_bytes: m.model_bytes,
            }
        })
        .collect()
}

/// Whether score `a` is worse than `b`.
pub fn worse(higher_is_better: bool, a: f64, b: f64) -> bool {
    if higher_is_better { a < b } else { a > b }
}

/// Whether `score` is within the recovery tolerance of `level`: at most 2 points worse
/// (`point`: the metric's units per point, see [`Setup::point`]).
pub fn within_tolerance(higher_is_better: bool, point: f64, score: f64, level: f64) -> bool {
    if higher_is_better {
        score >= level - RECOVERY_POINTS * point
    } else {
        score <= level + RECOVERY_POINTS * point
    }
}

/// How the score came back after each declared drift point the comparison can see, from
/// one policy's rows (see [`Recovery`]).
pub fn recoveries(setup: &Setup, windows: &[WindowRow]) -> Vec<Recovery> {
    let score_at: BTreeMap<u64, f64> = windows.iter().map(|w| (w.window, w.score)).collect();
    let drifts = setup.stream.drift_windows();
    let end = setup.stream.windows as u64;
    let hib = setup.higher_is_better;
    let point = setup.point();
    drifts
        .iter()
        .enumerate()
        .map(|(i, &(drift_point, w))| {
            let pre: Vec<f64> = (w.saturating_sub(PRE_DRIFT_WINDOWS as u64)..w)
                .filter_map(|v| score_at.get(&v).copied())
                .collect();
            let pre_drift_level = mean(&pre);
            // Until the next drift window (a later drift is its own event) or the end.
            let horizon = drifts.get(i + 1).map_or(end, |&(_, next)| next.max(w + 1));
            let mut recovery = Recovery {
                drift_point,
                drift_window: w,
                pre_drift_level,
                lowest: None,
                windows_to_recover: None,
                recovered_at: None,
            };
            let Some(level) = pre_drift_level else {
                return recovery;
            };
            let ok = |v: u64| {
                score_at
                    .get(&v)
                    .map(|&s| within_tolerance(hib, point, s, level))
            };
            // The drop shows in the drift window, or in the next one when the drift point
            // falls late in its window (the model then trained on mostly old data).
            let dip = (w..(w + 2).min(horizon)).find(|&v| ok(v) == Some(false));
            let back = match dip {
                None => (w..horizon).find(|&v| ok(v) == Some(true)),
                Some(d) => (d + 1..horizon).find(|&v| ok(v) == Some(true)),
            };
            let until = back.unwrap_or(horizon.saturating_sub(1));
            recovery.lowest = (w..=until)
                .filter_map(|v| {
                    score_at.get(&v).map(|&s| At {
                        window: v,
                        score: s,
                    })
                })
                .reduce(|a, b| if worse(hib, b.score, a.score) { b } else { a });
            recovery.recovered_at = back;
            recovery.windows_to_recover = back.map(|b| if dip.is_none() { 0 } else { b - w });
            recovery
        })
        .collect()
}

/// The mean of `xs`; `None` when empty.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The mean of `(value, weight)` pairs weighted by their weights; `None` when empty or
/// weightless.
pub fn weighted_mean(xs: &[(f64, f64)]) -> Option<f64> {
    let weight: f64 = xs.iter().map(|x| x.1).sum();
    (weight > 0.0).then(|| xs.iter().map(|(v, w)| v * w).sum::<f64>() / weight)
}

/// Pooled skill over the baseline from `(loss, baseline loss, samples)` per window (loss:
/// mse, or `1 - accuracy`): `1 - sum(samples * loss) / sum(samples * baseline loss)`, so
/// each window weighs by its errors. Where the baseline makes no error at all the skill is 0
/// for a model that makes none either and -1 otherwise (as per window). `None` when empty.
pub fn pooled_skill(rows: &[(f64, f64, f64)]) -> Option<f64> {
    if rows.is_empty() {
        return None;
    }
    let model: f64 = rows.iter().map(|(l, _, n)| l * n).sum();
    let base: f64 = rows.iter().map(|(_, b, n)| b * n).sum();
    Some(if base > 0.0 {
        1.0 - model / base
    } else if model > 0.0 {
        -1.0
    } else {
        0.0
    })
}

/// Where `m`'s loss exceeds the baseline's it records, per window (see [`ExcessLoss`]):
/// `None` when none of its windows records a baseline.
pub fn excess_loss(setup: &Setup, m: &ModeReport) -> Option<ExcessLoss> {
    let key = relearn_spec::Metric::Baseline.name();
    let rows: Vec<(u64, f64)> = m
        .windows
        .iter()
        .filter_map(|w| {
            let base = *w.prequential.get(key)?;
            let n = setup.stream.samples_of(w.window);
            Some((w.window, (setup.loss(w.score) - setup.loss(base)) * n))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut losing: Vec<(u64, f64)> = rows.iter().copied().filter(|r| r.1 > 0.0).collect();
    let total: f64 = losing.iter().map(|r| r.1).sum();
    // Largest first; equal ones in window order.
    losing.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut largest = Vec::new();
    let mut carried = 0.0;
    for &(window, excess) in &losing {
        if largest.len() == EXCESS_WINDOWS || carried >= EXCESS_SHARE {
            break;
        }
        let share = excess / total;
        carried += share;
        largest.push(WindowShare {
            window,
            excess,
            share,
        });
    }
    Some(ExcessLoss {
        policy: m.mode,
        windows_scored: rows.len(),
        losing_windows: losing.len(),
        total,
        largest,
    })
}

/// Standard error of the mean of `xs` (sample standard deviation over `sqrt(n)`).
pub fn std_error(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let m = mean(xs)?;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((var / n as f64).sqrt())
}

/// `a`'s score minus `b`'s on each window both scored, in `a`'s window order.
pub fn paired_differences(a: &ModeReport, b: &ModeReport) -> Vec<f64> {
    let theirs: BTreeMap<u64, f64> = b.windows.iter().map(|w| (w.window, w.score)).collect();
    a.windows
        .iter()
        .filter_map(|w| theirs.get(&w.window).map(|s| w.score - s))
        .collect()
}

/// `x` with `digits` significant digits (no exponent for ordinary magnitudes).
pub fn format_sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).clamp(0, 12) as usize;
    format!("{x:.decimals$}")
}

/// The variance of the target over the stream's initial windows (what a point of mse is
/// measured against).
pub fn initial_target_variance(stream: &Stream) -> Result<f64, DataError> {
    let (mut n, mut sum, mut sum_sq) = (0.0f64, 0.0f64, 0.0f64);
    for window in stream.windows()?.take(stream.initial_windows()) {
        for &y in &window?.batch.targets {
            let y = f64::from(y);
            n += 1.0;
            sum += y;
            sum_sq += y * y;
        }
    }
    let mean = sum / n.max(1.0);
    Ok((sum_sq / n.max(1.0) - mean * mean).max(0.0))
}
