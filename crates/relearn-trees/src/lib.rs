//! Gradient-boosted trees for `model.kind = "gbdt"`: a [`Forest`] of PerpetualBooster models
//! (the `perpetual` crate, pure Rust) that is trained from scratch, or continued on new rows
//! by adding stages of trees fitted to half of what the trees it has still get wrong there
//! (the residuals, or a Newton step of log loss), and stored as canonical JSON bytes (equal
//! models, equal bytes: checkpoint ids hash them).
//!
//! The crate knows nothing of windows, policies or checkpoints, and takes the same inputs as
//! the MLP: rows of encoded features (row-major `f32`, as relearn's preprocessing gives
//! them) and, per row, a class index or a standardised target. A regression forest has one
//! booster (squared loss); a classifier has one log-loss booster for two classes (its logits
//! are `[0, f]`) and one per class, each against the rest, for more (its logits are the
//! boosters' log-odds). Every fit is deterministic for a seed: one thread, and a memory
//! limit in place of the free memory perpetual would otherwise size its node arena by.

mod codec;
mod forest;

pub use codec::FORMAT;
pub use forest::{Forest, ForestSize, Rows, TreeSettings, TreeTask};

/// Why a forest could not be trained or decoded.
#[derive(Debug, thiserror::Error)]
pub enum TreesError {
    /// perpetual refused to fit a booster (the message is the library's).
    #[error("gradient boosting failed on output {output}: {message}")]
    Fit {
        /// The output (class) whose booster failed.
        output: usize,
        /// perpetual's message.
        message: String,
    },
    /// Bytes that are not a forest this version of relearn wrote.
    #[error("not a relearn tree model: {0}")]
    Decode(String),
    /// Targets that do not fit the forest (a class index out of range, a length mismatch).
    #[error("bad training data: {0}")]
    Data(String),
}
