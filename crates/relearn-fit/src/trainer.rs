//! The training loop: [`fit_with`] trains a model on a batch through one of two
//! implementations of the same mathematics ([`FitPath`]), and [`outputs`] runs it forward.
//!
//! A fused trainer (flat buffers, `gemm` for the products, one pass per element-wise step, no
//! autodiff graph: see `fused.rs`), the default on the Flex backend, and Burn's autodiff, on
//! any backend (`run.trainer`). Both are deterministic: the same inputs give bit-identical
//! weights and moments.

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use relearn_data::{Batch, Task};
use relearn_model::{
    Activation, FitPath, Mlp, MlpConfig, MlpWeights, cross_entropy, mean_squared_error,
};

use crate::anchor::{Anchor, Fisher};
use crate::fused;
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

/// Index and value of the largest entry (the first on ties).
pub fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
}

/// The diagonal empirical Fisher of `weights` on `data` (already preprocessed): per
/// parameter, the mean over the samples of the squared gradient of the sample's loss. No
/// dropout. All zeros for an empty `data`. Computed by the fused trainer's per-sample
/// backward whatever `run.trainer` trained, so both trainers store the same Fisher.
pub fn fisher(weights: &MlpWeights, activation: Activation, data: &Batch, task: Task) -> Fisher {
    Fisher(fused::fisher(weights, activation, data, task))
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
        let out = outputs(&model, &data, &inference);
        let hits = out
            .chunks_exact(2)
            .zip(&data.targets)
            .filter(|(row, t)| argmax(row).0 == **t as usize)
            .count();
        let accuracy = hits as f64 / data.len() as f64;
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
            let ours =
                flat(&crate::fisher(&weights, relearn_model::Activation::Gelu, &data, task).0);
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
