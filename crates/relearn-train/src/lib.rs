//! The trainer of `relearn`: validates a run's config, walks its stream window by window,
//! scores the serving model on each new window (the prequential score), updates it
//! statelessly or statefully, and commits every model to the checkpoint store with its
//! lineage.
//!
//! The loop (score, update, commit, resume) is written once in [`runner`]; the two update
//! modes differ only in how a window's training set and starting weights are chosen.

#[macro_use]
mod avx2;
pub mod checkpoint;
pub mod config;
pub mod drift;
pub mod fit;
pub mod gate;
pub mod optim;
pub mod replay;
pub mod runner;
mod seed;

pub use checkpoint::{LoadedCheckpoint, ModelInfo};
pub use config::{ConfigError, Mode, RunSpec};
pub use gate::{Gate, Verdict};
pub use runner::{RunEvent, RunOptions, RunSummary, run};

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
    /// The loss became NaN or infinite; nothing was committed for this window.
    #[error(
        "training diverged at window {window} (epoch {epoch}: the loss is not a finite number); nothing was \
         committed for this window and the run's latest checkpoint is unchanged. Lower `{lr_key}` (now {lr}) and run again"
    )]
    Diverged {
        /// The window being trained.
        window: usize,
        /// The epoch whose loss went non-finite.
        epoch: usize,
        /// The config key of the learning rate in use.
        lr_key: &'static str,
        /// Its value.
        lr: f64,
    },
    /// A checkpoint's parts are unreadable although their hashes match.
    #[error("checkpoint {id:.12} cannot be loaded: {message}")]
    BadCheckpoint {
        /// The checkpoint.
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl TrainError {
    /// Whether the error is the user's input (exit code 2) rather than a failure of the work
    /// (exit code 1).
    pub fn is_user_error(&self) -> bool {
        match self {
            TrainError::Config(_) | TrainError::ConfigChanged { .. } | TrainError::Usage(_) => true,
            TrainError::Data(e) => e.is_user_error(),
            TrainError::Store(e) => e.is_user_error(),
            TrainError::Diverged { .. } | TrainError::BadCheckpoint { .. } => false,
        }
    }
}
