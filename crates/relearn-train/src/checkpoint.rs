//! What a checkpoint holds beyond its manifest, and how the trainer encodes it.
//!
//! Parts (content-addressed blobs in the store):
//! - `model`: the MLP weights ([`MlpWeights`] codec), or a tree model's forest
//!   ([`relearn_trees::Forest`]'s canonical JSON) when `extra.model.kind` is `gbdt`;
//! - `preprocessor`: feature scaling and label map ([`Preprocessor`] bytes);
//! - `optimizer`: Adam's moments (every policy but stateless, which never reuses them);
//! - `replay`: the replay policy's reservoir of past samples ([`crate::replay::Reservoir`]);
//! - `detector`: the drift policy's detector state ([`crate::drift::Detector`]);
//! - `anchor`: with `stateful.anchor = "l2-init"`, the run's initial weights (the same bytes,
//!   so one object, in every checkpoint of the run);
//! - `fisher`: with `stateful.anchor = "ewc"`, the diagonal Fisher of the checkpoint's
//!   weights on what it trained on ([`relearn_fit::Fisher`]).
//!
//! The manifest's `extra.model` records the architecture, so a checkpoint can be loaded,
//! scored or exported without the config file that made it.

use std::collections::BTreeMap;
use std::sync::Arc;

use relearn_data::{Preprocessor, Task};
use relearn_model::{Activation, MlpConfig, MlpWeights};
use relearn_spec::ModelKind;
use relearn_store::{Manifest, Store};
use serde::{Deserialize, Serialize};

use crate::TrainError;

pub use relearn_model::parts::{self, PartError};

/// What a checkpoint of a CSV run records under `extra.data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The sha256 of the checkpoint's own window.
    pub window_sha256: String,
    /// The hash chained over windows 0 to the checkpoint's own.
    pub through_sha256: String,
    /// When `data.path` is a folder or a glob: the files the window's rows came from
    /// (relative to `data.path`). Absent for one file, so such checkpoints keep their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// What relearn records under a checkpoint's `extra` (the store keeps it as JSON and reads
/// none of it; its keys are sorted when stored, so field order here changes no byte or id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointExtra {
    /// The architecture.
    pub model: ModelInfo,
    /// The stream: `generator:<name>`, or `csv:<file name>` (`csv:<path>` in checkpoints of
    /// relearn before December 2026).
    pub source: String,
    /// The target column (`y` for generators).
    pub target: String,
    /// `data.scaling`.
    pub scaling: relearn_data::Scaling,
    /// `window.size`.
    pub window_size: usize,
    /// Windows by time (`window.every`): the label of the window's calendar period
    /// (`2026-12-01`, `2026-12-01T13`, `2026-12`). Absent for windows of `window.size`
    /// rows, whose checkpoints (and ids) are as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// `data.time`: the column that orders the rows (not a feature; a server accepts it
    /// in requests). Absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
    /// `data.id`: the column that names each row (not a feature; a server logs each
    /// prediction under it). Absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,
    /// `run.seed`.
    pub seed: u64,
    /// CSV runs: the hashes of the data the run trained on (see [`crate::data_trail`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataRecord>,
    /// A candidate the promotion gate rejected: the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<relearn_spec::Verdict>,
    /// Classes first learned by this checkpoint's model (its output layer grew by them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_classes: Vec<String>,
    /// The numeric inputs of the window that were outside the range the serving model's
    /// scaler was fitted on (beyond `data.clip` standard deviations, so clipped when it
    /// scored the window; beyond 4 when the clip is larger or off): which column, in how many rows, how far at most. Derived from
    /// the window and the serving checkpoint, so not part of the id
    /// ([`relearn_store::DERIVED_EXTRA`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_range: Vec<relearn_data::OutOfRange>,
    /// With `window.label_delay`: the checkpoint whose model scored this checkpoint's window
    /// (the prequential score), the one serving when the window's rows arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scored_by: Option<relearn_store::CheckpointId>,
    /// An imported checkpoint (`relation = "imported"`): the file it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportRecord>,
    /// What the update policy recorded, by key (the drift policy's `drift`: see
    /// [`crate::policy::Plan::record`]).
    #[serde(flatten)]
    pub policy: BTreeMap<String, serde_json::Value>,
}

/// What an imported checkpoint records under `extra.import` (`model.init`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The file's name.
    pub file: String,
    /// The sha256 of its bytes.
    pub sha256: String,
    /// Its format: `pytorch` or `relearn-export`.
    pub format: String,
}

impl CheckpointExtra {
    /// The record of checkpoint `manifest`.
    pub fn of(manifest: &Manifest) -> Result<CheckpointExtra, PartError> {
        serde_json::from_value(manifest.extra.clone()).map_err(|source| PartError::Json {
            part: "extra",
            source,
        })
    }

    /// As the manifest stores it.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the extra record serialises")
    }
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
    /// The Burn backend it was trained on (`perpetual` for trees).
    pub backend: String,
    /// The family: absent for the MLP, so that MLP checkpoints keep their ids.
    #[serde(default, skip_serializing_if = "ModelKind::is_mlp")]
    pub kind: ModelKind,
    /// A tree model's size (boosters, trees, nodes, leaves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<relearn_trees::ForestSize>,
}

impl ModelInfo {
    /// The [`MlpConfig`] that rebuilds this model (an error for a tree model).
    pub fn mlp_config(&self) -> Result<MlpConfig, String> {
        if self.kind != ModelKind::Mlp {
            return Err(format!("it is a {} model, not an MLP", self.kind));
        }
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
    /// The model: weights or trees.
    pub model: StoredModel,
    /// Preprocessing state.
    pub preprocessor: Preprocessor,
    /// Encoded Adam moments, when the checkpoint carries them.
    pub optimizer: Option<Vec<u8>>,
}

impl LoadedCheckpoint {
    /// Reads a checkpoint's parts, verifying every object's hash on the way.
    pub fn load(store: &Store, manifest: Manifest) -> Result<LoadedCheckpoint, TrainError> {
        let bad = |source: PartError| TrainError::BadPart {
            id: manifest.id.clone(),
            source: Box::new(source),
        };
        let info = CheckpointExtra::of(&manifest).map_err(bad)?.model;
        let bytes = store.load_part(&manifest, parts::MODEL)?;
        let model = match info.kind {
            ModelKind::Mlp => StoredModel::Mlp(
                MlpWeights::from_bytes(&bytes).map_err(|e| bad(PartError::Model(e)))?,
            ),
            ModelKind::Gbdt => StoredModel::Trees(Arc::new(
                relearn_trees::Forest::from_bytes(&bytes).map_err(|e| {
                    bad(PartError::Malformed {
                        part: "model",
                        reason: e.to_string(),
                    })
                })?,
            )),
        };
        let preprocessor =
            Preprocessor::from_bytes(&store.load_part(&manifest, parts::PREPROCESSOR)?)
                .map_err(|e| bad(PartError::Preprocessor(e)))?;
        let optimizer = if manifest.parts.contains_key(parts::OPTIMIZER) {
            Some(store.load_part(&manifest, parts::OPTIMIZER)?)
        } else {
            None
        };
        if info.kind == ModelKind::Mlp {
            info.mlp_config().map_err(|reason| {
                bad(PartError::Malformed {
                    part: "extra.model",
                    reason,
                })
            })?;
        }
        Ok(LoadedCheckpoint {
            manifest,
            info,
            model,
            preprocessor,
            optimizer,
        })
    }
}

/// A checkpoint's model, as its `model` part decodes.
#[derive(Debug, Clone)]
pub enum StoredModel {
    /// An MLP's weights.
    Mlp(MlpWeights),
    /// Gradient-boosted trees.
    Trees(Arc<relearn_trees::Forest>),
}

impl StoredModel {
    /// The MLP's weights; an error naming the family for trees.
    pub fn mlp(&self) -> Result<&MlpWeights, String> {
        match self {
            StoredModel::Mlp(w) => Ok(w),
            StoredModel::Trees(_) => Err("it is a gbdt (tree) model, not an MLP".to_string()),
        }
    }
}
