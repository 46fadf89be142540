//! The neural model of `relearn`: a multi-layer perceptron on Burn, its losses, and a
//! byte codec for its weights.
//!
//! This crate knows nothing about windows, drift or checkpoints. The same [`Mlp`] serves
//! training, prequential scoring, `eval`, `predict` and `export`; the trainer crate owns the
//! optimisation policy and the store owns the bytes. Modules and tensors carry no backend
//! type: the [`Device`](burn::tensor::Device) picks Flex or NdArray at run time (see
//! [`Backend`]).

mod backend;
pub mod bytes;
mod codec;
pub mod import;
mod loss;
mod mlp;
pub mod parts;

pub use backend::{Backend, FitPath};
pub use codec::{CodecError, LayerWeights, MlpWeights};
pub use loss::{
    Objective, accuracy_and_loss, cross_entropy, mean_absolute_error, mean_squared_error,
};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use parts::PartError;
