//! The training loop and the scoring of a model on a batch.
//!
//! One function trains ([`fit_with`]) and one scores ([`score`]); every update, the initial
//! model, `eval` and `predict` go through them.
//!
//! Training has two implementations of the same mathematics ([`FitPath`]): a fused trainer
//! (flat buffers, `gemm` for the products, one pass per element-wise step, no autodiff
//! graph: see `fit/fused.rs`), the default on the Flex backend, and Burn's autodiff, on any
//! backend (`run.trainer`). Both are deterministic: the same inputs give bit-identical
//! weights and moments.

mod fused;
mod pool;

use crate::metric::Metric;
use std::collections::BTreeMap;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use relearn_data::{Batch, Task};
use relearn_model::{Backend, Mlp, MlpConfig, cross_entropy, mean_squared_error};

use crate::anchor::Anchor;
use crate::optim::MlpAdam;

/// How long and how fast to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSettings {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the shuffling order.
    pub shuffle_seed: u64,
    /// Inputs from this one on are 0/1 and mostly 0 (missing indicators, one-hot and hashed
    /// categories: [`relearn_data::StreamInfo::binary_inputs_from`]). The fused trainer's
    /// first layer adds the weight rows of their non-zero values instead of multiplying
    /// every zero: the same sums in another order, and 2x less work on a table with string
    /// columns. `None`: every input dense (numeric tables; the autodiff path ignores it).
    pub sparse_from: Option<usize>,
}

/// Training stopped because the loss stopped being a finite number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diverged {
    /// The epoch (0-based) whose mean loss was not finite.
    pub epoch: usize,
}

/// Which implementation trains a model (`run.trainer`: `"fused"` or `"autodiff"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitPath {
    /// relearn's fused MLP trainer: `gemm` products on flat buffers, fused element-wise
    /// passes, Adam in one pass. The default on the Flex backend.
    Fused,
    /// Burn's autodiff: forward on tensors, `backward()`, Burn's `Adam::step` per parameter.
    /// The default on every other backend.
    Autodiff,
}

impl FitPath {
    /// The path a run on `backend` takes unless `run.trainer` says otherwise: the fused
    /// trainer on Flex, Burn's autodiff elsewhere.
    pub fn default_for(backend: Backend) -> FitPath {
        match backend {
            Backend::Flex => FitPath::Fused,
            Backend::Ndarray => FitPath::Autodiff,
        }
    }
}

/// Trains `model` (on an autodiff device) on `data` (already preprocessed) through `path`,
/// shuffling each epoch. Returns the model, on `device`, and the mean training loss of the
/// last epoch; the optimizer's moments are current when this returns (also after
/// divergence).
pub fn fit_with(
    path: FitPath,
    model: Mlp,
    optimizer: &mut MlpAdam,
    data: &Batch,
    task: Task,
    settings: FitSettings,
    device: &Device,
) -> Result<(Mlp, f64), Diverged> {
    fit_anchored(path, model, optimizer, data, task, settings, None, device)
}

/// [`fit_with`] with an [`Anchor`] penalty added to the loss (`stateful.anchor`); the
/// reported loss is the data's alone.
#[allow(clippy::too_many_arguments)]
pub fn fit_anchored(
    path: FitPath,
    model: Mlp,
    optimizer: &mut MlpAdam,
    data: &Batch,
    task: Task,
    settings: FitSettings,
    anchor: Option<&Anchor>,
    device: &Device,
) -> Result<(Mlp, f64), Diverged> {
    optimizer.sync();
    match path {
        FitPath::Fused => fit_fused(model, optimizer, data, task, settings, anchor, device),
        FitPath::Autodiff => {
            let result = fit_autodiff(model, optimizer, data, task, settings, anchor, device);
            optimizer.sync();
            result
        }
    }
}

/// The diagonal empirical Fisher of `weights` on `data` (see [`crate::anchor::fisher`]),
/// by the fused trainer's per-sample backward (whatever `run.trainer` trained).
pub(crate) fn fused_fisher(
    weights: &relearn_model::MlpWeights,
    activation: relearn_model::Activation,
    data: &Batch,
    task: Task,
) -> relearn_model::MlpWeights {
    fused::fisher(weights, activation, data, task)
}

fn fit_fused(
    model: Mlp,
    optimizer: &mut MlpAdam,
    data: &Batch,
    task: Task,
    settings: FitSettings,
    anchor: Option<&Anchor>,
    device: &Device,
) -> Result<(Mlp, f64), Diverged> {
    let weights = model.weights();
    let widths = weights.widths();
    let dropout = model.dropout.prob;
    let activation = model.activation;
    drop(model);
    sweep_autodiff_graphs(device);
    // Dropout masks come from a generator seeded by the device's (seeded) generator, so they
    // follow the run's seed as the autodiff path's masks do.
    let dropout_seed = if dropout > 0.0 {
        seed_from_device(device)
    } else {
        0
    };
    let batch = settings.batch_size.max(1).min(data.len().max(1));
    let mut trainer = fused::Fused::new(&weights, activation, dropout, batch, dropout_seed);
    trainer.set_sparse_from(settings.sparse_from);
    trainer.set_anchor(anchor.cloned());
    let weight_decay = optimizer.weight_decay();
    let layers = optimizer.layers().to_vec();
    let result = fused::train(
        &mut trainer,
        &mut optimizer.moments,
        data,
        task,
        settings,
        weight_decay,
        &layers,
    );
    let config = MlpConfig::from_widths(&widths)
        .expect("an MLP has input and output widths")
        .with_activation(activation)
        .with_dropout(dropout);
    let model = config
        .init_with(&trainer.weights(), device)
        .expect("the trained weights keep their shapes");
    match result {
        Ok(loss) => Ok((model, loss)),
        Err(epoch) => Err(Diverged { epoch }),
    }
}

/// Burn's autodiff keeps a graph entry for every tensor that requires a gradient (every
/// parameter of a model built on an autodiff device) until some `backward()` sweeps the
/// orphaned ones. The fused path never runs a backward, so without this a long stateful run
/// would grow by a model's worth of graph entries per window; a backward on a one-element
/// tensor sweeps them (microseconds).
fn sweep_autodiff_graphs(device: &Device) {
    if device.is_autodiff() {
        let probe = Tensor::<1>::zeros([1], device).require_grad();
        drop(probe.sum().backward());
    }
}

/// A 64-bit seed drawn from `device`'s random generator.
fn seed_from_device(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([4], Distribution::Default, &device.clone().inner());
    let draws = draws.into_data().try_to_vec::<f32>().expect("f32 draws");
    draws.iter().fold(0u64, |acc, &v| {
        acc.rotate_left(16) ^ u64::from((v * 65536.0) as u32 & 0xffff)
    })
}

fn fit_autodiff(
    mut model: Mlp,
    optimizer: &mut MlpAdam,
    data: &Batch,
    task: Task,
    settings: FitSettings,
    anchor: Option<&Anchor>,
    device: &Device,
) -> Result<(Mlp, f64), Diverged> {
    let anchor = anchor.map(|a| a.tensors(device));
    let n = data.len();
    let d = data.n_features;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(settings.shuffle_seed);
    let mut last_loss = f64::NAN;
    for epoch in 0..settings.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum: Option<Tensor<1>> = None;
        for chunk in order.chunks(settings.batch_size.max(1)) {
            let b = chunk.len();
            let mut features = Vec::with_capacity(b * d);
            for &i in chunk {
                features.extend_from_slice(&data.features[i * d..(i + 1) * d]);
            }
            let x = Tensor::<2>::from_data(TensorData::new(features, [b, d]), device);
            let output = model.forward(x);
            let loss = match task {
                Task::Classification => {
                    let y: Vec<i64> = chunk.iter().map(|&i| data.targets[i] as i64).collect();
                    cross_entropy(
                        output,
                        Tensor::<1, Int>::from_data(TensorData::new(y, [b]), device),
                    )
                }
                Task::Regression => {
                    let y: Vec<f32> = chunk.iter().map(|&i| data.targets[i]).collect();
                    mean_squared_error(
                        output,
                        Tensor::<1>::from_data(TensorData::new(y, [b]), device),
                    )
                }
            };
            // The anchor's penalty joins the loss that is differentiated, not the one reported.
            let grads = match &anchor {
                Some(a) => (loss.clone() + a.penalty(&model)).backward(),
                None => loss.backward(),
            };
            let weighted = loss.inner().mul_scalar(b as f64);
            loss_sum = Some(match loss_sum {
                Some(sum) => sum + weighted,
                None => weighted,
            });
            model = optimizer.step(settings.lr, model, &grads);
        }
        last_loss = match loss_sum {
            Some(sum) => sum.into_scalar::<f32>() as f64 / n as f64,
            None => 0.0,
        };
        if !last_loss.is_finite() {
            return Err(Diverged { epoch });
        }
    }
    Ok((model, last_loss))
}

/// Raw model outputs for every row of `features` (already preprocessed), row-major
/// `[n, outputs]`: logits for classification, predictions for regression. Runs in chunks so
/// memory stays bounded on large files.
pub fn outputs(model: &Mlp, features: &Batch, device: &Device) -> Vec<f32> {
    const CHUNK: usize = 8192;
    let d = features.n_features;
    let mut out = Vec::new();
    for start in (0..features.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(features.len());
        let rows = features.features[start * d..end * d].to_vec();
        let x = Tensor::<2>::from_data(TensorData::new(rows, [end - start, d]), device);
        let y = model
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 outputs");
        out.extend(y);
    }
    out
}

/// Scores `model` (an inference model) on `data` (already preprocessed).
///
/// Classification: `accuracy` and `loss` (mean cross-entropy). Regression: `mse` and `mae`.
/// Sums run in f64 so the same model and data give the same numbers everywhere.
pub fn score(model: &Mlp, data: &Batch, task: Task, device: &Device) -> BTreeMap<String, f64> {
    let out = outputs(model, data, device);
    metrics_from_outputs(&out, &data.targets, task)
}

/// The metrics of [`score`], from outputs already computed.
/// [`score`] of raw (unscaled) samples through `pre`: the model sees them as `pre` prepares
/// them, and the scores are in the target's own units.
pub fn score_in_target_units(
    model: &Mlp,
    pre: &relearn_data::Preprocessor,
    raw: &Batch,
    task: Task,
    device: &Device,
) -> BTreeMap<String, f64> {
    let mut out = outputs(model, &pre.transform(raw), device);
    pre.outputs_to_target_units(&mut out);
    metrics_from_outputs(&out, &raw.targets, task)
}

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

/// Index and value of the largest entry (the first on ties).
pub fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest absolute difference between two weight lists.
    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    }

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

    /// `n` rows of `d` features in [-1, 1), labels from a fixed rule (or a smooth target).
    fn toy(n: usize, d: usize, task: Task) -> Batch {
        let mut s = 12345u32;
        let mut batch = Batch::with_capacity(d, n);
        let mut row = vec![0.0f32; d];
        for _ in 0..n {
            for v in &mut row {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *v = (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
            }
            let target = match task {
                Task::Classification => f32::from(row[0] + 0.5 * row[1] > 0.0),
                Task::Regression => row[0] * 2.0 - row[1],
            };
            batch.push(&row, target);
        }
        batch
    }

    /// An MLP with fixed weights (no draw from the device's shared generator).
    fn fixed_model(
        widths: &[usize],
        activation: relearn_model::Activation,
        dropout: f64,
        device: &Device,
    ) -> Mlp {
        let mut s = 777u32;
        let mut next = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.8
        };
        let layers = widths
            .windows(2)
            .map(|w| relearn_model::LayerWeights {
                d_input: w[0],
                d_output: w[1],
                weight: (0..w[0] * w[1]).map(|_| next()).collect(),
                bias: (0..w[1]).map(|_| next() * 0.1).collect(),
            })
            .collect();
        MlpConfig::from_widths(widths)
            .unwrap()
            .with_activation(activation)
            .with_dropout(dropout)
            .init_with(&relearn_model::MlpWeights { layers }, device)
            .unwrap()
    }

    /// The settings most trainer tests use.
    const TWO_EPOCHS: FitSettings = FitSettings {
        epochs: 2,
        batch_size: 16,
        lr: 1e-3,
        shuffle_seed: 9,
        sparse_from: None,
    };

    fn train(
        path: FitPath,
        activation: relearn_model::Activation,
        task: Task,
        data: &Batch,
    ) -> (Vec<f32>, Vec<u8>, f64) {
        train_with(path, activation, task, data, TWO_EPOCHS)
    }

    /// Trains `fixed_model` (`data`'s width, 16, 12, 3 classes or 1 value) through `path`;
    /// its weights and biases in one list, the moments' bytes and the last epoch's loss.
    fn train_with(
        path: FitPath,
        activation: relearn_model::Activation,
        task: Task,
        data: &Batch,
        settings: FitSettings,
    ) -> (Vec<f32>, Vec<u8>, f64) {
        let device = relearn_model::Backend::Flex.device().autodiff();
        let outputs = if task == Task::Classification { 3 } else { 1 };
        let model = fixed_model(
            &[data.n_features, 16, 12, outputs],
            activation,
            0.0,
            &device,
        );
        let mut optimizer = MlpAdam::new(0.01, crate::optim::AdamMoments::default());
        let (model, loss) =
            fit_with(path, model, &mut optimizer, data, task, settings, &device).unwrap();
        let weights = model
            .weights()
            .layers
            .iter()
            .flat_map(|l| l.weight.iter().chain(&l.bias).copied())
            .collect();
        (weights, optimizer.moments.to_bytes(), loss)
    }

    #[test]
    fn fused_trainer_matches_burn_autodiff() {
        use relearn_model::Activation;
        for task in [Task::Classification, Task::Regression] {
            let data = toy(100, 5, task);
            for activation in Activation::ALL {
                let (fused, fused_moments, fused_loss) =
                    train(FitPath::Fused, activation, task, &data);
                let (burn, burn_moments, burn_loss) =
                    train(FitPath::Autodiff, activation, task, &data);
                assert_eq!(fused.len(), burn.len());
                let worst = max_abs_diff(&fused, &burn);
                assert!(
                    worst < 1e-4,
                    "{task:?} {activation:?}: weights differ by up to {worst}"
                );
                assert!(
                    (fused_loss - burn_loss).abs() < 1e-4 * (1.0 + burn_loss.abs()),
                    "{fused_loss} vs {burn_loss}"
                );
                assert_eq!(fused_moments.len(), burn_moments.len());
            }
        }
    }

    /// `toy`'s rows with 12 one-hot inputs appended: three columns of four slots, each
    /// set from the row's features (or, every seventh row, left all zero, as a missing or
    /// unhashed category is).
    fn toy_one_hot(n: usize, task: Task) -> Batch {
        let numeric = toy(n, 3, task);
        let mut batch = Batch::with_capacity(15, n);
        for r in 0..n {
            let mut row = numeric.row(r).to_vec();
            let mut slots = [0.0f32; 12];
            for (c, &x) in numeric.row(r).iter().enumerate() {
                if (r + c) % 7 != 0 {
                    slots[c * 4 + ((x + 1.0) * 2.0).clamp(0.0, 3.0) as usize] = 1.0;
                }
            }
            row.extend(slots);
            batch.push(&row, numeric.targets[r]);
        }
        batch
    }

    /// The fused trainer's weights and moments on `data` with inputs `sparse_from..` sparse.
    fn train_sparse(data: &Batch, task: Task, sparse_from: Option<usize>) -> (Vec<f32>, Vec<u8>) {
        let settings = FitSettings {
            epochs: 3,
            batch_size: 16,
            lr: 1e-2,
            shuffle_seed: 9,
            sparse_from,
        };
        let relu = relearn_model::Activation::Relu;
        let (weights, moments, _) = train_with(FitPath::Fused, relu, task, data, settings);
        (weights, moments)
    }

    #[test]
    fn sparse_inputs_train_as_dense_ones_do() {
        for task in [Task::Classification, Task::Regression] {
            let data = toy_one_hot(100, task);
            let (dense, dense_moments) = train_sparse(&data, task, None);
            // Past the width is every input dense: the same bits.
            assert_eq!(train_sparse(&data, task, Some(15)).0, dense);
            // The one-hot inputs sparse, the numeric ones too (no dense product at all), and
            // the dense product alone (a sparse tail that is all zeros for some rows).
            for from in [3, 0, 14] {
                let (sparse, sparse_moments) = train_sparse(&data, task, Some(from));
                let worst = max_abs_diff(&sparse, &dense);
                assert!(sparse.iter().all(|w| w.is_finite()), "{task:?} from {from}");
                assert!(
                    worst < 1e-5,
                    "{task:?} from {from}: weights differ by {worst}"
                );
                assert_eq!(sparse_moments.len(), dense_moments.len());
            }
        }
    }

    /// Trains through `path` with per-layer options; the weights per layer and the moments.
    fn train_layers(
        path: FitPath,
        layers: Vec<crate::optim::LayerOptions>,
        moments: crate::optim::AdamMoments,
        data: &Batch,
    ) -> (relearn_model::MlpWeights, crate::optim::AdamMoments) {
        let device = relearn_model::Backend::Flex.device().autodiff();
        let model = fixed_model(
            &[data.n_features, 16, 12, 3],
            relearn_model::Activation::Tanh,
            0.0,
            &device,
        );
        let mut optimizer = MlpAdam::new(0.01, moments).with_layers(layers);
        let task = Task::Classification;
        let (model, _) =
            fit_with(path, model, &mut optimizer, data, task, TWO_EPOCHS, &device).unwrap();
        (model.weights(), optimizer.moments)
    }

    #[test]
    fn both_trainers_freeze_layers_and_scale_their_learning_rates_alike() {
        use crate::optim::{AdamMoments, LayerOptions};
        let data = toy(100, 5, Task::Classification);
        let device = relearn_model::Backend::Flex.device();
        let start = fixed_model(
            &[5, 16, 12, 3],
            relearn_model::Activation::Tanh,
            0.0,
            &device,
        )
        .weights();
        let options = vec![
            LayerOptions {
                frozen: true,
                lr_scale: 1.0,
            },
            LayerOptions {
                frozen: false,
                lr_scale: 0.25,
            },
            LayerOptions {
                frozen: false,
                lr_scale: 3.0,
            },
        ];
        // Moments from an earlier fit, so that a frozen layer's must stay as they were.
        let (_, earlier) = train_layers(FitPath::Fused, Vec::new(), AdamMoments::default(), &data);
        let (fused, fused_m) =
            train_layers(FitPath::Fused, options.clone(), earlier.clone(), &data);
        let (burn, burn_m) =
            train_layers(FitPath::Autodiff, options.clone(), earlier.clone(), &data);
        for (name, weights, moments) in [("fused", &fused, &fused_m), ("autodiff", &burn, &burn_m)]
        {
            assert_eq!(
                weights.layers[0], start.layers[0],
                "{name}: layer 0 is frozen"
            );
            assert_ne!(weights.layers[1], start.layers[1], "{name}: layer 1 trains");
            assert_eq!(
                moments.weights[0], earlier.weights[0],
                "{name}: frozen moments"
            );
            assert_eq!(
                moments.biases[0], earlier.biases[0],
                "{name}: frozen moments"
            );
            assert_ne!(moments.weights[1], earlier.weights[1], "{name}");
        }
        for (l, (a, b)) in fused.layers.iter().zip(&burn.layers).enumerate() {
            let worst = a
                .weight
                .iter()
                .chain(&a.bias)
                .zip(b.weight.iter().chain(&b.bias))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "layer {l}: the trainers differ by up to {worst}"
            );
        }
        // The factors act: a layer trained at another rate ends elsewhere, and all-ones
        // factors are the plain optimizer, bit for bit.
        let (plain, _) = train_layers(FitPath::Fused, Vec::new(), earlier.clone(), &data);
        let ones = vec![LayerOptions::default(); 3];
        let (with_ones, _) = train_layers(FitPath::Fused, ones.clone(), earlier.clone(), &data);
        assert_eq!(plain, with_ones);
        let (burn_ones, _) = train_layers(FitPath::Autodiff, ones, earlier.clone(), &data);
        let (burn_plain, _) = train_layers(FitPath::Autodiff, Vec::new(), earlier, &data);
        assert_eq!(burn_plain, burn_ones);
        assert_ne!(plain.layers[2], fused.layers[2]);
    }

    #[test]
    fn fused_trainer_is_deterministic() {
        let data = toy(300, 7, Task::Classification);
        let a = train(
            FitPath::Fused,
            relearn_model::Activation::Relu,
            Task::Classification,
            &data,
        );
        let b = train(
            FitPath::Fused,
            relearn_model::Activation::Relu,
            Task::Classification,
            &data,
        );
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.2.to_bits(), b.2.to_bits());
    }

    #[test]
    fn fused_trainer_learns_and_uses_dropout() {
        let data = toy(400, 4, Task::Classification);
        let device = relearn_model::Backend::Flex.device().autodiff();
        let model = fixed_model(&[4, 32, 2], relearn_model::Activation::Relu, 0.2, &device);
        let mut optimizer = MlpAdam::new(0.0, crate::optim::AdamMoments::default());
        let settings = FitSettings {
            epochs: 30,
            batch_size: 32,
            lr: 1e-2,
            shuffle_seed: 1,
            sparse_from: None,
        };
        let (model, loss) = fit_with(
            FitPath::Fused,
            model,
            &mut optimizer,
            &data,
            Task::Classification,
            settings,
            &device,
        )
        .unwrap();
        assert!(loss < 0.3, "loss {loss}");
        let inference = relearn_model::Backend::Flex.device();
        let model = relearn_model::MlpConfig::new(4, vec![32], 2)
            .init_with(&model.weights(), &inference)
            .unwrap();
        let accuracy = score(&model, &data, Task::Classification, &inference)["accuracy"];
        assert!(accuracy > 0.9, "accuracy {accuracy}");
        assert_eq!(optimizer.moments.steps(), 30 * 13);
    }

    /// Trains the fixed model of [`train`] with `anchor`, through `path`.
    fn train_anchored(
        path: FitPath,
        task: Task,
        data: &Batch,
        anchor: &Anchor,
        epochs: usize,
    ) -> Vec<f32> {
        let device = relearn_model::Backend::Flex.device().autodiff();
        let outputs = if task == Task::Classification { 3 } else { 1 };
        let model = fixed_model(
            &[data.n_features, 16, 12, outputs],
            relearn_model::Activation::Tanh,
            0.0,
            &device,
        );
        let mut optimizer = MlpAdam::new(0.01, crate::optim::AdamMoments::default());
        let settings = FitSettings {
            epochs,
            batch_size: 16,
            lr: 1e-2,
            shuffle_seed: 9,
            sparse_from: None,
        };
        let (model, _) = fit_anchored(
            path,
            model,
            &mut optimizer,
            data,
            task,
            settings,
            Some(anchor),
            &device,
        )
        .unwrap();
        flat(&model.weights())
    }

    fn flat(w: &relearn_model::MlpWeights) -> Vec<f32> {
        w.layers
            .iter()
            .flat_map(|l| l.weight.iter().chain(&l.bias).copied())
            .collect()
    }

    /// Weights shaped as the fixed model, each `f(i)` for its flat index `i`.
    fn shaped(widths: &[usize], f: impl Fn(usize) -> f32) -> relearn_model::MlpWeights {
        let mut i = 0;
        let mut next = || {
            i += 1;
            f(i)
        };
        relearn_model::MlpWeights {
            layers: widths
                .windows(2)
                .map(|w| relearn_model::LayerWeights {
                    d_input: w[0],
                    d_output: w[1],
                    weight: (0..w[0] * w[1]).map(|_| next()).collect(),
                    bias: (0..w[1]).map(|_| next()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn anchored_fused_trainer_matches_burn_autodiff() {
        for task in [Task::Classification, Task::Regression] {
            let data = toy(100, 5, task);
            let outputs = if task == Task::Classification { 3 } else { 1 };
            let widths = [5, 16, 12, outputs];
            let center = shaped(&widths, |i| ((i as f32) * 0.37).sin() * 0.3);
            let precision = shaped(&widths, |i| ((i * 7 % 11) as f32) * 0.2);
            for anchor in [
                Anchor {
                    strength: 0.5,
                    center: center.clone(),
                    precision: None,
                },
                Anchor {
                    strength: 3.0,
                    center: center.clone(),
                    precision: Some(precision.clone()),
                },
            ] {
                let fused = train_anchored(FitPath::Fused, task, &data, &anchor, 2);
                let burn = train_anchored(FitPath::Autodiff, task, &data, &anchor, 2);
                let worst = max_abs_diff(&fused, &burn);
                assert!(
                    worst < 1e-4,
                    "{task:?}: anchored weights differ by up to {worst}"
                );
                // And the anchor did something: unanchored training ends elsewhere.
                let free = Anchor {
                    strength: 1e-30,
                    ..anchor.clone()
                };
                let unanchored = train_anchored(FitPath::Fused, task, &data, &free, 2);
                let moved = max_abs_diff(&fused, &unanchored);
                assert!(
                    moved > 1e-3,
                    "{task:?}: the anchor changed nothing ({moved})"
                );
            }
        }
    }

    #[test]
    fn a_huge_l2_anchor_keeps_the_weights_at_its_centre() {
        let data = toy(200, 5, Task::Classification);
        let device = relearn_model::Backend::Flex.device().autodiff();
        let start = fixed_model(
            &[5, 16, 12, 3],
            relearn_model::Activation::Tanh,
            0.0,
            &device,
        )
        .weights();
        let anchor = Anchor {
            strength: 1e6,
            center: start.clone(),
            precision: None,
        };
        for path in [FitPath::Fused, FitPath::Autodiff] {
            let trained = train_anchored(path, Task::Classification, &data, &anchor, 5);
            let worst = max_abs_diff(&trained, &flat(&start));
            // Adam moves each weight by about lr (1e-2) per step; the anchor's
            // gradient dominates and pulls it straight back.
            assert!(
                worst < 5e-2,
                "{path:?}: a weight moved {worst} from its anchor"
            );
        }
        // Without the anchor the same training moves weights much further.
        let free = Anchor {
            strength: 1e-30,
            ..anchor
        };
        let trained = train_anchored(FitPath::Fused, Task::Classification, &data, &free, 5);
        let worst = max_abs_diff(&trained, &flat(&start));
        assert!(worst > 0.1, "free training moved at most {worst}");
    }

    #[test]
    fn fisher_is_the_mean_squared_per_sample_gradient_burn_computes() {
        for task in [Task::Classification, Task::Regression] {
            let data = toy(20, 4, task);
            let outputs = if task == Task::Classification { 3 } else { 1 };
            let device = relearn_model::Backend::Flex.device().autodiff();
            let model = fixed_model(
                &[4, 8, outputs],
                relearn_model::Activation::Gelu,
                0.0,
                &device,
            );
            let weights = model.weights();
            let ours = flat(
                &crate::anchor::fisher(&weights, relearn_model::Activation::Gelu, &data, task).0,
            );
            // Burn: one backward per sample, squared gradients averaged.
            let mut sum = vec![0.0f64; ours.len()];
            for i in 0..data.len() {
                let x = Tensor::<2>::from_data(
                    TensorData::new(data.features[i * 4..(i + 1) * 4].to_vec(), [1, 4]),
                    &device,
                );
                let out = model.forward(x);
                let loss = match task {
                    Task::Classification => cross_entropy(
                        out,
                        Tensor::<1, Int>::from_data(
                            TensorData::new(vec![data.targets[i] as i64], [1]),
                            &device,
                        ),
                    ),
                    Task::Regression => mean_squared_error(
                        out,
                        Tensor::<1>::from_data(
                            TensorData::new(vec![data.targets[i]], [1]),
                            &device,
                        ),
                    ),
                };
                let grads = loss.backward();
                let mut k = 0;
                for layer in &model.layers {
                    let gw = layer.weight.val().grad(&grads).unwrap();
                    let gb = layer.bias.as_ref().unwrap().val().grad(&grads).unwrap();
                    for g in gw
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap()
                        .into_iter()
                        .chain(gb.into_data().try_to_vec::<f32>().unwrap())
                    {
                        sum[k] += f64::from(g) * f64::from(g);
                        k += 1;
                    }
                }
            }
            for (k, (&a, s)) in ours.iter().zip(&sum).enumerate() {
                let b = (s / data.len() as f64) as f32;
                assert!(
                    (a - b).abs() <= 1e-5 + 1e-3 * b.abs(),
                    "{task:?} parameter {k}: {a} vs {b}"
                );
            }
            assert!(ours.iter().any(|&v| v > 0.0));
        }
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]).0, 1);
        assert_eq!(argmax(&[-1.0]).0, 0);
    }
}
