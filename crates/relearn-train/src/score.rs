//! Scoring a model on a window: the metrics of a task ([`Metric`] names), the no-skill
//! baseline a score is compared with, and the per-sample losses a drift detector reads.
//!
//! Every sum runs in f64, so the same model and data give the same numbers everywhere.

use std::collections::BTreeMap;

use burn::tensor::Device;
use relearn_data::{Batch, Preprocessor, Task};
use relearn_fit::{argmax, outputs};
use relearn_model::Mlp;
use relearn_spec::Metric;

/// Scores `model` (an inference model) on `data` (already preprocessed).
///
/// Classification: `accuracy` and `loss` (mean cross-entropy). Regression: `mse` and `mae`.
/// Sums run in f64 so the same model and data give the same numbers everywhere.
pub fn score(model: &Mlp, data: &Batch, task: Task, device: &Device) -> BTreeMap<String, f64> {
    let out = outputs(model, data, device);
    metrics_from_outputs(&out, &data.targets, task)
}

/// The metrics of a model's raw `outputs` (on inputs `pre` prepared) against `targets` in
/// their own units: regression outputs are first brought back to those units through `pre`.
pub fn metrics_in_target_units(
    pre: &Preprocessor,
    mut outputs: Vec<f32>,
    targets: &[f32],
    task: Task,
) -> BTreeMap<String, f64> {
    pre.outputs_to_target_units(&mut outputs);
    metrics_from_outputs(&outputs, targets, task)
}

/// The metrics of [`score`], from outputs already computed.
pub fn metrics_from_outputs(outputs: &[f32], targets: &[f32], task: Task) -> BTreeMap<String, f64> {
    let n = targets.len().max(1) as f64;
    let mut metrics = BTreeMap::new();
    match task {
        Task::Classification => {
            let k = outputs.len() / targets.len().max(1);
            let (mut hits, mut loss) = (0usize, 0.0f64);
            for (row, &target) in outputs.chunks_exact(k.max(1)).zip(targets) {
                let (best, _) = argmax(row);
                loss += row_cross_entropy(row, best, target as usize);
                hits += usize::from(best == target as usize);
            }
            metrics.insert(Metric::Accuracy.name().into(), hits as f64 / n);
            metrics.insert(Metric::Loss.name().into(), loss / n);
        }
        Task::Regression => {
            let (mut se, mut ae) = (0.0f64, 0.0f64);
            for (&p, &t) in outputs.iter().zip(targets) {
                let e = p as f64 - t as f64;
                se += e * e;
                ae += e.abs();
            }
            metrics.insert(Metric::Mse.name().into(), se / n);
            metrics.insert(Metric::Mae.name().into(), ae / n);
        }
    }
    metrics
}

/// The no-skill forecast's score on `targets`, in `task`'s headline metric: the most frequent
/// class of `previous` (the smallest class id on ties) and its accuracy, or the mean of
/// `previous` and its mean squared error. `None` without a previous window.
pub fn baseline_score(previous: &[f32], targets: &[f32], task: Task) -> Option<f64> {
    if previous.is_empty() || targets.is_empty() {
        return None;
    }
    let n = targets.len() as f64;
    Some(match task {
        Task::Classification => {
            let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
            for &t in previous {
                *counts.entry(t as usize).or_default() += 1;
            }
            let majority = counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&c, _)| c)
                .unwrap_or(0);
            targets.iter().filter(|&&t| t as usize == majority).count() as f64 / n
        }
        Task::Regression => {
            let mean = previous.iter().map(|&y| f64::from(y)).sum::<f64>() / previous.len() as f64;
            targets
                .iter()
                .map(|&y| (f64::from(y) - mean).powi(2))
                .sum::<f64>()
                / n
        }
    })
}

/// Skill of `score` over `baseline` (both in `task`'s headline metric): classification
/// `(acc - base) / (1 - base)`, regression `1 - mse / base`. Where the baseline is perfect
/// (accuracy 1, or mse 0) the skill is 0 for a perfect model and `-1` otherwise.
pub fn skill_score(score: f64, baseline: f64, task: Task) -> f64 {
    match task {
        Task::Classification if baseline >= 1.0 => {
            if score >= 1.0 {
                0.0
            } else {
                -1.0
            }
        }
        Task::Classification => (score - baseline) / (1.0 - baseline),
        Task::Regression if baseline <= 0.0 => {
            if score <= 0.0 {
                0.0
            } else {
                -1.0
            }
        }
        Task::Regression => 1.0 - score / baseline,
    }
}

/// Adds to `scores` (which hold `task`'s headline metric, scored on `targets`) the no-skill
/// forecast's score under [`Metric::Baseline`] (the forecast made from `previous`, see
/// [`baseline_score`]) and the skill over it under [`Metric::Skill`]; adds nothing without
/// a previous window or a headline score.
pub fn add_skill(
    scores: &mut BTreeMap<String, f64>,
    previous: &[f32],
    targets: &[f32],
    task: Task,
) {
    let headline = scores.get(Metric::headline(task).name()).copied();
    if let (Some(base), Some(score)) = (baseline_score(previous, targets, task), headline) {
        scores.insert(Metric::Baseline.name().into(), base);
        scores.insert(Metric::Skill.name().into(), skill_score(score, base, task));
    }
}

/// Each sample's loss from outputs already computed: cross-entropy for classification,
/// squared error for regression (the per-sample terms whose means [`metrics_from_outputs`]
/// reports as `loss` and `mse`).
pub fn sample_losses(outputs: &[f32], targets: &[f32], task: Task) -> Vec<f64> {
    match task {
        Task::Classification => {
            let k = (outputs.len() / targets.len().max(1)).max(1);
            outputs
                .chunks_exact(k)
                .zip(targets)
                .map(|(row, &target)| row_cross_entropy(row, argmax(row).0, target as usize))
                .collect()
        }
        Task::Regression => outputs
            .iter()
            .zip(targets)
            .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
            .collect(),
    }
}

/// One row's cross-entropy from its logits, `log Σ exp(row) - row[target]`, computed in f64
/// around the row's largest logit (at index `best`) so it cannot overflow. A class the model
/// has no output for yet (first seen in this window) is scored as if it had the row's lowest
/// logit: finite, and at least as bad as any class the model knows.
fn row_cross_entropy(row: &[f32], best: usize, target: usize) -> f64 {
    let target_logit = match row.get(target) {
        Some(&v) => v as f64,
        None => row.iter().fold(f32::INFINITY, |a, &b| a.min(b)) as f64,
    };
    let max = row[best] as f64;
    let log_sum = row
        .iter()
        .map(|&v| (v as f64 - max).exp())
        .sum::<f64>()
        .ln()
        + max;
    log_sum - target_logit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_losses_average_to_the_reported_loss() {
        let outputs = [0.0, 3f32.ln(), 2.0, 0.0, 1.0, 1.0];
        let targets = [1.0, 1.0, 0.0];
        let losses = sample_losses(&outputs, &targets, Task::Classification);
        let m = metrics_from_outputs(&outputs, &targets, Task::Classification);
        assert!((losses[0] - (4f64 / 3.0).ln()).abs() < 1e-6, "{losses:?}");
        assert!((losses.iter().sum::<f64>() / 3.0 - m["loss"]).abs() < 1e-12);
        let losses = sample_losses(&[1.0, 4.0], &[0.0, 2.0], Task::Regression);
        assert_eq!(losses, vec![1.0, 4.0]);
    }

    #[test]
    fn classification_metrics_match_hand_computation() {
        // Two rows, two classes: logits [0, ln 3] (target 1) and [2, 0] (target 1, a miss).
        let outputs = [0.0, 3f32.ln(), 2.0, 0.0];
        let m = metrics_from_outputs(&outputs, &[1.0, 1.0], Task::Classification);
        assert_eq!(m["accuracy"], 0.5);
        let expected = (-(0.75f64).ln() + (1.0 + (-2.0f64).exp()).ln() + 2.0) / 2.0;
        assert!(
            (m["loss"] - expected).abs() < 1e-6,
            "{} vs {expected}",
            m["loss"]
        );
    }

    #[test]
    fn regression_metrics_match_hand_computation() {
        let m = metrics_from_outputs(&[1.0, 2.0, 4.0], &[1.0, 0.0, 1.0], Task::Regression);
        assert!((m["mse"] - 13.0 / 3.0).abs() < 1e-12);
        assert!((m["mae"] - 5.0 / 3.0).abs() < 1e-12);
    }
}
