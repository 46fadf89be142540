//! The validated run configuration: [`RunSpec`] and its sections, every value in range, and
//! the fingerprint of the settings that shape a run's checkpoints.
//!
//! Nothing past [`RunSpec::from_toml`] can hold an invalid setting: the file is parsed into
//! a [`crate::RawConfig`] and each of its sections checks itself (`validate`, where
//! `from_toml` and `load` live).

use std::path::PathBuf;

use relearn_data::{Scaling, StreamSource, Task};
use relearn_model::{Activation, Backend, FitPath};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::defaults;
use crate::gate::Gate;
use crate::vocab::{AnchorKind, DetectorKind, Mode, ModelKind, Policy, Sampling};

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
    /// `window.label_delay`: a window's labels arrive this many windows after its rows, so
    /// its prequential score is that of the model serving when its rows arrived, the one
    /// `label_delay` updates older than the latest (see docs/configuration.md).
    pub label_delay: usize,
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
    /// Whether `data.scaling` is written (else the family's default: `running` for the
    /// MLP, `initial` for trees; [`RunSpec::with_family`] follows it).
    #[serde(skip)]
    pub scaling_written: bool,
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
    /// Its kind.
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorSpec::PageHinkley { .. } => DetectorKind::PageHinkley,
            DetectorSpec::Adwin { .. } => DetectorKind::Adwin,
        }
    }

    /// The config spelling of its kind.
    pub fn name(&self) -> &'static str {
        self.kind().name()
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
    /// `model.kind`: absent from the fingerprint for the MLP, so MLP runs keep their ids.
    #[serde(skip_serializing_if = "ModelKind::is_mlp")]
    pub kind: ModelKind,
    /// `[gbdt]`, with `model.kind = "gbdt"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gbdt: Option<GbdtSpec>,
}

/// `[gbdt]`, validated: how the tree family trains (see `relearn_trees::TreeSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GbdtSpec {
    /// perpetual's complexity budget (`gbdt.budget`), in (0, 5].
    pub budget: f64,
    /// The most trees one output keeps (`gbdt.max_trees`), at least 1.
    pub max_trees: usize,
    /// The memory perpetual plans a fit for, in GB (`gbdt.memory_limit`).
    pub memory_limit: f64,
}

/// `model.init`, validated: the file read and checked (see [`relearn_model::import`]).
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
        let spec = spec.with_mode(self.mode).with_family(self.family);
        match self.anchor {
            Some(kind) => spec.with_anchor(kind),
            None => spec,
        }
    }
}

impl RunSpec {
    /// The same run with another model family (`compare --models`): the tree family with
    /// its `[gbdt]` settings (the defaults where the config has none), without the MLP's
    /// anchor and warm start; the MLP without `[gbdt]`.
    pub fn with_family(mut self, family: ModelKind) -> RunSpec {
        self.model.kind = family;
        if !self.scaling_written && self.model.init.is_none() {
            self.scaling = defaults::scaling(family);
        }
        match family {
            ModelKind::Mlp => self.model.gbdt = None,
            ModelKind::Gbdt => {
                self.model.gbdt = Some(self.model.gbdt.unwrap_or(GbdtSpec {
                    budget: defaults::GBDT_BUDGET,
                    max_trees: defaults::GBDT_MAX_TREES,
                    memory_limit: defaults::GBDT_MEMORY_LIMIT,
                }));
                self.stateful.anchor = AnchorSpec::default();
                self.stateless.init = StatelessInit::Fresh;
            }
        }
        self
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
            // Absent without a delay, so that configs written before it keep their ids.
            #[serde(skip_serializing_if = "is_zero")]
            label_delay: usize,
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
            label_delay: self.label_delay,
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

/// Whether a count is 0 (a field left out of the fingerprint at its default).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The task a source poses.
pub(crate) fn source_task(source: &StreamSource) -> Task {
    match source {
        StreamSource::Csv(csv) => csv.task,
        StreamSource::Generator(g) => g.kind.task(),
    }
}
