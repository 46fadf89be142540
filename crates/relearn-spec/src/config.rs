//! The run configuration: the TOML file as written ([`RawConfig`]) and the validated
//! [`RunSpec`] that the trainer accepts.
//!
//! Parsing rejects unknown keys and wrong types (toml's messages carry the line); validation
//! then checks every value's range and the combinations of keys, naming the key and its line.
//! Nothing past [`RunSpec::from_toml`] can hold an invalid setting.

use std::path::{Path, PathBuf};

use relearn_data::{
    ColumnKind, CsvSource, DEFAULT_HASH_BUCKETS, DEFAULT_MAX_CATEGORIES, GeneratorKind,
    GeneratorSpec, MAX_CATEGORY_INPUTS, Scaling, StreamSource, Task,
};
use relearn_model::{Activation, Backend, FitPath};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::defaults;
use crate::gate::Gate;
use crate::vocab::{AnchorKind, Mode, Policy, Sampling};

/// An invalid config file: what is wrong, where (file, key, line) and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type (toml reports the line and column).
    #[error("{path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, which names the line, column and key.
        message: String,
    },
    /// A value out of range, or keys that do not go together.
    #[error("{path}{}: `{key}` {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted key, e.g. `train.lr`.
        key: String,
        /// Line of the key in the file, when it is written there.
        line: Option<usize>,
        /// What is wrong and what would be right.
        message: String,
    },
}

// ---------------------------------------------------------------------------------------------
// The file as written.

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
}

/// `[window]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub size: Option<usize>,
    pub initial: Option<usize>,
}

/// `[model]` as written.
#[allow(missing_docs)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub hidden: Option<Vec<usize>>,
    pub activation: Option<String>,
    pub dropout: Option<f64>,
    // Model import (`model.init`, see crate::import).
    pub init: Option<PathBuf>,
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

// ---------------------------------------------------------------------------------------------
// The validated spec.

/// A validated run configuration. Built only by [`RunSpec::from_toml`] / [`RunSpec::load`],
/// so every value is in range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    /// Run name: the handle for `log`, `tree` and refs.
    pub name: String,
    /// Update mode.
    pub mode: Mode,
    /// Seed of every random choice (weights, shuffling, sampling, generators).
    pub seed: u64,
    /// Store folder (resolved against the config file's folder).
    pub store: PathBuf,
    /// Burn CPU backend.
    pub backend: Backend,
    /// Which implementation trains (`run.trainer`): the fused trainer (Flex only) or Burn's
    /// autodiff (any backend).
    pub trainer: FitPath,
    /// Where samples come from.
    pub source: StreamSource,
    /// Feature scaling.
    pub scaling: Scaling,
    /// Standardised inputs are clipped to `±clip` standard deviations (`data.clip`;
    /// `f64::INFINITY`: never).
    pub clip: f64,
    /// Samples per window.
    pub window_size: usize,
    /// Windows in the initial training set.
    pub initial_windows: usize,
    /// The model.
    pub model: ModelSpec,
    /// Training of the initial model and of every stateless retraining.
    pub train: TrainSpec,
    /// Stateless updates.
    pub stateless: StatelessSpec,
    /// Stateful updates (also the fine-tuning of the replay and drift policies).
    pub stateful: StatefulSpec,
    /// The replay policy.
    pub replay: ReplaySpec,
    /// The drift policy.
    pub drift: DriftSpec,
    /// The promotion gate, if any: a candidate that fails it does not become the head.
    pub gate: Option<Gate>,
    /// `stateful.anchor_strength` as written (for [`RunSpec::with_anchor`]).
    #[serde(skip)]
    pub anchor_strength_written: Option<f64>,
}

/// `[policy.replay]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplaySpec {
    /// Capacity of the reservoir of past samples mixed into every update, at least 1.
    pub samples: usize,
    /// What a full reservoir keeps.
    pub sampling: Sampling,
}

/// `[policy.drift]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftSpec {
    /// The detector watching the serving model's per-sample prequential loss.
    pub detector: DetectorSpec,
    /// Windows (the current one included) a reset may retrain on, at least 1: it takes
    /// their samples from the detector's estimated change on, and at least the current
    /// window.
    pub recent_windows: usize,
}

/// A drift detector and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DetectorSpec {
    /// Page-Hinkley: fires when the cumulative excess of the loss over its running mean
    /// (less `delta` per sample) rises `threshold` above its minimum.
    PageHinkley {
        /// Tolerated increase per sample, in loss units.
        delta: f64,
        /// Alarm level, in loss units.
        threshold: f64,
        /// Samples seen before it may fire.
        min_samples: usize,
    },
    /// ADWIN: fires when a recent part of its adaptive window has a significantly higher
    /// mean loss than the older part, at confidence `confidence`.
    Adwin {
        /// The bound's delta (smaller: fewer false alarms, slower detection).
        confidence: f64,
    },
}

impl DetectorSpec {
    /// The config spelling of its kind.
    pub fn name(&self) -> &'static str {
        match self {
            DetectorSpec::PageHinkley { .. } => "page-hinkley",
            DetectorSpec::Adwin { .. } => "adwin",
        }
    }
}

/// `[model]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Activation.
    pub activation: Activation,
    /// Dropout probability in `[0, 1)`.
    pub dropout: f64,
    /// `model.init`: the model file the run starts from instead of training one. Absent
    /// from the fingerprint when not set, so other runs keep their ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<ModelInit>,
}

/// `model.init`, validated: the file read and checked (see [`crate::import`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInit {
    /// The file (resolved against the config file's folder). Not fingerprinted: the
    /// file's name and content are, however its path was spelled.
    #[serde(skip)]
    pub path: PathBuf,
    /// The file's name.
    pub file: String,
    /// sha256 of the file's bytes: a run started from one file refuses to resume with
    /// another.
    pub sha256: String,
    /// The model it holds.
    #[serde(skip)]
    pub model: std::sync::Arc<relearn_model::import::ImportedModel>,
}

/// `[train]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSpec {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per gradient step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay added to the gradient (Adam's classic form).
    pub weight_decay: f64,
    /// `train.freeze`: linear layers (0 = first; sorted, no repeats) whose weights and
    /// biases no update changes. Every training (fresh and fine-tuning) honours it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<usize>,
    /// `train.lr_scale`: one learning-rate factor per linear layer, applied to `train.lr`
    /// and `stateful.lr`; empty when every factor is 1 (then not fingerprinted: a config
    /// that spells out the default keeps its ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lr_scale: Vec<f64>,
    /// `train.min_steps`: a training from fresh weights (the initial model, a stateless
    /// retraining, a drift reset) takes at least this many steps, with more epochs than
    /// `epochs` when the training set is small (0: `epochs` alone). Fingerprinted only when
    /// not the default: every config whose training sets were large enough for it to change
    /// nothing keeps its ids.
    #[serde(skip_serializing_if = "is_default_min_steps")]
    pub min_steps: usize,
    /// `train.max_steps`: a training from fresh weights on a large training set stops after
    /// the last whole epoch within this many steps (at least one epoch), so a retraining on
    /// thousands of noisy rows does not make `epochs` passes over them. Fingerprinted only
    /// when not the default: every config whose fresh trainings stay below it keeps its ids.
    #[serde(skip_serializing_if = "is_default_max_steps")]
    pub max_steps: usize,
}

fn is_default_min_steps(steps: &usize) -> bool {
    *steps == defaults::TRAIN_MIN_STEPS
}

fn is_default_max_steps(steps: &usize) -> bool {
    *steps == defaults::TRAIN_MAX_STEPS
}

impl TrainSpec {
    /// Epochs of a training from fresh weights on `rows` samples: `epochs`, or enough
    /// epochs of `batch_size` steps for `min_steps` steps, but no more whole epochs than fit
    /// in `max_steps` steps (and at least one).
    pub fn fresh_epochs(&self, rows: usize) -> usize {
        let steps_per_epoch = rows.div_ceil(self.batch_size.max(1)).max(1);
        let epochs = self.epochs.max(self.min_steps.div_ceil(steps_per_epoch));
        epochs.min((self.max_steps / steps_per_epoch).max(1))
    }
}

/// `[stateless]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatelessSpec {
    /// Share of each training set drawn from the initial windows, in `[0, 1)`.
    pub initial_fraction: f64,
    /// Most recent windows in each training set (the current one included), at least 1.
    pub recent_windows: usize,
    /// Where each retraining's weights start (`stateless.init`); absent from the
    /// fingerprint when fresh, so default configs keep their ids.
    #[serde(skip_serializing_if = "StatelessInit::is_fresh")]
    pub init: StatelessInit,
}

/// Where a stateless retraining's weights start (`stateless.init`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StatelessInit {
    /// Fresh weights seeded by (seed, window), as the book's stateless retraining.
    #[default]
    Fresh,
    /// `shrink * w_prev + perturb * w_fresh` (Ash & Adams 2020): `w_prev` the serving
    /// checkpoint's weights, `w_fresh` the fresh weights `Fresh` would start from.
    ShrinkPerturb {
        /// λ, in [0, 1].
        shrink: f64,
        /// σ, >= 0.
        perturb: f64,
    },
}

impl StatelessInit {
    /// Whether it is the default, fresh weights.
    pub fn is_fresh(&self) -> bool {
        *self == StatelessInit::Fresh
    }
}

/// `[stateful]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatefulSpec {
    /// Passes over each new window.
    pub epochs: usize,
    /// Adam learning rate for fine-tuning.
    pub lr: f64,
    /// Keep Adam's moments across windows (else each window starts a fresh optimizer).
    pub carry_optimizer: bool,
    /// The penalty that anchors each fine-tune (`stateful.anchor`); absent from the
    /// fingerprint when none, so default configs keep their ids.
    #[serde(skip_serializing_if = "AnchorSpec::is_none")]
    pub anchor: AnchorSpec,
}

/// `stateful.anchor` and `stateful.anchor_strength`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct AnchorSpec {
    /// Which anchor.
    pub kind: AnchorKind,
    /// `strength` of `strength / 2 * sum F (w - c)^2`, > 0 (meaningless for none).
    pub strength: f64,
}

impl AnchorSpec {
    /// Whether fine-tunes are not anchored (the default).
    pub fn is_none(&self) -> bool {
        self.kind == AnchorKind::None
    }
}

impl Policy {
    /// `spec` run as this policy.
    pub fn apply(self, spec: RunSpec) -> RunSpec {
        let spec = spec.with_mode(self.mode);
        match self.anchor {
            Some(kind) => spec.with_anchor(kind),
            None => spec,
        }
    }
}

impl RunSpec {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<RunSpec, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RunSpec::from_toml(&text, path)
    }

    /// Parses and validates config text; `path` names the file in messages and anchors
    /// relative paths.
    pub fn from_toml(text: &str, path: &Path) -> Result<RunSpec, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        Validator { text, path }.validate(raw)
    }

    /// The same run in another mode (`run --mode`, `compare`).
    pub fn with_mode(mut self, mode: Mode) -> RunSpec {
        self.mode = mode;
        self
    }

    /// The same run with another `stateful.anchor` (`compare --policies stateful+ewc`); the
    /// strength is `stateful.anchor_strength` as written, else the kind's default.
    pub fn with_anchor(mut self, kind: AnchorKind) -> RunSpec {
        let strength = match self.anchor_strength_written {
            Some(s) => s,
            None => crate::defaults::anchor_strength(kind),
        };
        self.stateful.anchor = AnchorSpec { kind, strength };
        self
    }

    /// The same settings under another run name (`compare`).
    pub fn with_name(mut self, name: String) -> RunSpec {
        self.name = name;
        self
    }

    /// The task the stream poses.
    pub fn task(&self) -> Task {
        source_task(&self.source)
    }

    /// The same run behind another promotion gate (`run --gate`), or none.
    pub fn with_gate(mut self, gate: Option<Gate>) -> RunSpec {
        self.gate = gate;
        self
    }

    /// A hash of every setting that shapes this run's checkpoints: the data source, the
    /// windows, the model, the training settings of this mode, the seed and the backend.
    /// Not the run name, the store or the gate (which decides what is promoted, not what is
    /// trained). A rerun whose fingerprint differs from the stored
    /// run's is refused: it would mix two different experiments in one lineage.
    pub fn fingerprint(&self) -> String {
        #[derive(Serialize)]
        struct Fingerprinted<'a> {
            version: u32,
            mode: Mode,
            seed: u64,
            backend: Backend,
            // Absent for the backend's own trainer, so that default configs keep their ids.
            #[serde(skip_serializing_if = "Option::is_none")]
            trainer: Option<FitPath>,
            source: &'a StreamSource,
            scaling: Scaling,
            // Absent at its default, so that configs written before it keep their ids.
            #[serde(skip_serializing_if = "Option::is_none")]
            clip: Option<String>,
            window_size: usize,
            initial_windows: usize,
            model: &'a ModelSpec,
            train: &'a TrainSpec,
            stateless: Option<&'a StatelessSpec>,
            stateful: Option<&'a StatefulSpec>,
            // Absent for the two book modes, so their fingerprints (and ids) are the ones
            // they had before the other policies existed.
            #[serde(skip_serializing_if = "Option::is_none")]
            replay: Option<&'a ReplaySpec>,
            #[serde(skip_serializing_if = "Option::is_none")]
            drift: Option<&'a DriftSpec>,
        }
        let f = Fingerprinted {
            version: 1,
            mode: self.mode,
            seed: self.seed,
            backend: self.backend,
            trainer: (self.trainer != FitPath::default_for(self.backend)).then_some(self.trainer),
            source: &self.source,
            scaling: self.scaling,
            clip: (self.clip != defaults::CLIP).then(|| self.clip.to_string()),
            window_size: self.window_size,
            initial_windows: self.initial_windows,
            model: &self.model,
            train: &self.train,
            stateless: (self.mode == Mode::Stateless).then_some(&self.stateless),
            stateful: self.mode.fine_tunes().then_some(&self.stateful),
            replay: (self.mode == Mode::Replay).then_some(&self.replay),
            drift: (self.mode == Mode::Drift).then_some(&self.drift),
        };
        let json = serde_json::to_vec(&f).expect("spec serialises");
        hex::encode(Sha256::digest(&json))
    }
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            // A missing key is placed at its table's header, when there is one.
            line: key_line(self.text, key).or_else(|| {
                let mut table = key;
                while let Some((outer, _)) = table.rsplit_once('.') {
                    table = outer;
                    if let Some(line) = key_line(self.text, table) {
                        return Some(line);
                    }
                }
                None
            }),
            message: message.into(),
        }
    }

    fn validate(&self, mut raw: RawConfig) -> Result<RunSpec, ConfigError> {
        let base = self.path.parent().unwrap_or(Path::new(""));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let name = raw.run.name.ok_or_else(|| {
            self.invalid(
                "run.name",
                "is required: add `name = \"my-run\"` under [run]",
            )
        })?;
        if !valid_name(&name) {
            return Err(self.invalid(
                "run.name",
                format!("{name:?} is not a valid run name: use 1-100 letters, digits, '.', '_' or '-', not starting with '.'"),
            ));
        }
        if name.len() >= relearn_store::MIN_PREFIX_LEN
            && name.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(self.invalid(
                "run.name",
                format!("{name:?} looks like a checkpoint id prefix, and REF syntax would confuse the two; use a name with a letter other than a-f"),
            ));
        }
        if crate::gate::is_reserved_tag(&name) {
            return Err(self.invalid(
                "run.name",
                format!("{name:?} is a name the promotion gate gives its rejected candidates (`rejected`, `<run>.rejected.<window>`), and REF syntax would confuse the two; choose another name"),
            ));
        }
        let mode = match raw.run.mode {
            None => defaults::MODE,
            Some(m) => Mode::parse(&m).ok_or_else(|| {
                self.invalid(
                    "run.mode",
                    format!("is {m:?}; expected {}", Mode::expected()),
                )
            })?,
        };
        let backend = match raw.run.backend {
            None => Backend::default(),
            Some(b) => Backend::parse(&b).ok_or_else(|| {
                self.invalid(
                    "run.backend",
                    format!("is {b:?}; expected \"flex\" or \"ndarray\""),
                )
            })?,
        };
        let trainer = match raw.run.trainer.as_deref() {
            None => FitPath::default_for(backend),
            Some("autodiff") => FitPath::Autodiff,
            Some("fused") if backend == Backend::Flex => FitPath::Fused,
            Some("fused") => {
                return Err(self.invalid(
                    "run.trainer",
                    format!(
                        "is \"fused\", which runs on the flex backend only, not on {:?}; use \"autodiff\" or backend = \"flex\"",
                        backend.name()
                    ),
                ));
            }
            Some(t) => {
                return Err(self.invalid(
                    "run.trainer",
                    format!("is {t:?}; expected \"fused\" or \"autodiff\""),
                ));
            }
        };
        let seed = raw.run.seed.unwrap_or(defaults::SEED);
        // The store is relative to the working directory, like every command's `--store`
        // default, so that `relearn run --config configs/x.toml` and then `relearn log`
        // see the same store. Data paths are relative to the config file.
        let store = raw
            .run
            .store
            .unwrap_or_else(|| PathBuf::from(defaults::STORE));

        let window_size = raw.window.size.unwrap_or(defaults::WINDOW_SIZE);
        if window_size == 0 {
            return Err(self.invalid("window.size", "must be at least 1"));
        }
        let initial_windows = raw.window.initial.unwrap_or(defaults::WINDOW_INITIAL);
        if initial_windows == 0 {
            return Err(self.invalid(
                "window.initial",
                "must be at least 1: the initial model needs data",
            ));
        }
        if window_size.checked_mul(initial_windows + 1).is_none() {
            return Err(self.invalid(
                "window.size",
                format!("is {window_size}: {window_size} samples times {} windows (window.initial + 1) is more samples than this machine can count; use a window of at most a few million samples", initial_windows as u128 + 1),
            ));
        }

        let scaling_written = raw.data.scaling.is_some();
        let clip = raw.data.clip.unwrap_or(defaults::CLIP);
        if clip.is_nan() || clip < 1.0 {
            return Err(self.invalid(
                "data.clip",
                format!(
                    "is {clip}; expected a number of standard deviations of at least 1 (default {}), or inf to never clip",
                    defaults::CLIP
                ),
            ));
        }
        let (source, mut scaling) = self.source(raw.data, seed, &resolve)?;

        // Model import: the file is read here, so a bad file is a config error (exit 2,
        // before the store is touched); its widths are the model's.
        let init = match raw.model.init {
            None => None,
            Some(path) => Some(self.model_init(resolve(path))?),
        };
        if let Some(init) = &init {
            let hidden_written = raw.model.hidden.clone();
            let file_hidden = init.model.weights.widths();
            let file_hidden = file_hidden[1..file_hidden.len() - 1].to_vec();
            if let Some(written) = hidden_written {
                self.check_hidden_matches(&written, init)?;
            }
            raw.model.hidden = Some(file_hidden);
            scaling = self.import_scaling(init, scaling, scaling_written)?;
            if let (Some(file), Some(written)) = (
                init.model.activation.as_deref(),
                raw.model.activation.as_deref(),
            ) && file != written
            {
                return Err(self.invalid(
                    "model.activation",
                    format!(
                        "is {written:?} but {} was exported from a model with activation {file:?}; remove `model.activation` or set it to {file:?}",
                        init.file
                    ),
                ));
            }
            if raw.model.activation.is_none() {
                raw.model.activation = init.model.activation.clone();
            }
        }

        let hidden = raw
            .model
            .hidden
            .unwrap_or_else(|| defaults::HIDDEN.to_vec());
        if hidden.contains(&0) || hidden.len() > 16 {
            return Err(self.invalid(
                "model.hidden",
                "must list at most 16 layer widths, each at least 1",
            ));
        }
        let activation = match raw.model.activation {
            None => Activation::Relu,
            Some(a) => Activation::parse(&a).ok_or_else(|| {
                self.invalid(
                    "model.activation",
                    format!("is {a:?}; expected \"relu\", \"gelu\" or \"tanh\""),
                )
            })?,
        };
        let dropout = raw.model.dropout.unwrap_or(0.0);
        if !(0.0..1.0).contains(&dropout) {
            return Err(self.invalid("model.dropout", format!("is {dropout}; must be in [0, 1)")));
        }

        let train = TrainSpec {
            epochs: self.positive("train.epochs", raw.train.epochs, defaults::TRAIN_EPOCHS)?,
            batch_size: self.positive(
                "train.batch_size",
                raw.train.batch_size,
                defaults::BATCH_SIZE,
            )?,
            lr: self.learning_rate("train.lr", raw.train.lr, defaults::TRAIN_LR)?,
            weight_decay: match raw.train.weight_decay {
                None => 0.0,
                Some(w) if w.is_finite() && w >= 0.0 => w,
                Some(w) => {
                    return Err(self.invalid("train.weight_decay", format!("is {w}; must be >= 0")));
                }
            },
            freeze: Vec::new(),
            lr_scale: Vec::new(),
            min_steps: raw.train.min_steps.unwrap_or(defaults::TRAIN_MIN_STEPS),
            max_steps: raw.train.max_steps.unwrap_or(defaults::TRAIN_MAX_STEPS),
        };
        if train.max_steps < train.min_steps.max(1) {
            return Err(self.invalid(
                "train.max_steps",
                format!(
                    "is {}: below train.min_steps ({}); a fresh training cannot take at least {} steps and at most {}",
                    train.max_steps, train.min_steps, train.min_steps, train.max_steps
                ),
            ));
        }
        let (freeze, lr_scale) =
            self.layer_training(raw.train.freeze, raw.train.lr_scale, hidden.len() + 1)?;
        let train = TrainSpec {
            freeze,
            lr_scale,
            ..train
        };
        let initial_fraction = raw
            .stateless
            .initial_fraction
            .unwrap_or(defaults::INITIAL_FRACTION);
        if !(0.0..1.0).contains(&initial_fraction) {
            return Err(self.invalid(
                "stateless.initial_fraction",
                format!("is {initial_fraction}; must be in [0, 1) (0.3 = 30 % initial data, 70 % recent)"),
            ));
        }
        let stateless = StatelessSpec {
            initial_fraction,
            recent_windows: self.positive(
                "stateless.recent_windows",
                raw.stateless.recent_windows,
                defaults::RECENT_WINDOWS,
            )?,
            init: self.stateless_init(
                raw.stateless.init.as_deref(),
                raw.stateless.shrink,
                raw.stateless.perturb,
            )?,
        };
        let stateful = StatefulSpec {
            epochs: self.positive(
                "stateful.epochs",
                raw.stateful.epochs,
                defaults::STATEFUL_EPOCHS,
            )?,
            lr: self.learning_rate("stateful.lr", raw.stateful.lr, defaults::STATEFUL_LR)?,
            carry_optimizer: raw.stateful.carry_optimizer.unwrap_or(true),
            anchor: self.anchor(raw.stateful.anchor.as_deref(), raw.stateful.anchor_strength)?,
        };

        let replay = ReplaySpec {
            samples: self.positive(
                "policy.replay.samples",
                raw.policy.replay.samples,
                (window_size / 2).max(1),
            )?,
            sampling: match raw.policy.replay.sampling.as_deref() {
                None => defaults::REPLAY_SAMPLING,
                Some(name) => Sampling::parse(name).ok_or_else(|| {
                    self.invalid(
                        "policy.replay.sampling",
                        format!("is {name:?}; expected \"recent\" or \"uniform\""),
                    )
                })?,
            },
        };
        let drift = self.drift(raw.policy.drift, source_task(&source))?;
        let gate = match raw.gate.require {
            None => None,
            Some(conditions) => Some(
                Gate::parse(&conditions.join(","), source_task(&source))
                    .map_err(|e| self.invalid("gate.require", e))?,
            ),
        };

        Ok(RunSpec {
            name,
            mode,
            seed,
            store,
            backend,
            trainer,
            source,
            scaling,
            clip,
            window_size,
            initial_windows,
            model: ModelSpec {
                hidden,
                activation,
                dropout,
                init,
            },
            train,
            stateless,
            stateful,
            replay,
            drift,
            gate,
            anchor_strength_written: raw.stateful.anchor_strength,
        })
    }

    // Anchored fine-tuning and warm-started retraining (issue 14 B).

    fn anchor(&self, kind: Option<&str>, strength: Option<f64>) -> Result<AnchorSpec, ConfigError> {
        let kind = match kind {
            None => AnchorKind::None,
            Some(k) => AnchorKind::parse(k).ok_or_else(|| {
                self.invalid(
                    "stateful.anchor",
                    format!("is {k:?}; expected \"none\", \"l2-init\" or \"ewc\""),
                )
            })?,
        };
        // A strength with `anchor = "none"` is kept for `compare --policies stateful+ewc`.
        let strength = match strength {
            None => crate::defaults::anchor_strength(kind),
            Some(s) if s > 0.0 && s <= defaults::MAX_ANCHOR_STRENGTH => s,
            Some(s) => {
                return Err(self.invalid(
                    "stateful.anchor_strength",
                    format!(
                        "is {}; must be a number > 0 and at most {:e} (the defaults are {} for \
                         \"l2-init\" and {} for \"ewc\"; far stronger holds every weight at its \
                         anchor, and the penalty's gradient overflows 32-bit floats)",
                        if s.is_finite() && (s == 0.0 || (1e-3..1e6).contains(&s.abs())) {
                            s.to_string()
                        } else {
                            format!("{s:e}")
                        },
                        defaults::MAX_ANCHOR_STRENGTH,
                        defaults::ANCHOR_STRENGTH_L2_INIT,
                        defaults::ANCHOR_STRENGTH_EWC
                    ),
                ));
            }
        };
        Ok(AnchorSpec { kind, strength })
    }

    fn stateless_init(
        &self,
        init: Option<&str>,
        shrink: Option<f64>,
        perturb: Option<f64>,
    ) -> Result<StatelessInit, ConfigError> {
        match init.unwrap_or("fresh") {
            "fresh" => {
                for (key, set) in [
                    ("stateless.shrink", shrink.is_some()),
                    ("stateless.perturb", perturb.is_some()),
                ] {
                    if set {
                        return Err(self.invalid(
                            key,
                            "applies to `stateless.init = \"shrink-perturb\"` only",
                        ));
                    }
                }
                Ok(StatelessInit::Fresh)
            }
            "shrink-perturb" => {
                let shrink = shrink.unwrap_or(defaults::SHRINK);
                if !(0.0..=1.0).contains(&shrink) {
                    return Err(self.invalid(
                        "stateless.shrink",
                        format!("is {shrink}; must be in [0, 1] (try 0.4)"),
                    ));
                }
                let perturb = perturb.unwrap_or(defaults::PERTURB);
                if !(perturb.is_finite() && (0.0..=10.0).contains(&perturb)) {
                    return Err(self.invalid(
                        "stateless.perturb",
                        format!("is {perturb}; must be in [0, 10] (try 0.1)"),
                    ));
                }
                if shrink == 0.0 && perturb == 0.0 {
                    return Err(self.invalid(
                        "stateless.perturb",
                        "is 0 with `stateless.shrink = 0`: every weight would start at 0; make one of them > 0",
                    ));
                }
                Ok(StatelessInit::ShrinkPerturb { shrink, perturb })
            }
            other => Err(self.invalid(
                "stateless.init",
                format!("is {other:?}; expected \"fresh\" or \"shrink-perturb\""),
            )),
        }
    }

    fn drift(&self, raw: RawDrift, task: Task) -> Result<DriftSpec, ConfigError> {
        let detector = raw.detector.as_deref().unwrap_or("page-hinkley");
        let only = |key: &str, set: bool, kind: &str| match set {
            true => Err(self.invalid(
                key,
                format!("applies to the {kind} detector only, not to {detector:?}"),
            )),
            false => Ok(()),
        };
        let positive_f64 = |key: &str, value: Option<f64>, default: f64| match value {
            None => Ok(default),
            Some(v) if v.is_finite() && v > 0.0 => Ok(v),
            Some(v) => Err(self.invalid(key, format!("is {v}; must be a number > 0"))),
        };
        let detector = match detector {
            "page-hinkley" => {
                only("policy.drift.confidence", raw.confidence.is_some(), "adwin")?;
                DetectorSpec::PageHinkley {
                    delta: match raw.delta {
                        None => defaults::DRIFT_DELTA,
                        Some(v) if v.is_finite() && v >= 0.0 => v,
                        Some(v) => {
                            return Err(self.invalid(
                                "policy.drift.delta",
                                format!("is {v}; must be >= 0 (loss units per sample)"),
                            ));
                        }
                    },
                    threshold: positive_f64(
                        "policy.drift.threshold",
                        raw.threshold,
                        match task {
                            Task::Classification => defaults::DRIFT_THRESHOLD,
                            Task::Regression => defaults::DRIFT_THRESHOLD_REGRESSION,
                        },
                    )?,
                    min_samples: raw.min_samples.unwrap_or(defaults::DRIFT_MIN_SAMPLES),
                }
            }
            "adwin" => {
                for (key, set) in [
                    ("policy.drift.delta", raw.delta.is_some()),
                    ("policy.drift.threshold", raw.threshold.is_some()),
                    ("policy.drift.min_samples", raw.min_samples.is_some()),
                ] {
                    only(key, set, "page-hinkley")?;
                }
                let confidence = positive_f64(
                    "policy.drift.confidence",
                    raw.confidence,
                    defaults::DRIFT_CONFIDENCE,
                )?;
                if confidence >= 1.0 {
                    return Err(self.invalid(
                        "policy.drift.confidence",
                        format!("is {confidence}; must be in (0, 1) (try 0.002)"),
                    ));
                }
                DetectorSpec::Adwin { confidence }
            }
            other => {
                return Err(self.invalid(
                    "policy.drift.detector",
                    format!("is {other:?}; expected \"page-hinkley\" or \"adwin\""),
                ));
            }
        };
        Ok(DriftSpec {
            detector,
            recent_windows: self.positive(
                "policy.drift.recent_windows",
                raw.recent_windows,
                defaults::DRIFT_RECENT_WINDOWS,
            )?,
        })
    }

    /// `model.init`: reads and checks the file.
    fn model_init(&self, path: PathBuf) -> Result<ModelInit, ConfigError> {
        let model = relearn_model::import::read(&path)
            .map_err(|e| self.invalid("model.init", e.to_string()))?;
        Ok(ModelInit {
            path,
            file: model.file_name.clone(),
            sha256: model.sha256.clone(),
            model: std::sync::Arc::new(model),
        })
    }

    /// A `model.hidden` written beside `model.init` must be the file's.
    fn check_hidden_matches(&self, written: &[usize], init: &ModelInit) -> Result<(), ConfigError> {
        let model = &init.model;
        let layers = model.weights.layers.len();
        if written.len() + 1 != layers {
            return Err(self.invalid(
                "model.hidden",
                format!(
                    "is {written:?} ({} hidden layers) but {} holds {layers} linear layers ({} hidden, widths {:?}); remove `model.hidden` (the file's widths are used) or make it match",
                    written.len(),
                    init.file,
                    layers - 1,
                    model.weights.widths()
                ),
            ));
        }
        for (l, &width) in written.iter().enumerate() {
            let [out, input] = model.file_shape(l);
            if out != width {
                return Err(self.invalid(
                    "model.hidden",
                    format!(
                        "says hidden layer {l} has {width} units, but in {} {} has {out}: expected shape [{width}, {input}], found [{out}, {input}]; remove `model.hidden` (the file's widths are used) or make it match",
                        init.file,
                        model.describe_layer(l)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How an imported model sees its features: as its source did. A relearn export's own
    /// scaling; a foreign model's inputs as they are (`data.scaling = "none"`).
    fn import_scaling(
        &self,
        init: &ModelInit,
        scaling: Scaling,
        written: bool,
    ) -> Result<Scaling, ConfigError> {
        let file_mode = match &init.model.preprocessor {
            Some(pre) => pre.scaler.mode,
            None => Scaling::None,
        };
        if written && scaling != file_mode {
            let why = match &init.model.preprocessor {
                Some(_) => format!(
                    "{} is a relearn export whose preprocessing scales features with mode {:?}, and the imported model keeps it",
                    init.file,
                    file_mode.name()
                ),
                None => format!(
                    "{} carries no relearn preprocessing, so the model sees the features as they are in the data, as it did where it was trained (prepare the columns the way the model expects)",
                    init.file
                ),
            };
            return Err(self.invalid(
                "data.scaling",
                format!(
                    "is {:?}, but {why}; remove `data.scaling` or set it to {:?}",
                    scaling.name(),
                    file_mode.name()
                ),
            ));
        }
        Ok(file_mode)
    }

    /// `train.freeze` and `train.lr_scale` for a model of `layers` linear layers.
    fn layer_training(
        &self,
        freeze: Option<Vec<usize>>,
        lr_scale: Option<Vec<f64>>,
        layers: usize,
    ) -> Result<(Vec<usize>, Vec<f64>), ConfigError> {
        let mut freeze = freeze.unwrap_or_default();
        if let Some(&l) = freeze.iter().find(|&&l| l >= layers) {
            return Err(self.invalid(
                "train.freeze",
                format!(
                    "names linear layer {l}, but the model has {layers} (0 to {}; 0 is the first)",
                    layers - 1
                ),
            ));
        }
        freeze.sort_unstable();
        freeze.dedup();
        let lr_scale = lr_scale.unwrap_or_default();
        if !lr_scale.is_empty() && lr_scale.len() != layers {
            return Err(self.invalid(
                "train.lr_scale",
                format!(
                    "lists {} factors, but the model has {layers} linear layers: give one factor per layer (e.g. {:?})",
                    lr_scale.len(),
                    vec![1.0; layers]
                ),
            ));
        }
        if let Some(f) = lr_scale.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            return Err(self.invalid(
                "train.lr_scale",
                format!(
                    "holds {f}; each factor must be > 0 (to keep a layer fixed, use `train.freeze`)"
                ),
            ));
        }
        let lr_scale = match lr_scale.iter().all(|&f| f == 1.0) {
            true => Vec::new(),
            false => lr_scale,
        };
        Ok((freeze, lr_scale))
    }

    fn positive(
        &self,
        key: &str,
        value: Option<usize>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(0) => Err(self.invalid(key, "must be at least 1")),
            Some(v) => Ok(v),
        }
    }

    fn learning_rate(
        &self,
        key: &str,
        value: Option<f64>,
        default: f64,
    ) -> Result<f64, ConfigError> {
        match value {
            None => Ok(default),
            Some(lr) if lr.is_finite() && lr > 0.0 && lr <= 10.0 => Ok(lr),
            Some(lr) => Err(self.invalid(
                key,
                format!("is {lr}; a learning rate must be > 0 and <= 10 (try 1e-3)"),
            )),
        }
    }

    fn source(
        &self,
        data: RawData,
        seed: u64,
        resolve: &impl Fn(PathBuf) -> PathBuf,
    ) -> Result<(StreamSource, Scaling), ConfigError> {
        let scaling = match data.scaling.as_deref() {
            None => defaults::SCALING,
            Some(s) => Scaling::parse(s).ok_or_else(|| {
                self.invalid(
                    "data.scaling",
                    format!("is {s:?}; expected \"none\", \"initial\" or \"running\""),
                )
            })?,
        };
        let task = match data.task.as_deref() {
            None => None,
            Some(t) => Some(Task::parse(t).ok_or_else(|| {
                self.invalid(
                    "data.task",
                    format!("is {t:?}; expected \"classification\" or \"regression\""),
                )
            })?),
        };
        match (data.csv, data.generator) {
            (Some(_), Some(_)) => Err(self.invalid(
                "data.generator",
                "cannot be combined with `data.csv`: keep one data source",
            )),
            (None, None) => Err(self.invalid(
                "data",
                "needs a source: `csv = \"file.csv\"` with `target = \"column\"`, or `generator = \"sea\"`",
            )),
            (Some(csv), None) => {
                for (key, set) in [
                    ("data.samples", data.samples.is_some()),
                    ("data.noise", data.noise.is_some()),
                    ("data.drift_points", data.drift_points.is_some()),
                    ("data.drift_width", data.drift_width.is_some()),
                    ("data.n_features", data.n_features.is_some()),
                    ("data.drift_speed", data.drift_speed.is_some()),
                ] {
                    if set {
                        return Err(self.invalid(key, "applies to generators only, not to `data.csv`"));
                    }
                }
                let target = data
                    .target
                    .ok_or_else(|| self.invalid("data.target", "is required with `data.csv`: name the target column"))?;
                let mut columns = std::collections::BTreeMap::new();
                for (name, kind) in data.columns.unwrap_or_default() {
                    let parsed = ColumnKind::parse(&kind).ok_or_else(|| {
                        self.invalid(
                            &format!("data.columns.{name}"),
                            format!("is {kind:?}; expected \"numeric\", \"categorical\" or \"ignore\""),
                        )
                    })?;
                    columns.insert(name, parsed);
                }
                let max_categories = data.max_categories.unwrap_or(DEFAULT_MAX_CATEGORIES);
                if !(2..=MAX_CATEGORY_INPUTS).contains(&max_categories) {
                    return Err(self.invalid(
                        "data.max_categories",
                        format!("is {max_categories}; must be between 2 and {MAX_CATEGORY_INPUTS} (one-hot inputs per categorical column)"),
                    ));
                }
                let hash_buckets = data.hash_buckets.unwrap_or(DEFAULT_HASH_BUCKETS);
                if hash_buckets > MAX_CATEGORY_INPUTS {
                    return Err(self.invalid(
                        "data.hash_buckets",
                        format!("is {hash_buckets}; at most {MAX_CATEGORY_INPUTS} hashed inputs per column"),
                    ));
                }
                let delimiter = match data.delimiter.as_deref() {
                    None => relearn_data::DEFAULT_DELIMITER,
                    Some(d) => relearn_data::parse_delimiter(d).ok_or_else(|| {
                        self.invalid(
                            "data.delimiter",
                            format!("is {d:?}; expected one character that separates the fields, such as \",\", \";\", \"|\" or \"\\t\" (also \"tab\"), not a letter, digit, space or quote"),
                        )
                    })?,
                };
                Ok((
                    StreamSource::Csv(CsvSource {
                        path: resolve(csv),
                        target,
                        features: data.features.unwrap_or_default(),
                        task: task.unwrap_or(Task::Classification),
                        task_given: task.is_some(),
                        missing: data.missing.unwrap_or_else(|| {
                            relearn_data::DEFAULT_MISSING.map(str::to_string).to_vec()
                        }),
                        columns,
                        max_categories,
                        hash_buckets,
                        delimiter,
                    }),
                    scaling,
                ))
            }
            (None, Some(generator)) => {
                for (key, set) in [
                    ("data.target", data.target.is_some()),
                    ("data.missing", data.missing.is_some()),
                    ("data.features", data.features.is_some()),
                    ("data.columns", data.columns.is_some()),
                    ("data.max_categories", data.max_categories.is_some()),
                    ("data.hash_buckets", data.hash_buckets.is_some()),
                    ("data.delimiter", data.delimiter.is_some()),
                ] {
                    if set {
                        return Err(self.invalid(key, "applies to `data.csv` only, not to generators"));
                    }
                }
                let kind = GeneratorKind::parse(&generator).ok_or_else(|| {
                    let names: Vec<_> = GeneratorKind::ALL.iter().map(|k| k.name()).collect();
                    self.invalid("data.generator", format!("is {generator:?}; expected one of {}", names.join(", ")))
                })?;
                if let Some(task) = task
                    && task != kind.task()
                {
                    return Err(self.invalid(
                        "data.task",
                        format!("does not match generator {generator:?}, which poses a {:?} task", kind.task()),
                    ));
                }
                let mut spec = GeneratorSpec::new(kind, data.samples.unwrap_or(defaults::SAMPLES), seed);
                if let Some(v) = data.noise {
                    spec.noise = v;
                }
                if let Some(v) = data.drift_points {
                    spec.drift_points = v;
                }
                if let Some(v) = data.drift_width {
                    spec.drift_width = v;
                }
                if let Some(v) = data.n_features {
                    spec.n_features = v;
                }
                if let Some(v) = data.drift_speed {
                    spec.drift_speed = v;
                }
                spec.validate().map_err(|e| self.generator_error(e))?;
                Ok((StreamSource::Generator(spec), scaling))
            }
        }
    }

    fn generator_error(&self, e: relearn_data::DataError) -> ConfigError {
        let (key, message) = match e {
            relearn_data::DataError::Config { key, message } => (key.to_string(), message),
            other => ("data".to_string(), other.to_string()),
        };
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: key_line(self.text, &key),
            key,
            message: format!("is invalid: {message}"),
        }
    }
}

/// The task a source poses.
fn source_task(source: &StreamSource) -> Task {
    match source {
        StreamSource::Csv(csv) => csv.task,
        StreamSource::Generator(g) => g.kind.task(),
    }
}

/// Whether `name` is usable as a run name (and so as a file name in the store).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The 1-based line where dotted `key` (e.g. `train.lr`, `policy.replay.samples`) is set in
/// TOML `text`: as `key = ...` under its `[table]` header, with any split of the dots between
/// header and key (`[policy.replay]` + `samples`, or `[policy]` + `replay.samples`), or as a
/// table header itself.
fn key_line(text: &str, key: &str) -> Option<usize> {
    fn dotted(k: &str) -> String {
        k.split('.')
            .map(|part| part.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join(".")
    }
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = dotted(header);
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            let full = match current.is_empty() {
                true => dotted(k),
                false => format!("{current}.{}", dotted(k)),
            };
            if full == key {
                return Some(i + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunSpec, ConfigError> {
        RunSpec::from_toml(text, Path::new("/cfg/run.toml"))
    }

    const MINIMAL: &str = "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n";

    #[test]
    fn minimal_config_takes_documented_defaults() {
        let spec = parse(MINIMAL).unwrap();
        assert_eq!(spec.mode, Mode::Stateful);
        assert_eq!(spec.backend, Backend::Flex);
        assert_eq!(spec.store, PathBuf::from("checkpoints"));
        assert_eq!(spec.window_size, 1000);
        assert_eq!(spec.model.hidden, vec![64, 64]);
        assert_eq!(spec.stateless.recent_windows, 3);
        assert_eq!(spec.task(), Task::Classification);
        assert_eq!(spec.replay.samples, spec.window_size / 2);
        assert_eq!(spec.replay.sampling, Sampling::Recent);
        assert_eq!(spec.drift.recent_windows, 2);
        assert_eq!(
            spec.drift.detector,
            DetectorSpec::PageHinkley {
                delta: 0.05,
                threshold: 800.0,
                min_samples: 30
            }
        );
        assert_eq!(spec.gate, None);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("[run]\nname = \"x\"\n[train]\nlr = 0.1\nlearning_rate = 0.1\n[data]\ngenerator=\"sea\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_key_and_line() {
        let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[train]\nlr = -0.1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.toml:6: `train.lr`"), "{err}");
        let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[stateless]\ninitial_fraction = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":6: `stateless.initial_fraction`"), "{err}");
    }

    #[test]
    fn wrong_type_is_a_parse_error_with_line() {
        let err =
            parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[window]\nsize = \"big\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn sources_are_exclusive_and_required() {
        let err = parse("[run]\nname = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("needs a source"), "{err}");
        let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\ncsv = \"a.csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be combined"), "{err}");
        let err = parse("[run]\nname = \"x\"\n[data]\ncsv = \"a.csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.target"), "{err}");
    }

    #[test]
    fn csv_paths_resolve_against_the_config_folder() {
        let spec = parse("[run]\nname = \"e\"\n[data]\ncsv = \"data/e.csv\"\ntarget = \"class\"\n")
            .unwrap();
        match spec.source {
            StreamSource::Csv(csv) => assert_eq!(csv.path, PathBuf::from("/cfg/data/e.csv")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_delimiter_is_checked_and_fingerprinted_only_when_not_the_default() {
        let csv = "[run]\nname = \"e\"\n[data]\ncsv = \"e.csv\"\ntarget = \"y\"\n";
        let plain = parse(csv).unwrap();
        let delimiter = |spec: &RunSpec| match &spec.source {
            StreamSource::Csv(c) => c.delimiter,
            other => panic!("{other:?}"),
        };
        assert_eq!(delimiter(&plain), b',');
        // Spelling out the default keeps the fingerprint (so ids stay); another changes it.
        let comma = parse(&format!("{csv}delimiter = \",\"\n")).unwrap();
        assert_eq!(comma.fingerprint(), plain.fingerprint());
        for (written, byte) in [
            ("\"\\t\"", b'\t'),
            ("\"tab\"", b'\t'),
            ("'\\t'", b'\t'),
            ("\";\"", b';'),
        ] {
            let spec = parse(&format!("{csv}delimiter = {written}\n")).unwrap();
            assert_eq!(delimiter(&spec), byte, "{written}");
            assert_ne!(spec.fingerprint(), plain.fingerprint(), "{written}");
        }
        for bad in ["\"ab\"", "\"x\"", "\"\"", "\" \"", "\"\\\"\""] {
            let err = parse(&format!("{csv}delimiter = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("run.toml:6: `data.delimiter`"), "{bad}: {err}");
        }
        let err = parse(&format!("{MINIMAL}delimiter = \";\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("applies to `data.csv` only"), "{err}");
        // data.task written or not: the same fingerprint, but the stream knows.
        let given = parse(&format!("{csv}task = \"classification\"\n")).unwrap();
        assert_eq!(given.fingerprint(), plain.fingerprint());
        let given_of = |spec: &RunSpec| match &spec.source {
            StreamSource::Csv(c) => c.task_given,
            other => panic!("{other:?}"),
        };
        assert!(given_of(&given) && !given_of(&plain));
    }

    #[test]
    fn categorical_input_keys_are_bounded() {
        let csv = "[run]\nname = \"e\"\n[data]\ncsv = \"e.csv\"\ntarget = \"y\"\n";
        parse(&format!(
            "{csv}max_categories = 65536\nhash_buckets = 65536\n"
        ))
        .unwrap();
        for (key, value) in [
            ("max_categories", "65537"),
            ("max_categories", "1"),
            ("hash_buckets", "65537"),
        ] {
            let err = parse(&format!("{csv}{key} = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("run.toml:6: `data.{key}`")), "{err}");
            assert!(err.contains("65536"), "{err}");
        }
    }

    #[test]
    fn fingerprint_ignores_name_and_store_but_not_training_settings() {
        let a = parse(MINIMAL).unwrap();
        let b =
            parse("[run]\nname = \"other\"\nstore = \"elsewhere\"\n[data]\ngenerator = \"sea\"\n")
                .unwrap();
        let c =
            parse("[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[stateful]\nlr = 0.01\n")
                .unwrap();
        let d = parse(
            "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[stateless]\nrecent_windows = 5\n",
        )
        .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        // Stateless settings do not shape a stateful run.
        assert_eq!(a.fingerprint(), d.fingerprint());
        assert_ne!(
            a.clone().with_mode(Mode::Stateless).fingerprint(),
            a.fingerprint()
        );
    }

    #[test]
    fn the_trainer_defaults_to_the_backend_s_and_only_a_change_is_fingerprinted() {
        let with = |run: &str| {
            parse(&format!(
                "[run]\nname = \"t\"\n{run}[data]\ngenerator = \"sea\"\n"
            ))
        };
        let flex = with("").unwrap();
        assert_eq!(flex.trainer, FitPath::Fused);
        assert_eq!(
            with("backend = \"ndarray\"\n").unwrap().trainer,
            FitPath::Autodiff
        );
        // Spelling out the default changes nothing; choosing the other trainer does.
        let explicit = with("trainer = \"fused\"\n").unwrap();
        assert_eq!(explicit.fingerprint(), flex.fingerprint());
        let autodiff = with("trainer = \"autodiff\"\n").unwrap();
        assert_eq!(autodiff.trainer, FitPath::Autodiff);
        assert_ne!(autodiff.fingerprint(), flex.fingerprint());
        let err = with("backend = \"ndarray\"\ntrainer = \"fused\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`run.trainer`") && err.contains("flex backend only"),
            "{err}"
        );
        let err = with("trainer = \"jit\"\n").unwrap_err().to_string();
        assert!(err.contains("\"fused\" or \"autodiff\""), "{err}");
    }

    #[test]
    fn max_steps_caps_the_epochs_of_large_fresh_trainings_only() {
        let with = |table: &str| {
            parse(&format!(
                "[run]\nname = \"a\"\n[data]\ngenerator = \"sea\"\n{table}"
            ))
        };
        let plain = with("").unwrap();
        assert_eq!(plain.train.max_steps, defaults::TRAIN_MAX_STEPS);
        // 2,000 rows are 63 batches: 10 epochs are 630 steps, within 700.
        assert_eq!(plain.train.fresh_epochs(2000), 10);
        // 4,286 rows are 134 batches: 5 whole epochs fit in 700 steps.
        assert_eq!(plain.train.fresh_epochs(4286), 5);
        // A training set larger than the cap still gets one epoch.
        assert_eq!(plain.train.fresh_epochs(100_000), 1);
        let off = with("[train]\nmax_steps = 1000000\n").unwrap();
        assert_eq!(off.train.fresh_epochs(4286), 10);
        assert_ne!(off.fingerprint(), plain.fingerprint());
        assert_eq!(
            with("[train]\nmax_steps = 700\n").unwrap().fingerprint(),
            plain.fingerprint()
        );
        let err = with("[train]\nmax_steps = 100\n").unwrap_err().to_string();
        assert!(
            err.contains("train.max_steps") && err.contains("min_steps"),
            "{err}"
        );
    }

    #[test]
    fn min_steps_adds_epochs_to_small_fresh_trainings_only() {
        let with = |table: &str| {
            parse(&format!(
                "[run]\nname = \"a\"\n[data]\ngenerator = \"sea\"\n{table}"
            ))
            .unwrap()
        };
        let plain = with("");
        let train = &plain.train;
        assert_eq!(train.min_steps, defaults::TRAIN_MIN_STEPS);
        // 500 rows are 16 batches of 32: 10 epochs are 160 steps, already enough.
        assert_eq!(train.fresh_epochs(500), 10);
        // 100 rows are 4 batches: 150 steps take 38 epochs; 1 row, 150 epochs.
        assert_eq!(train.fresh_epochs(100), 38);
        assert_eq!(train.fresh_epochs(1), 150);
        assert_eq!(train.fresh_epochs(0), 150);
        let off = with("[train]\nmin_steps = 0\n");
        assert_eq!(off.train.fresh_epochs(100), 10);
        // The default spelled out keeps the fingerprint; another value changes it.
        assert_eq!(
            with("[train]\nmin_steps = 150\n").fingerprint(),
            plain.fingerprint()
        );
        assert_ne!(off.fingerprint(), plain.fingerprint());
    }

    #[test]
    fn anchor_strength_is_bounded() {
        let with = |strength: &str| {
            parse(&format!(
                "{MINIMAL}[stateful]\nanchor = \"ewc\"\nanchor_strength = {strength}\n"
            ))
        };
        assert_eq!(with("1e6").unwrap().stateful.anchor.strength, 1e6);
        for (strength, shown) in [
            ("1e300", "is 1e300;"),
            ("2e6", "is 2e6;"),
            ("-1.0", "is -1;"),
            ("0.0", "is 0;"),
            ("nan", "is NaN;"),
        ] {
            let err = with(strength).unwrap_err().to_string();
            assert!(
                err.contains("run.toml:7: `stateful.anchor_strength`"),
                "{err}"
            );
            assert!(err.contains(shown) && err.contains("at most 1e6"), "{err}");
        }
    }

    #[test]
    fn default_anchor_and_init_keep_the_fingerprint_and_others_change_it() {
        let with = |table: &str, mode: &str| {
            parse(&format!(
                "[run]\nname = \"a\"\nmode = \"{mode}\"\n[data]\ngenerator = \"sea\"\n{table}"
            ))
            .unwrap()
        };
        let plain = with("", "stateful");
        let none = with(
            "[stateful]\nanchor = \"none\"\nanchor_strength = 3.0\n",
            "stateful",
        );
        assert_eq!(plain.fingerprint(), none.fingerprint());
        let ewc = with("[stateful]\nanchor = \"ewc\"\n", "stateful");
        assert_eq!(ewc.stateful.anchor.kind, AnchorKind::Ewc);
        assert_eq!(ewc.stateful.anchor.strength, defaults::ANCHOR_STRENGTH_EWC);
        assert_ne!(plain.fingerprint(), ewc.fingerprint());
        let l2 = with("[stateful]\nanchor = \"l2-init\"\n", "stateful");
        assert_ne!(l2.fingerprint(), ewc.fingerprint());
        // What `compare --policies stateful+ewc` runs is what the config would say.
        assert_eq!(
            plain.clone().with_anchor(AnchorKind::Ewc).fingerprint(),
            ewc.fingerprint()
        );
        let strong = with("[stateful]\nanchor_strength = 7.0\n", "stateful");
        assert_eq!(
            strong
                .with_anchor(AnchorKind::L2Init)
                .stateful
                .anchor
                .strength,
            7.0
        );
        // Stateless: the anchor does not shape it; its init does.
        let stateless = with("", "stateless");
        assert_eq!(
            stateless.fingerprint(),
            with("[stateful]\nanchor = \"ewc\"\n", "stateless").fingerprint()
        );
        assert_eq!(
            stateless.fingerprint(),
            with("[stateless]\ninit = \"fresh\"\n", "stateless").fingerprint()
        );
        let sp = with("[stateless]\ninit = \"shrink-perturb\"\n", "stateless");
        assert_eq!(
            sp.stateless.init,
            StatelessInit::ShrinkPerturb {
                shrink: defaults::SHRINK,
                perturb: defaults::PERTURB
            }
        );
        assert_ne!(stateless.fingerprint(), sp.fingerprint());
    }

    #[test]
    fn policies_parse_and_name_their_runs() {
        for &p in Policy::all() {
            assert_eq!(Policy::parse(p.name()), Some(p));
            assert!(valid_name(&format!("x-{}", p.run_suffix())), "{p}");
        }
        assert_eq!(Policy::parse("stateful"), Some(Policy::STATEFUL));
        assert_eq!(
            Policy::parse("stateful+ewc").unwrap().run_suffix(),
            "stateful-ewc"
        );
        assert_eq!(Policy::parse("stateless+ewc"), None);
    }

    #[test]
    fn freeze_and_lr_scale_are_checked_and_their_defaults_keep_the_fingerprint() {
        let with = |train: &str| {
            parse(&format!(
                "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[train]\n{train}"
            ))
        };
        let plain = parse(MINIMAL).unwrap();
        // Spelling out the defaults changes nothing, not even the fingerprint.
        let defaults = with("freeze = []\nlr_scale = [1.0, 1.0, 1.0]\n").unwrap();
        assert_eq!(defaults.fingerprint(), plain.fingerprint());
        assert_eq!(defaults.train, plain.train);
        let set = with("freeze = [2, 0, 0]\nlr_scale = [0.1, 1.0, 1.0]\n").unwrap();
        assert_eq!(set.train.freeze, vec![0, 2]);
        assert_ne!(set.fingerprint(), plain.fingerprint());
        assert_eq!(set.train.lr_scale, vec![0.1, 1.0, 1.0]);
        let err = with("lr_scale = [0.1, 1.0]\n").unwrap_err().to_string();
        assert!(
            err.contains(":6: `train.lr_scale`") && err.contains("3 linear layers"),
            "{err}"
        );
        let err = with("lr_scale = [0.0, 1.0, 1.0]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("train.freeze"), "{err}");
        let err = with("freeze = [3]\n").unwrap_err().to_string();
        assert!(err.contains("`train.freeze` names linear layer 3"), "{err}");
    }

    #[test]
    fn key_line_finds_keys_under_their_table() {
        let text = "[run]\nname = \"x\"\n\n[train]\n# lr = 1\nlr = 2\n";
        assert_eq!(key_line(text, "train.lr"), Some(6));
        assert_eq!(key_line(text, "run.name"), Some(2));
        assert_eq!(key_line(text, "train"), Some(4));
        assert_eq!(key_line(text, "model.hidden"), None);
        let text = "[policy]\nreplay.samples = 5\n[policy.drift]\ndelta = 1\n";
        assert_eq!(key_line(text, "policy.replay.samples"), Some(2));
        assert_eq!(key_line(text, "policy.drift.delta"), Some(4));
        assert_eq!(key_line(text, "policy.drift"), Some(3));
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("sea-stateful_2.v1"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}
