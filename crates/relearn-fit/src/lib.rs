//! How a model's weights change: the trainer of `relearn` (a fused MLP trainer and Burn's
//! autodiff, bit-for-bit deterministic), Adam with state carried across windows, the anchors
//! of anchored fine-tuning (l2-init, EWC's Fisher) and the growth of an output layer for new
//! classes.
//!
//! It knows no config, store or update policy: callers say what to train, on what, from which
//! weights, and get weights and optimizer state back. It is the one crate built at opt-level 3
//! in the dev profile (its kernels only vectorise there; same IEEE operations at every level,
//! so the same checkpoint ids).

#[macro_use]
mod avx2;
pub mod anchor;
mod fused;
pub mod grow;
pub mod optim;
mod pool;
mod trainer;

pub use anchor::{Anchor, Fisher};
pub use optim::{AdamMoments, LayerOptions, MlpAdam};
pub use relearn_model::FitPath;
pub use trainer::{Diverged, FitSettings, argmax, fisher, fit_anchored, fit_with, outputs};
