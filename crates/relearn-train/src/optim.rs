//! Adam, with a state that a checkpoint can carry.
//!
//! The arithmetic is Burn's own [`burn::optim::Adam`] applied per parameter. Burn's
//! `ModuleOptimizer` keys its state by random parameter ids, so its saved form differs from
//! run to run; checkpoint ids hash these bytes, so this module keeps the moments in layer
//! order and encodes them deterministically instead.

use burn::module::Param;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, Optimizer};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use relearn_model::Mlp;

/// The moments of every parameter of an [`Mlp`], layer by layer (weight, then bias).
#[derive(Clone, Default)]
pub struct AdamMoments {
    weights: Vec<Option<AdamState<2>>>,
    biases: Vec<Option<AdamState<1>>>,
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
            .map(|s| s.momentum.time)
            .next()
            .unwrap_or(0)
    }

    /// Encodes the moments: tag, layer count, then per parameter a present flag, the step
    /// count (u64 LE), the element count (u32 LE) and both moments as f32 LE.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(self.weights.len() as u32).to_le_bytes());
        for (w, b) in self.weights.iter().zip(&self.biases) {
            encode_state(&mut out, w.as_ref().map(|s| &s.momentum));
            encode_state(&mut out, b.as_ref().map(|s| &s.momentum));
        }
        out
    }

    /// Decodes [`AdamMoments::to_bytes`] onto `device`, checking each moment has the
    /// shape of the matching parameter of `model`.
    pub fn from_bytes(bytes: &[u8], model: &Mlp, device: &Device) -> Result<AdamMoments, String> {
        let mut r = ByteReader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a relearn optimizer state (bad tag)".into());
        }
        let layers = r.u32()? as usize;
        if layers != model.layers.len() {
            return Err(format!("optimizer state has {layers} layers, the model {}", model.layers.len()));
        }
        let mut moments = AdamMoments::default();
        for layer in &model.layers {
            let [i, o] = layer.weight.dims();
            moments.weights.push(decode_state(&mut r, [i, o], device)?);
            moments.biases.push(decode_state(&mut r, [o], device)?);
        }
        if r.pos != bytes.len() {
            return Err("optimizer state has trailing bytes".into());
        }
        Ok(moments)
    }
}

fn encode_state<const D: usize>(out: &mut Vec<u8>, state: Option<&AdaptiveMomentumState<D>>) {
    let Some(state) = state else {
        out.push(0);
        return;
    };
    out.push(1);
    out.extend_from_slice(&(state.time as u64).to_le_bytes());
    let m1 = state.moment_1.to_data().try_to_vec::<f32>().expect("f32 moments");
    let m2 = state.moment_2.to_data().try_to_vec::<f32>().expect("f32 moments");
    out.extend_from_slice(&(m1.len() as u32).to_le_bytes());
    for v in m1.iter().chain(&m2) {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_state<const D: usize>(
    r: &mut ByteReader<'_>,
    shape: [usize; D],
    device: &Device,
) -> Result<Option<AdamState<D>>, String> {
    if r.take(1)?[0] == 0 {
        return Ok(None);
    }
    let time = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")) as usize;
    let n = r.u32()? as usize;
    if n != shape.iter().product::<usize>() {
        return Err(format!("optimizer moment has {n} values, the parameter {shape:?}"));
    }
    let m1 = r.f32s(n)?;
    let m2 = r.f32s(n)?;
    let moment_1 = Tensor::<D>::from_data(TensorData::new(m1, shape), device);
    let moment_2 = Tensor::<D>::from_data(TensorData::new(m2, shape), device);
    Ok(Some(AdamState::new(AdaptiveMomentumState::new(time, moment_1, moment_2))))
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("optimizer state is truncated")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        Ok(self
            .take(n.checked_mul(4).ok_or("optimizer state is truncated")?)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

/// Adam applied to an [`Mlp`] with explicit, serialisable moments.
pub struct MlpAdam {
    adam: Adam,
    /// The moments, carried across steps (and across windows when the run says so).
    pub moments: AdamMoments,
}

impl MlpAdam {
    /// Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8) and L2 `weight_decay`.
    pub fn new(weight_decay: f64, moments: AdamMoments) -> MlpAdam {
        let config = AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)));
        MlpAdam { adam: config.build(), moments }
    }

    /// One step: updates every parameter of `model` (on an autodiff device) from `grads`.
    pub fn step(&mut self, lr: f64, mut model: Mlp, grads: &Gradients) -> Mlp {
        let n = model.layers.len();
        self.moments.weights.resize(n, None);
        self.moments.biases.resize(n, None);
        for (i, layer) in model.layers.iter_mut().enumerate() {
            layer.weight = self.update(lr, &layer.weight, grads, |m| &mut m.weights[i]);
            if let Some(bias) = &layer.bias {
                layer.bias = Some(self.update(lr, bias, grads, |m| &mut m.biases[i]));
            }
        }
        model
    }

    fn update<const D: usize>(
        &mut self,
        lr: f64,
        param: &Param<Tensor<D>>,
        grads: &Gradients,
        slot: impl FnOnce(&mut AdamMoments) -> &mut Option<AdamState<D>>,
    ) -> Param<Tensor<D>> {
        let value = param.val();
        let Some(grad) = value.grad(grads) else {
            return param.clone();
        };
        let slot = slot(&mut self.moments);
        let (updated, state) = self.adam.step(lr, value.inner(), grad, slot.take());
        *slot = state;
        Param::initialized(param.id, Tensor::from_inner(updated).require_grad())
    }
}
