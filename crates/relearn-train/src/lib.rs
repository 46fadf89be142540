//! What happens per window: the run loop of `relearn` walks a validated run's stream window
//! by window, scores the serving model on each new window (the prequential score), lets the
//! run's update policy plan the update, trains a candidate through the model family, gates
//! it and commits it to the checkpoint store with its lineage. Also here: the checkpoint
//! records, scoring, [`inference`] (a checkpoint ready to predict) and the comparison of
//! policies ([`compare`]).
//!
//! The loop is written once in [`runner`]; each policy is a file of [`policy`], and the model
//! is reached through one trait, [`model::ModelFamily`].

mod advice;
pub mod checkpoint;
pub mod compare;
pub mod data_trail;
pub mod drift;
pub mod inference;
pub mod model;
pub mod policy;
pub mod replay;
pub mod runner;
pub mod score;

pub use checkpoint::{CheckpointExtra, LoadedCheckpoint, ModelInfo, PartError, StoredModel};
pub use relearn_spec::{ConfigError, Gate, Metric, Mode, Policy, RunSpec, Verdict};
pub use runner::{RunEvent, RunOptions, RunSummary, run, run_with};

use std::path::PathBuf;

/// Why a run (or a checkpoint load) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data source is missing or malformed.
    #[error(transparent)]
    Data(#[from] relearn_data::DataError),
    /// The store failed (I/O, corruption, a lock held by another process).
    #[error(transparent)]
    Store(#[from] relearn_store::StoreError),
    /// The stored run was made with other settings than the config now says.
    #[error(
        "run '{run}' in {store} was made with a different config (fingerprint {stored:.12}, now {current:.12}); \
         resuming would mix two experiments in one lineage. Restore the original config, or give the run a new `run.name`"
    )]
    ConfigChanged {
        /// The run.
        run: String,
        /// The store folder.
        store: PathBuf,
        /// Fingerprint recorded in the run's latest checkpoint.
        stored: String,
        /// Fingerprint of the config given now.
        current: String,
    },
    /// A usage error in the run options.
    #[error("{0}")]
    Usage(String),
    /// The rows a stored run trained on are not in its CSV file any more (edited, reordered,
    /// removed or replaced): resuming would continue a lineage on other data.
    #[error(
        "the data of run '{run}' changed: {message}. Nothing was trained or changed. Appending rows is the \
         way to feed a run new windows; to train on the changed data, give the run a new `run.name` (or use another --store)"
    )]
    DataChanged {
        /// The run.
        run: String,
        /// What changed, naming the file and the first changed window.
        message: String,
    },
    /// A loss or a score became NaN or infinite; nothing was committed for this window.
    #[error(
        "{what} at window {window} ({detail}); nothing was committed for this window and the run's \
         latest checkpoint is unchanged. {advice}"
    )]
    NotFinite {
        /// What failed: "training diverged", or the serving model's score.
        what: &'static str,
        /// The window being scored or trained.
        window: usize,
        /// Which number went non-finite.
        detail: String,
        /// What to do about it: the data's scale or the learning rate.
        advice: String,
    },
    /// A checkpoint part does not decode although its hash matches (written by another
    /// version, or a bug).
    #[error("checkpoint {id:.12} cannot be loaded")]
    BadPart {
        /// The checkpoint.
        id: relearn_store::CheckpointId,
        /// Which part, and why.
        #[source]
        source: Box<checkpoint::PartError>,
    },
    /// A checkpoint's parts are unreadable although their hashes match.
    #[error("checkpoint {id:.12} cannot be loaded: {message}")]
    BadCheckpoint {
        /// The checkpoint.
        id: relearn_store::CheckpointId,
        /// What is wrong.
        message: String,
    },
    /// Gradient boosting failed on a window; nothing was committed for it.
    #[error(
        "training the trees failed at window {window}; nothing was committed for this window and \
         the run's latest checkpoint is unchanged"
    )]
    Trees {
        /// The window being trained.
        window: usize,
        /// What perpetual or the forest said.
        #[source]
        source: relearn_trees::TreesError,
    },
}

impl TrainError {
    /// A checkpoint that cannot be loaded: `head`, and what is wrong with it.
    pub(crate) fn bad_checkpoint(
        head: &relearn_store::Manifest,
        e: impl std::fmt::Display,
    ) -> TrainError {
        TrainError::BadCheckpoint {
            id: head.id.clone(),
            message: e.to_string(),
        }
    }

    /// Whether the error is the user's input (exit code 2) rather than a failure of the work
    /// (exit code 1).
    pub fn is_user_error(&self) -> bool {
        match self {
            TrainError::Config(_)
            | TrainError::ConfigChanged { .. }
            | TrainError::Usage(_)
            | TrainError::DataChanged { .. } => true,
            TrainError::Data(e) => e.is_user_error(),
            TrainError::Store(e) => e.is_user_error(),
            TrainError::NotFinite { .. }
            | TrainError::Trees { .. }
            | TrainError::BadPart { .. }
            | TrainError::BadCheckpoint { .. } => false,
        }
    }
}
