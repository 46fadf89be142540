//! `[train]`: the training of the initial model and of every training from fresh weights,
//! and the per-layer settings every training honours.

use super::Context;
use crate::defaults;
use crate::error::ConfigError;
use crate::raw::RawTrain;
use crate::spec::TrainSpec;

impl RawTrain {
    /// Checks the training settings of a model of `layers` linear layers.
    pub(crate) fn check(self, cx: &Context, layers: usize) -> Result<TrainSpec, ConfigError> {
        let epochs = cx.positive("train.epochs", self.epochs, defaults::TRAIN_EPOCHS)?;
        let batch_size = cx.positive("train.batch_size", self.batch_size, defaults::BATCH_SIZE)?;
        let lr = cx.learning_rate("train.lr", self.lr, defaults::TRAIN_LR)?;
        let weight_decay = match self.weight_decay {
            None => defaults::WEIGHT_DECAY,
            Some(w) if w.is_finite() && w >= 0.0 => w,
            Some(w) => {
                return Err(cx.invalid("train.weight_decay", format!("is {w}; must be >= 0")));
            }
        };
        let min_steps = self.min_steps.unwrap_or(defaults::TRAIN_MIN_STEPS);
        let max_steps = self.max_steps.unwrap_or(defaults::TRAIN_MAX_STEPS);
        if max_steps < min_steps.max(1) {
            return Err(cx.invalid(
                "train.max_steps",
                format!(
                    "is {max_steps}: below train.min_steps ({min_steps}); a fresh training cannot take at least {min_steps} steps and at most {max_steps}"
                ),
            ));
        }
        Ok(TrainSpec {
            epochs,
            batch_size,
            lr,
            weight_decay,
            freeze: check_freeze(cx, self.freeze, layers)?,
            lr_scale: check_lr_scale(cx, self.lr_scale, layers)?,
            min_steps,
            max_steps,
        })
    }
}

/// `train.freeze` for a model of `layers` linear layers: sorted, without repeats.
fn check_freeze(
    cx: &Context,
    freeze: Option<Vec<usize>>,
    layers: usize,
) -> Result<Vec<usize>, ConfigError> {
    let mut freeze = freeze.unwrap_or_default();
    if let Some(&l) = freeze.iter().find(|&&l| l >= layers) {
        return Err(cx.invalid(
            "train.freeze",
            format!(
                "names linear layer {l}, but the model has {layers} (0 to {}; 0 is the first)",
                layers - 1
            ),
        ));
    }
    freeze.sort_unstable();
    freeze.dedup();
    Ok(freeze)
}

/// `train.lr_scale` for a model of `layers` linear layers: empty when every factor is 1.
fn check_lr_scale(
    cx: &Context,
    lr_scale: Option<Vec<f64>>,
    layers: usize,
) -> Result<Vec<f64>, ConfigError> {
    let lr_scale = lr_scale.unwrap_or_default();
    if !lr_scale.is_empty() && lr_scale.len() != layers {
        return Err(cx.invalid(
            "train.lr_scale",
            format!(
                "lists {} factors, but the model has {layers} linear layers: give one factor per layer (e.g. {:?})",
                lr_scale.len(),
                vec![1.0; layers]
            ),
        ));
    }
    if let Some(f) = lr_scale.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(cx.invalid(
            "train.lr_scale",
            format!(
                "holds {f}; each factor must be > 0 (to keep a layer fixed, use `train.freeze`)"
            ),
        ));
    }
    Ok(match lr_scale.iter().all(|&f| f == 1.0) {
        true => Vec::new(),
        false => lr_scale,
    })
}
