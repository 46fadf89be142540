//! The neural model of `relearn`: a multi-layer perceptron on Burn, its losses, and a
//! byte codec for its weights.
//!
//! This crate knows nothing about windows, drift or checkpoints. The same [`Mlp`] serves
//! training, prequential scoring, `eval`, `predict` and `export`; the trainer crate owns the
//! optimisation policy and the store owns the bytes. Modules and tensors carry no backend
//! type: the [`Device`](burn::tensor::Device) picks Flex or NdArray at run time (see
//! [`Backend`]).

mod backend;
mod codec;
mod loss;
mod mlp;

pub use backend::Backend;
pub use codec::{CodecError, LayerWeights, MlpWeights};
pub use loss::{
    Objective, accuracy_and_loss, cross_entropy, mean_absolute_error, mean_squared_error,
};
pub use mlp::{Activation, Mlp, MlpConfig};
