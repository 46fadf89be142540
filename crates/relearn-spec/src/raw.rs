//! The config file as written: serde structs, one per `[table]`, every key optional. Parsing
//! rejects unknown keys and wrong types (toml's messages carry the line); [`crate::validate`]
//! then turns each section into its part of a [`crate::RunSpec`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

/// The config file as written: every key optional except `run.name` and a data source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[run]`
    #[serde(default)]
    pub run: RawRun,
    /// `[data]`
    #[serde(default)]
    pub data: RawData,
    /// `[window]`
    #[serde(default)]
    pub window: RawWindow,
    /// `[model]`
    #[serde(default)]
    pub model: RawModel,
    /// `[train]`
    #[serde(default)]
    pub train: RawTrain,
    /// `[stateless]`
    #[serde(default)]
    pub stateless: RawStateless,
    /// `[stateful]`
    #[serde(default)]
    pub stateful: RawStateful,
    /// `[policy]`
    #[serde(default)]
    pub policy: RawPolicy,
    /// `[gate]`
    #[serde(default)]
    pub gate: RawGate,
    /// `[gbdt]`: the tree family's settings (`model.kind = "gbdt"`).
    #[serde(default)]
    pub gbdt: RawGbdt,
}

/// `[run]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub name: Option<String>,
    pub mode: Option<String>,
    pub seed: Option<u64>,
    pub store: Option<PathBuf>,
    pub backend: Option<String>,
    pub trainer: Option<String>,
}

/// `[data]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub csv: Option<PathBuf>,
    // A file, a folder or a glob of CSV and Parquet files (issue 25); `csv` is its older name.
    pub path: Option<PathBuf>,
    pub target: Option<String>,
    pub features: Option<Vec<String>>,
    pub task: Option<String>,
    pub generator: Option<String>,
    pub samples: Option<usize>,
    pub noise: Option<f64>,
    pub drift_points: Option<Vec<usize>>,
    pub drift_width: Option<usize>,
    pub n_features: Option<usize>,
    pub drift_speed: Option<f64>,
    pub scaling: Option<String>,
    pub missing: Option<Vec<String>>,
    pub columns: Option<std::collections::BTreeMap<String, String>>,
    pub max_categories: Option<usize>,
    pub hash_buckets: Option<usize>,
    pub clip: Option<f64>,
    pub delimiter: Option<String>,
    // Windows by time (issue 25): the column of dates or timestamps.
    pub time: Option<String>,
    // Labels that arrive later (issue 25): a file, folder or glob of (id, label[, time])
    // rows, joined to the feature rows by `id`.
    pub labels: Option<PathBuf>,
    pub id: Option<String>,
}

/// `window.label_delay` as written: a count of windows, or a duration (`"3d"`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawLabelDelay {
    Windows(usize),
    Duration(String),
}

/// `[window]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub size: Option<usize>,
    pub initial: Option<usize>,
    pub label_delay: Option<RawLabelDelay>,
    // Windows by time (issue 25): one window per calendar period of `data.time`.
    pub every: Option<String>,
}

/// `[model]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub hidden: Option<Vec<usize>>,
    pub activation: Option<String>,
    pub dropout: Option<f64>,
    // Model import (`model.init`, see relearn_model::import).
    pub init: Option<PathBuf>,
    // The model family (`model.kind`: "mlp" or "gbdt").
    pub kind: Option<String>,
}

/// `[gbdt]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGbdt {
    pub budget: Option<f64>,
    pub max_trees: Option<usize>,
    pub memory_limit: Option<f64>,
}

impl RawGbdt {
    /// Whether any key is written.
    pub fn is_written(&self) -> bool {
        self.budget.is_some() || self.max_trees.is_some() || self.memory_limit.is_some()
    }
}

/// `[train]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    // Per-layer training (`train.freeze`, `train.lr_scale`).
    pub freeze: Option<Vec<usize>>,
    pub lr_scale: Option<Vec<f64>>,
    // The least number of steps of a training from fresh weights (`train.min_steps`).
    pub min_steps: Option<usize>,
    // The most steps of a training from fresh weights, in whole epochs (`train.max_steps`).
    pub max_steps: Option<usize>,
}

/// `[stateless]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStateless {
    pub initial_fraction: Option<f64>,
    pub recent_windows: Option<usize>,
    // Warm start of stateless retraining (issue 14 B): `init`, `shrink`, `perturb`.
    pub init: Option<String>,
    pub shrink: Option<f64>,
    pub perturb: Option<f64>,
}

/// `[stateful]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStateful {
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub carry_optimizer: Option<bool>,
    // Anchored fine-tuning (issue 14 B): `anchor`, `anchor_strength`.
    pub anchor: Option<String>,
    pub anchor_strength: Option<f64>,
}

/// `[policy]` as written: the settings of the `replay` and `drift` policies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `[policy.replay]` (or `replay.KEY = ...` under `[policy]`)
    #[serde(default)]
    pub replay: RawReplay,
    /// `[policy.drift]`
    #[serde(default)]
    pub drift: RawDrift,
}

/// `[policy.replay]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub samples: Option<usize>,
    pub sampling: Option<String>,
}

/// `[policy.drift]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    pub detector: Option<String>,
    pub delta: Option<f64>,
    pub threshold: Option<f64>,
    pub min_samples: Option<usize>,
    pub confidence: Option<f64>,
    pub recent_windows: Option<usize>,
}

/// `[gate]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub require: Option<Vec<String>>,
}

impl RawConfig {
    /// Parses config text; `path` names the file in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }
}
