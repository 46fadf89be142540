//! The training loop and the scoring of a model on a batch.
//!
//! One function trains ([`fit`]) and one scores ([`score`]); both stateless and stateful
//! updates, the initial model, `eval` and `predict` go through them.

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use relearn_data::{Batch, Task};
use relearn_model::{Mlp, cross_entropy, mean_squared_error};

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
}

/// Training stopped because the loss stopped being a finite number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diverged {
    /// The epoch (0-based) whose mean loss was not finite.
    pub epoch: usize,
}

/// Trains `model` (on an autodiff device) on `data` (already preprocessed), shuffling each
/// epoch. Returns the model and the mean training loss of the last epoch.
pub fn fit(
    mut model: Mlp,
    optimizer: &mut MlpAdam,
    data: &Batch,
    task: Task,
    settings: FitSettings,
    device: &Device,
) -> Result<(Mlp, f64), Diverged> {
    let n = data.len();
    let d = data.n_features;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(settings.shuffle_seed);
    let mut features = Vec::with_capacity(settings.batch_size * d);
    let mut last_loss = f64::NAN;
    for epoch in 0..settings.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum: Option<Tensor<1>> = None;
        for chunk in order.chunks(settings.batch_size) {
            features.clear();
            for &i in chunk {
                features.extend_from_slice(data.row(i));
            }
            let b = chunk.len();
            let x = Tensor::<2>::from_data(TensorData::new(features.clone(), [b, d]), device);
            let output = model.forward(x);
            let loss = match task {
                Task::Classification => {
                    let y: Vec<i64> = chunk.iter().map(|&i| data.targets[i] as i64).collect();
                    cross_entropy(output, Tensor::<1, Int>::from_data(TensorData::new(y, [b]), device))
                }
                Task::Regression => {
                    let y: Vec<f32> = chunk.iter().map(|&i| data.targets[i]).collect();
                    mean_squared_error(output, Tensor::<1>::from_data(TensorData::new(y, [b]), device))
                }
            };
            let grads = loss.backward();
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
        let y = model.forward(x).into_data().try_to_vec::<f32>().expect("f32 outputs");
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
pub fn metrics_from_outputs(outputs: &[f32], targets: &[f32], task: Task) -> BTreeMap<String, f64> {
    let n = targets.len().max(1) as f64;
    let mut metrics = BTreeMap::new();
    match task {
        Task::Classification => {
            let k = outputs.len() / targets.len().max(1);
            let (mut hits, mut loss) = (0usize, 0.0f64);
            for (row, &target) in outputs.chunks_exact(k.max(1)).zip(targets) {
                let (best, _) = argmax(row);
                let max = row[best] as f64;
                let log_sum = row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
                loss += log_sum - row[target as usize] as f64;
                hits += usize::from(best == target as usize);
            }
            metrics.insert("accuracy".into(), hits as f64 / n);
            metrics.insert("loss".into(), loss / n);
        }
        Task::Regression => {
            let (mut se, mut ae) = (0.0f64, 0.0f64);
            for (&p, &t) in outputs.iter().zip(targets) {
                let e = p as f64 - t as f64;
                se += e * e;
                ae += e.abs();
            }
            metrics.insert("mse".into(), se / n);
            metrics.insert("mae".into(), ae / n);
        }
    }
    metrics
}

/// Index and value of the largest entry (the first on ties).
pub fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_metrics_match_hand_computation() {
        // Two rows, two classes: logits [0, ln 3] (target 1) and [2, 0] (target 1, a miss).
        let outputs = [0.0, 3f32.ln(), 2.0, 0.0];
        let m = metrics_from_outputs(&outputs, &[1.0, 1.0], Task::Classification);
        assert_eq!(m["accuracy"], 0.5);
        let expected = (-(0.75f64).ln() + (1.0 + (-2.0f64).exp()).ln() + 2.0) / 2.0;
        assert!((m["loss"] - expected).abs() < 1e-6, "{} vs {expected}", m["loss"]);
    }

    #[test]
    fn regression_metrics_match_hand_computation() {
        let m = metrics_from_outputs(&[1.0, 2.0, 4.0], &[1.0, 0.0, 1.0], Task::Regression);
        assert!((m["mse"] - 13.0 / 3.0).abs() < 1e-12);
        assert!((m["mae"] - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]).0, 1);
        assert_eq!(argmax(&[-1.0]).0, 0);
    }
}
