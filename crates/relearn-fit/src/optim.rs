//! Adam, with a state that a checkpoint can carry.
//!
//! The arithmetic is Burn's [`burn::optim::Adam`] (betas 0.9/0.999, L2 weight decay added to
//! the gradient, bias correction folded into the step size, `eps` scaled by the second bias
//! correction), applied per parameter. Burn's `ModuleOptimizer` keys its state by random
//! parameter ids, so its saved form differs from run to run; checkpoint ids hash these bytes,
//! so this module keeps the moments in layer order, as plain `f32` vectors, and encodes them
//! deterministically instead.
//!
//! Two code paths use the moments: the fused trainer of [`crate::fit_with`] updates them in place
//! with [`adam_update`] (one pass over parameter, gradient and both moments), and the Burn
//! autodiff path ([`MlpAdam::step`]) runs Burn's own `Adam::step` on tensors it caches for
//! the duration of a fit ([`MlpAdam::sync`] writes them back).

use burn::module::Param;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use relearn_model::Mlp;
use relearn_model::bytes::{ByteReader, Truncated};
use relearn_model::parts::{self, PartError};

/// Adam's first decay rate (PyTorch's and Burn's default).
pub const BETA_1: f32 = 0.9;
/// Adam's second decay rate (PyTorch's and Burn's default).
pub const BETA_2: f32 = 0.999;
/// Adam's epsilon (PyTorch's default).
pub const EPSILON: f32 = 1e-8;

/// Adam's state for one parameter tensor: the step count and both moments, flat.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    /// Steps taken.
    pub time: usize,
    /// First moment (mean of gradients).
    pub m1: Vec<f32>,
    /// Second moment (mean of squared gradients).
    pub m2: Vec<f32>,
}

/// The moments of every parameter of an [`Mlp`], layer by layer (weight, then bias).
#[derive(Clone, Default, PartialEq)]
pub struct AdamMoments {
    pub(crate) weights: Vec<Option<Moment>>,
    pub(crate) biases: Vec<Option<Moment>>,
}

impl std::fmt::Debug for AdamMoments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdamMoments")
            .field("layers", &self.weights.len())
            .field("steps", &self.steps())
            .finish()
    }
}

const MAGIC: &[u8; 8] = b"RLADAM\x00\x01";

impl AdamMoments {
    /// Steps taken so far (0 for a fresh optimizer).
    pub fn steps(&self) -> usize {
        self.weights
            .iter()
            .flatten()
            .map(|s| s.time)
            .next()
            .unwrap_or(0)
    }

    /// Encodes the moments: tag, layer count, then per parameter a present flag, the step
    /// count (u64 LE), the element count (u32 LE) and both moments as f32 LE.
    pub fn to_bytes(&self) -> Vec<u8> {
        let values: usize = self
            .weights
            .iter()
            .chain(&self.biases)
            .flatten()
            .map(|m| 2 * m.m1.len())
            .sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + 26 * self.weights.len() + 4 * values);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.weights.len() as u32).to_le_bytes());
        for (w, b) in self.weights.iter().zip(&self.biases) {
            encode_state(&mut out, w.as_ref());
            encode_state(&mut out, b.as_ref());
        }
        out
    }

    /// Decodes [`AdamMoments::to_bytes`], checking each moment has the shape of the matching
    /// parameter of `model`. (`_device` is kept for callers; the moments live on the host.)
    pub fn from_bytes(
        bytes: &[u8],
        model: &Mlp,
        _device: &Device,
    ) -> Result<AdamMoments, PartError> {
        let shapes: Vec<[usize; 2]> = model.layers.iter().map(|l| l.weight.dims()).collect();
        AdamMoments::from_bytes_for(bytes, &shapes)
    }

    /// [`AdamMoments::from_bytes`] for layers of the given `[d_input, d_output]` shapes.
    pub fn from_bytes_for(bytes: &[u8], shapes: &[[usize; 2]]) -> Result<AdamMoments, PartError> {
        let mut r = ByteReader::new(bytes);
        if r.take(MAGIC.len()).map_err(truncated)? != MAGIC {
            return Err(malformed("not a relearn optimizer state (bad tag)"));
        }
        let layers = r.u32().map_err(truncated)? as usize;
        if layers != shapes.len() {
            return Err(malformed(format!(
                "{layers} layers, the model has {}",
                shapes.len()
            )));
        }
        let mut moments = AdamMoments::default();
        for &[i, o] in shapes {
            moments.weights.push(decode_state(&mut r, i * o, &[i, o])?);
            moments.biases.push(decode_state(&mut r, o, &[o])?);
        }
        if !r.rest().is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(moments)
    }

    /// Makes room for `layers` layers (absent moments start fresh).
    pub(crate) fn ensure_layers(&mut self, layers: usize) {
        self.weights.resize(layers, None);
        self.biases.resize(layers, None);
    }
}

fn encode_state(out: &mut Vec<u8>, state: Option<&Moment>) {
    let Some(state) = state else {
        out.push(0);
        return;
    };
    out.push(1);
    out.extend_from_slice(&(state.time as u64).to_le_bytes());
    out.extend_from_slice(&(state.m1.len() as u32).to_le_bytes());
    for v in state.m1.iter().chain(&state.m2) {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_state(
    r: &mut ByteReader<'_>,
    len: usize,
    shape: &[usize],
) -> Result<Option<Moment>, PartError> {
    if r.take(1).map_err(truncated)?[0] == 0 {
        return Ok(None);
    }
    let time = r.u64().map_err(truncated)? as usize;
    let n = r.u32().map_err(truncated)? as usize;
    if n != len {
        return Err(malformed(format!(
            "a moment has {n} values, its parameter {shape:?}"
        )));
    }
    let m1 = r.f32s(n).map_err(truncated)?;
    let m2 = r.f32s(n).map_err(truncated)?;
    Ok(Some(Moment { time, m1, m2 }))
}

/// A read past the end of the optimizer state.
fn truncated(_: Truncated) -> PartError {
    malformed("truncated")
}

/// The optimizer state's [`PartError`].
fn malformed(reason: impl Into<String>) -> PartError {
    PartError::Malformed {
        part: parts::OPTIMIZER,
        reason: reason.into(),
    }
}

/// One Adam step on `param` from `grad`, in place, with `moment` (created on the first step).
///
/// The same operations, in the same order and precision, as Burn's `Adam::step`: the
/// gradient plus `weight_decay * param`, then `m1 = b1 m1 + (1 - b1) g`,
/// `m2 = b2 m2 + (1 - b2) g^2`, then `param -= lr * (m1 c) / (sqrt(m2) + eps s)` with
/// `s = sqrt(1 - b2^t)` and `c = s / (1 - b1^t)`. One pass over the four arrays.
pub fn adam_update(
    param: &mut [f32],
    grad: &[f32],
    moment: &mut Option<Moment>,
    lr: f64,
    weight_decay: f32,
) {
    let step = Moment::begin_step(moment, param.len(), grad.len());
    adam_update_slices(
        param,
        grad,
        step.m1,
        step.m2,
        step.time,
        step.first,
        lr,
        weight_decay,
    );
}

/// One Adam step's moments, from [`Moment::begin_step`].
pub(crate) struct Step<'a> {
    /// The step count after this step.
    pub(crate) time: usize,
    /// Whether the moments were just created (then they are written, not read).
    pub(crate) first: bool,
    pub(crate) m1: &'a mut [f32],
    pub(crate) m2: &'a mut [f32],
}

impl Moment {
    /// Starts one Adam step over `n` parameters with a gradient of `grad_len` values:
    /// creates the moments on the first step, checks the lengths and advances the count.
    pub(crate) fn begin_step(moment: &mut Option<Moment>, n: usize, grad_len: usize) -> Step<'_> {
        assert_eq!(grad_len, n, "gradient and parameter differ in length");
        let first = moment.is_none();
        let state = moment.get_or_insert_with(|| Moment {
            time: 0,
            m1: vec![0.0; n],
            m2: vec![0.0; n],
        });
        assert_eq!(state.m1.len(), n, "moment and parameter differ in length");
        assert_eq!(state.m2.len(), n, "moment and parameter differ in length");
        state.time += 1;
        Step {
            time: state.time,
            first,
            m1: &mut state.m1,
            m2: &mut state.m2,
        }
    }
}

/// The arithmetic of [`adam_update`] on one block of elements: `time` is the step count
/// after this step, `first` whether the moments are new (then they are written, not read).
///
/// Runs with AVX2 where the CPU has it (the same IEEE operations in the same order, so the
/// same bits, only 8 lanes at a time).
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_update_slices(
    param: &mut [f32],
    grad: &[f32],
    m1: &mut [f32],
    m2: &mut [f32],
    time: usize,
    first: bool,
    lr: f64,
    weight_decay: f32,
) {
    let time = time as i32;
    let bias_correction2_sqrt = (1.0 - BETA_2.powi(time)).sqrt();
    let c = AdamConstants {
        combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(time)),
        eps: EPSILON * bias_correction2_sqrt,
        lr: lr as f32,
        weight_decay,
    };
    adam_kernel(param, grad, m1, m2, first, &c);
}

struct AdamConstants {
    combined: f32,
    eps: f32,
    lr: f32,
    weight_decay: f32,
}

with_avx2! {
    #[allow(clippy::needless_range_loop)] // indexing four slices of one length vectorises best
    fn adam_kernel(
        param: &mut [f32],
        grad: &[f32],
        m1: &mut [f32],
        m2: &mut [f32],
        first: bool,
        c: &AdamConstants,
    ) {
        let n = param.len();
        let (grad, m1, m2) = (&grad[..n], &mut m1[..n], &mut m2[..n]);
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        let (combined, eps, lr, wd) = (c.combined, c.eps, c.lr, c.weight_decay);
        // Four loop bodies so each one is branch-free and vectorises.
        match (first, wd > 0.0) {
            (true, false) => {
                for i in 0..n {
                    let g = grad[i];
                    let (a, b) = (g * f1, (g * g) * f2);
                    m1[i] = a;
                    m2[i] = b;
                    param[i] -= ((a * combined) / (b.sqrt() + eps)) * lr;
                }
            }
            (false, false) => {
                for i in 0..n {
                    let g = grad[i];
                    let (a, b) = (m1[i] * BETA_1 + g * f1, m2[i] * BETA_2 + (g * g) * f2);
                    m1[i] = a;
                    m2[i] = b;
                    param[i] -= ((a * combined) / (b.sqrt() + eps)) * lr;
                }
            }
            (true, true) => {
                for i in 0..n {
                    let p = param[i];
                    let g = p * wd + grad[i];
                    let (a, b) = (g * f1, (g * g) * f2);
                    m1[i] = a;
                    m2[i] = b;
                    param[i] = p - ((a * combined) / (b.sqrt() + eps)) * lr;
                }
            }
            (false, true) => {
                for i in 0..n {
                    let p = param[i];
                    let g = p * wd + grad[i];
                    let (a, b) = (m1[i] * BETA_1 + g * f1, m2[i] * BETA_2 + (g * g) * f2);
                    m1[i] = a;
                    m2[i] = b;
                    param[i] = p - ((a * combined) / (b.sqrt() + eps)) * lr;
                }
            }
        }
    }
}

/// How one linear layer trains (`train.freeze`, `train.lr_scale`).
///
/// A frozen layer is skipped by the optimizer: its weight and bias keep their bits, and so
/// do its Adam moments and step count (no decay, no step), in both trainers. A factor
/// multiplies the learning rate of the layer's weight and bias (`1.0` leaves every bit of
/// the update as it was).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerOptions {
    /// The layer's parameters never change.
    pub frozen: bool,
    /// Factor on the learning rate.
    pub lr_scale: f64,
}

impl Default for LayerOptions {
    fn default() -> LayerOptions {
        LayerOptions {
            frozen: false,
            lr_scale: 1.0,
        }
    }
}

impl LayerOptions {
    /// The options of each of `layers` linear layers: those in `frozen` (0 = the first) are
    /// frozen, layer `l`'s learning-rate factor is `lr_scale[l]` (1 past its end).
    pub fn per_layer(layers: usize, frozen: &[usize], lr_scale: &[f64]) -> Vec<LayerOptions> {
        (0..layers)
            .map(|l| LayerOptions {
                frozen: frozen.contains(&l),
                lr_scale: lr_scale.get(l).copied().unwrap_or(1.0),
            })
            .collect()
    }

    /// Layer `l`'s options in `layers` (the default for a layer not listed).
    pub fn of(layers: &[LayerOptions], l: usize) -> LayerOptions {
        layers.get(l).copied().unwrap_or_default()
    }

    /// The learning rate of the layer for base rate `lr`.
    pub fn lr(self, lr: f64) -> f64 {
        lr * self.lr_scale
    }
}

/// Adam applied to an [`Mlp`] with explicit, serialisable moments.
pub struct MlpAdam {
    adam: Adam,
    weight_decay: f32,
    /// Per linear layer: frozen, learning-rate factor (default for layers not listed).
    layers: Vec<LayerOptions>,
    /// The moments, carried across steps (and across windows when the run says so). After
    /// [`MlpAdam::step`] calls, current only once [`MlpAdam::sync`] has run
    /// ([`crate::fit_with`] does so before it returns).
    pub moments: AdamMoments,
    /// Burn-side copies of the moments while the autodiff path trains.
    cache: Option<BurnStates>,
}

#[derive(Default)]
struct BurnStates {
    weights: Vec<Option<AdamState<2>>>,
    biases: Vec<Option<AdamState<1>>>,
}

impl MlpAdam {
    /// Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8) and L2 `weight_decay`.
    pub fn new(weight_decay: f64, moments: AdamMoments) -> MlpAdam {
        let config = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .with_weight_decay(
                (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
            );
        MlpAdam {
            adam: config.build(),
            weight_decay: weight_decay.max(0.0) as f32,
            layers: Vec::new(),
            moments,
            cache: None,
        }
    }

    /// The same optimizer with per-layer options (`train.freeze`, `train.lr_scale`).
    pub fn with_layers(mut self, layers: Vec<LayerOptions>) -> MlpAdam {
        self.layers = layers;
        self
    }

    /// The per-layer options.
    pub fn layers(&self) -> &[LayerOptions] {
        &self.layers
    }

    /// The L2 weight decay.
    pub fn weight_decay(&self) -> f32 {
        self.weight_decay
    }

    /// One step of Burn's Adam: updates every parameter of `model` (on an autodiff device)
    /// from `grads`. Call [`MlpAdam::sync`] before reading [`MlpAdam::moments`].
    pub fn step(&mut self, lr: f64, mut model: Mlp, grads: &Gradients) -> Mlp {
        let n = model.layers.len();
        if self.cache.is_none() {
            let device = model
                .layers
                .first()
                .map(|l| l.weight.val().device().inner());
            self.cache = Some(match device {
                Some(device) => BurnStates::from_moments(&self.moments, &model, &device),
                None => BurnStates::default(),
            });
        }
        let cache = self.cache.as_mut().expect("cache was just filled");
        cache.weights.resize(n, None);
        cache.biases.resize(n, None);
        for (i, layer) in model.layers.iter_mut().enumerate() {
            let options = LayerOptions::of(&self.layers, i);
            if options.frozen {
                continue;
            }
            let lr = options.lr(lr);
            layer.weight = burn_update(&self.adam, lr, &layer.weight, grads, &mut cache.weights[i]);
            if let Some(bias) = &layer.bias {
                layer.bias = Some(burn_update(
                    &self.adam,
                    lr,
                    bias,
                    grads,
                    &mut cache.biases[i],
                ));
            }
        }
        model
    }

    /// Writes the moments that [`MlpAdam::step`] keeps as Burn tensors back into
    /// [`MlpAdam::moments`]. A no-op when no such step ran since the last sync.
    pub fn sync(&mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let n = cache.weights.len();
        self.moments.ensure_layers(n);
        for (i, (w, b)) in cache.weights.into_iter().zip(cache.biases).enumerate() {
            if let Some(w) = w {
                self.moments.weights[i] = Some(moment_from_burn(w.momentum));
            }
            if let Some(b) = b {
                self.moments.biases[i] = Some(moment_from_burn(b.momentum));
            }
        }
    }
}

impl BurnStates {
    fn from_moments(moments: &AdamMoments, model: &Mlp, device: &Device) -> BurnStates {
        let mut states = BurnStates::default();
        for (i, layer) in model.layers.iter().enumerate() {
            let [d_in, d_out] = layer.weight.dims();
            let w = moments.weights.get(i).and_then(Option::as_ref);
            let b = moments.biases.get(i).and_then(Option::as_ref);
            states
                .weights
                .push(w.map(|m| moment_to_burn(m, [d_in, d_out], device)));
            states
                .biases
                .push(b.map(|m| moment_to_burn(m, [d_out], device)));
        }
        states
    }
}

fn moment_to_burn<const D: usize>(m: &Moment, shape: [usize; D], device: &Device) -> AdamState<D> {
    let moment_1 = Tensor::<D>::from_data(TensorData::new(m.m1.clone(), shape), device);
    let moment_2 = Tensor::<D>::from_data(TensorData::new(m.m2.clone(), shape), device);
    AdamState::new(AdaptiveMomentumState::new(m.time, moment_1, moment_2))
}

fn moment_from_burn<const D: usize>(state: AdaptiveMomentumState<D>) -> Moment {
    Moment {
        time: state.time,
        m1: state
            .moment_1
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 moments"),
        m2: state
            .moment_2
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 moments"),
    }
}

fn burn_update<const D: usize>(
    adam: &Adam,
    lr: f64,
    param: &Param<Tensor<D>>,
    grads: &Gradients,
    slot: &mut Option<AdamState<D>>,
) -> Param<Tensor<D>> {
    let value = param.val();
    let Some(grad) = value.grad(grads) else {
        return param.clone();
    };
    let (updated, state) = adam.step(lr, value.inner(), grad, slot.take());
    *slot = state;
    Param::initialized(param.id, Tensor::from_inner(updated).require_grad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_round_trip_through_bytes() {
        let mut m = AdamMoments::default();
        m.ensure_layers(2);
        m.weights[0] = Some(Moment {
            time: 3,
            m1: vec![1.0, -2.0],
            m2: vec![0.5, 0.25],
        });
        m.biases[0] = Some(Moment {
            time: 3,
            m1: vec![0.1, 0.2],
            m2: vec![0.3, 0.4],
        });
        let bytes = m.to_bytes();
        let back = AdamMoments::from_bytes_for(&bytes, &[[1, 2], [2, 1]]).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.steps(), 3);
        assert!(AdamMoments::from_bytes_for(&bytes, &[[2, 2], [2, 1]]).is_err());
        assert!(AdamMoments::from_bytes_for(&bytes[..bytes.len() - 1], &[[1, 2], [2, 1]]).is_err());
    }

    #[test]
    fn fused_update_matches_burn_adam_bit_for_bit() {
        let device = burn::tensor::Device::flex();
        let adam = AdamConfig::new()
            .with_epsilon(EPSILON)
            .with_weight_decay(Some(WeightDecayConfig::new(0.01)))
            .build();
        let mut param: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut tensor = Tensor::<1>::from_data(TensorData::new(param.clone(), [37]), &device);
        let (mut ours, mut theirs) = (None, None);
        for step in 0..5 {
            let grad: Vec<f32> = (0..37)
                .map(|i| ((i * 7 + step) as f32 * 0.11).cos())
                .collect();
            adam_update(&mut param, &grad, &mut ours, 3e-3, 0.01);
            let g = Tensor::<1>::from_data(TensorData::new(grad, [37]), &device);
            let (t, s) = adam.step(3e-3, tensor, g, theirs.take());
            tensor = t;
            theirs = s;
        }
        assert_eq!(tensor.into_data().try_to_vec::<f32>().unwrap(), param);
        let theirs = moment_from_burn(theirs.unwrap().momentum);
        assert_eq!(Some(theirs), ours);
    }
}
