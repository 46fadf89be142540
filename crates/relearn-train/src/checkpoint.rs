//! What a checkpoint holds beyond its manifest, and how the trainer encodes it.
//!
//! Parts (content-addressed blobs in the store):
//! - `model`: the MLP weights ([`MlpWeights`] codec);
//! - `preprocessor`: feature scaling and label map ([`Preprocessor`] bytes);
//! - `optimizer`: Adam's moments (every policy but stateless, which never reuses them);
//! - `replay`: the replay policy's reservoir of past samples ([`crate::replay::Reservoir`]);
//! - `detector`: the drift policy's detector state ([`crate::drift::Detector`]).
//!
//! The manifest's `extra.model` records the architecture, so a checkpoint can be loaded,
//! scored or exported without the config file that made it.

use relearn_data::{Preprocessor, Task};
use relearn_model::{Activation, MlpConfig, MlpWeights};
use relearn_store::{Manifest, Store};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Part names in the store.
pub mod parts {
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
}

/// The architecture recorded in a manifest's `extra.model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Layer widths, input to output.
    pub widths: Vec<usize>,
    /// Hidden activation.
    pub activation: String,
    /// Dropout probability used in training.
    pub dropout: f64,
    /// The task.
    pub task: Task,
    /// The Burn backend it was trained on.
    pub backend: String,
}

impl ModelInfo {
    /// The [`MlpConfig`] that rebuilds this model.
    pub fn mlp_config(&self) -> Result<MlpConfig, String> {
        let activation = Activation::parse(&self.activation)
            .ok_or_else(|| format!("unknown activation {:?}", self.activation))?;
        let config = MlpConfig::from_widths(&self.widths)
            .ok_or_else(|| format!("model widths {:?} are too short", self.widths))?;
        Ok(config
            .with_activation(activation)
            .with_dropout(self.dropout))
    }
}

/// A checkpoint read back from the store, ready to score, predict or fine-tune.
#[derive(Debug, Clone)]
pub struct LoadedCheckpoint {
    /// Its manifest.
    pub manifest: Manifest,
    /// Architecture.
    pub info: ModelInfo,
    /// Weights.
    pub weights: MlpWeights,
    /// Preprocessing state.
    pub preprocessor: Preprocessor,
    /// Encoded Adam moments, when the checkpoint carries them.
    pub optimizer: Option<Vec<u8>>,
}

impl LoadedCheckpoint {
    /// Reads a checkpoint's parts, verifying every object's hash on the way.
    pub fn load(store: &Store, manifest: Manifest) -> Result<LoadedCheckpoint, TrainError> {
        let corrupt = |what: String| TrainError::BadCheckpoint {
            id: manifest.id.clone(),
            message: what,
        };
        let info: ModelInfo = serde_json::from_value(manifest.extra["model"].clone())
            .map_err(|e| corrupt(format!("manifest extra.model is unreadable: {e}")))?;
        let weights = MlpWeights::from_bytes(&store.load_part(&manifest, parts::MODEL)?)
            .map_err(|e| corrupt(format!("model weights: {e}")))?;
        let preprocessor =
            Preprocessor::from_bytes(&store.load_part(&manifest, parts::PREPROCESSOR)?)
                .map_err(|e| corrupt(format!("preprocessor: {e}")))?;
        let optimizer = if manifest.parts.contains_key(parts::OPTIMIZER) {
            Some(store.load_part(&manifest, parts::OPTIMIZER)?)
        } else {
            None
        };
        info.mlp_config().map_err(&corrupt)?;
        Ok(LoadedCheckpoint {
            manifest,
            info,
            weights,
            preprocessor,
            optimizer,
        })
    }
}
