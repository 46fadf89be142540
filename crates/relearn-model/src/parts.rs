//! The named parts a checkpoint's state is stored as (content-addressed blobs in the
//! store), and why one does not decode. The names are the store's layout: the trainer writes
//! them, `eval`, `export` and the server read them.

/// MLP weights.
pub const MODEL: &str = "model";
/// Preprocessing state.
pub const PREPROCESSOR: &str = "preprocessor";
/// Adam moments.
pub const OPTIMIZER: &str = "optimizer";
/// The replay policy's reservoir of past samples.
pub const REPLAY: &str = "replay";
/// The drift policy's detector state.
pub const DETECTOR: &str = "detector";
/// `stateful.anchor = "l2-init"`: the run's initial weights.
pub const ANCHOR: &str = "anchor";
/// `stateful.anchor = "ewc"`: the diagonal Fisher estimate.
pub const FISHER: &str = "fisher";

/// Why the bytes of a checkpoint part (or its `extra.model` record) cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// The model weights.
    #[error("its `model` part is unreadable")]
    Model(#[source] crate::CodecError),
    /// The preprocessing state.
    #[error("its `preprocessor` part is unreadable")]
    Preprocessor(#[source] relearn_data::DataError),
    /// A JSON part (the drift detector) or record (`extra.model`) that does not parse.
    #[error("its `{part}` is not what relearn wrote")]
    Json {
        /// The part or record.
        part: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A binary part (optimizer state, replay reservoir) whose layout is wrong, or a
    /// record that contradicts the model.
    #[error("its `{part}` part is malformed: {reason}")]
    Malformed {
        /// The part.
        part: &'static str,
        /// What is wrong.
        reason: String,
    },
}
