//! Anchored fine-tuning (`stateful.anchor`): a quadratic penalty that pulls the weights of a
//! fine-tune toward a reference point, against forgetting.
//!
//! - `l2-init`: `strength / 2 * ||w - w_init||^2`, `w_init` the run's root (initial)
//!   checkpoint's weights, stored with every checkpoint as the `anchor` part (the same bytes
//!   each time, so one object in the content-addressed store).
//! - `ewc` (elastic weight consolidation, Kirkpatrick et al. 2017, with the last window's
//!   Fisher only): `strength / 2 * sum_i F_i (w_i - w_prev_i)^2`, `w_prev` the serving
//!   checkpoint's weights and `F` the diagonal empirical Fisher stored with it as its
//!   `fisher` part: the mean over the samples it trained on of the squared per-sample
//!   gradient of that sample's training loss (cross-entropy, the negative log-likelihood;
//!   for regression the squared error of the standardised target), at its trained weights,
//!   without dropout.
//!
//! Weights and biases are both anchored. Both trainers add the penalty's gradient,
//! `strength * F_i * (w_i - c_i)` (`F = 1` for `l2-init`), to the loss gradient before the
//! Adam step (and before Adam's weight decay, which both add inside the step): the fused
//! trainer directly ([`Anchor::add_gradient`]), Burn's autodiff by adding the penalty to the
//! loss it differentiates ([`Anchor::penalty`]). The Fisher is computed by one routine for
//! both trainers (the fused trainer's per-sample backward, [`crate::fisher`]), so both store the
//! same Fisher for the same weights.

use burn::tensor::{Device, Tensor, TensorData};
use relearn_model::{Mlp, MlpWeights};

use relearn_model::parts::{self, PartError};

/// The penalty of one fine-tune: its centre, its per-parameter weights (`None`: all 1) and
/// its strength.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// `strength` of `strength / 2 * sum F (w - c)^2`.
    pub strength: f32,
    /// The centre `c`, shaped as the model.
    pub center: MlpWeights,
    /// The per-parameter weights `F` (EWC's Fisher), shaped as the model; `None` for 1.
    pub precision: Option<MlpWeights>,
}

impl Anchor {
    /// Adds the penalty's gradient `strength * F * (param - c)` of layer `layer`'s weight
    /// matrix (`bias = false`) or bias to `grad`.
    pub fn add_gradient(&self, layer: usize, bias: bool, param: &[f32], grad: &mut [f32]) {
        let s = self.strength;
        let center = part_of(&self.center, layer, bias);
        assert_eq!(
            center.len(),
            param.len(),
            "anchor and parameter differ in shape"
        );
        match &self.precision {
            None => {
                for ((g, &p), &c) in grad.iter_mut().zip(param).zip(center) {
                    *g += s * (p - c);
                }
            }
            Some(f) => {
                let f = part_of(f, layer, bias);
                for (((g, &p), &c), &fi) in grad.iter_mut().zip(param).zip(center).zip(f) {
                    *g += s * (fi * (p - c));
                }
            }
        }
    }

    /// The penalty's tensors on `device` (an autodiff device), built once per fit.
    pub(crate) fn tensors(&self, device: &Device) -> AnchorTensors {
        let layer = |w: &MlpWeights, l: usize| {
            let layer = &w.layers[l];
            (
                Tensor::<2>::from_data(
                    TensorData::new(layer.weight.clone(), [layer.d_input, layer.d_output]),
                    device,
                ),
                Tensor::<1>::from_data(
                    TensorData::new(layer.bias.clone(), [layer.d_output]),
                    device,
                ),
            )
        };
        let n = self.center.layers.len();
        AnchorTensors {
            strength: self.strength,
            center: (0..n).map(|l| layer(&self.center, l)).collect(),
            precision: self
                .precision
                .as_ref()
                .map(|f| (0..n).map(|l| layer(f, l)).collect()),
        }
    }
}

/// Layer `layer`'s weight matrix (`bias = false`) or bias of `w`.
fn part_of(w: &MlpWeights, layer: usize, bias: bool) -> &[f32] {
    let l = &w.layers[layer];
    if bias { &l.bias } else { &l.weight }
}

/// [`Anchor`] as constant tensors, for Burn's autodiff.
pub(crate) struct AnchorTensors {
    strength: f32,
    center: Vec<(Tensor<2>, Tensor<1>)>,
    precision: Option<Vec<(Tensor<2>, Tensor<1>)>>,
}

impl AnchorTensors {
    /// `strength / 2 * sum F (w - c)^2` over every weight and bias of `model`, a scalar
    /// tensor on its (autodiff) device, to add to the loss before `backward()`.
    pub(crate) fn penalty(&self, model: &Mlp) -> Tensor<1> {
        let mut total: Option<Tensor<1>> = None;
        for (l, layer) in model.layers.iter().enumerate() {
            let (cw, cb) = &self.center[l];
            let dw = layer.weight.val() - cw.clone();
            let mut sw = dw.clone() * dw;
            let bias = layer
                .bias
                .as_ref()
                .expect("relearn's layers have biases")
                .val();
            let db = bias - cb.clone();
            let mut sb = db.clone() * db;
            if let Some(p) = &self.precision {
                sw = sw * p[l].0.clone();
                sb = sb * p[l].1.clone();
            }
            let term = sw.sum() + sb.sum();
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        total
            .expect("an MLP has layers")
            .mul_scalar(f64::from(self.strength) / 2.0)
    }
}

/// A diagonal Fisher estimate, shaped as the model (the `fisher` part).
#[derive(Debug, Clone, PartialEq)]
pub struct Fisher(pub MlpWeights);

impl Fisher {
    /// The part's bytes: the model codec's layout (tag, layers, shapes, f32 LE values).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// Decodes [`Fisher::to_bytes`], checking it has the model's layer widths.
    pub fn from_bytes(bytes: &[u8], widths: &[usize]) -> Result<Fisher, PartError> {
        let w = MlpWeights::from_bytes(bytes).map_err(|e| PartError::Malformed {
            part: parts::FISHER,
            reason: e.to_string(),
        })?;
        check_shape(&w, widths, parts::FISHER)?;
        if w.layers
            .iter()
            .flat_map(|l| l.weight.iter().chain(&l.bias))
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(PartError::Malformed {
                part: parts::FISHER,
                reason: "a value is negative or not finite".into(),
            });
        }
        Ok(Fisher(w))
    }
}

/// Decodes the `anchor` part (the run's initial weights), checking the model's widths.
pub fn decode_anchor_weights(bytes: &[u8], widths: &[usize]) -> Result<MlpWeights, PartError> {
    let w = MlpWeights::from_bytes(bytes).map_err(|e| PartError::Malformed {
        part: parts::ANCHOR,
        reason: e.to_string(),
    })?;
    check_shape(&w, widths, parts::ANCHOR)?;
    Ok(w)
}

fn check_shape(w: &MlpWeights, widths: &[usize], part: &'static str) -> Result<(), PartError> {
    if w.widths() != widths {
        return Err(PartError::Malformed {
            part,
            reason: format!("layer widths {:?}, the model has {widths:?}", w.widths()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use relearn_model::LayerWeights;

    fn weights(values: &[f32]) -> MlpWeights {
        MlpWeights {
            layers: vec![LayerWeights {
                d_input: 1,
                d_output: 2,
                weight: values[..2].to_vec(),
                bias: values[2..4].to_vec(),
            }],
        }
    }

    #[test]
    fn gradient_is_strength_times_precision_times_offset() {
        let anchor = Anchor {
            strength: 2.0,
            center: weights(&[1.0, 1.0, 0.0, 0.0]),
            precision: Some(weights(&[0.5, 0.0, 1.0, 3.0])),
        };
        let mut g = vec![0.1, 0.1];
        anchor.add_gradient(0, false, &[3.0, 5.0], &mut g);
        assert_eq!(g, vec![0.1 + 2.0 * 0.5 * 2.0, 0.1]);
        let mut g = vec![0.0, 0.0];
        anchor.add_gradient(0, true, &[1.0, -1.0], &mut g);
        assert_eq!(g, vec![2.0, -6.0]);
    }

    #[test]
    fn fisher_part_round_trips_and_checks_shape() {
        let f = Fisher(weights(&[0.5, 0.0, 1.0, 3.0]));
        let bytes = f.to_bytes();
        assert_eq!(Fisher::from_bytes(&bytes, &[1, 2]).unwrap(), f);
        assert!(Fisher::from_bytes(&bytes, &[2, 2]).is_err());
        assert!(Fisher::from_bytes(&bytes[..bytes.len() - 1], &[1, 2]).is_err());
        let negative = Fisher(weights(&[-0.5, 0.0, 1.0, 3.0])).to_bytes();
        assert!(Fisher::from_bytes(&negative, &[1, 2]).is_err());
    }
}
