//! The run loop: initial model, then for each new window the prequential score of the
//! serving model, the update its policy makes, the promotion gate, and the commit. Resumes
//! where the store ends.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::Device;
use relearn_data::{Batch, OutOfRange, Preprocessor, Stream, StreamInfo, Window};
use relearn_model::{Mlp, MlpConfig, MlpWeights};
use relearn_store::{
    CheckpointDraft, CheckpointId, Manifest, Metrics, Publish, Relation, Retained, Store, TrainedOn,
};

use crate::TrainError;
use crate::checkpoint::{CheckpointExtra, LoadedCheckpoint, ModelInfo, parts};
use crate::data_trail::DataTrail;
use crate::policy::{self, Context, History, PolicyState, Start, UpdatePolicy};
use crate::score::{add_skill, metrics_from_outputs, sample_losses, score_in_target_units};
use relearn_fit::grow;
use relearn_fit::{AdamMoments, LayerOptions, MlpAdam};
use relearn_fit::{Anchor, Fisher};
use relearn_fit::{FitSettings, fit_anchored, outputs};
use relearn_spec::AnchorKind;
use relearn_spec::Metric;
use relearn_spec::Verdict;
use relearn_spec::gate::{REJECTED_TAG, rejected_tag};
use relearn_spec::seed::{Purpose, derive};
use relearn_spec::{Mode, RunSpec, StatelessInit};

/// Options of one invocation of [`run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop once this many windows of the stream (initial windows included) are processed.
    pub max_windows: Option<usize>,
}

/// What the loop reports as it goes (for logs and progress bars).
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The stream is open; `windows` updates lie ahead in this invocation.
    Planned {
        /// Stream description.
        info: StreamInfo,
        /// Windows in the stream.
        stream_windows: usize,
        /// Checkpoints this invocation will commit.
        todo: usize,
    },
    /// The store already holds this run; it continues after `head`.
    Resuming {
        /// The run's latest checkpoint.
        head: Box<Manifest>,
        /// The first window this invocation trains on.
        next_window: usize,
    },
    /// A checkpoint was committed.
    Committed(Box<Manifest>),
    /// The promotion gate rejected a candidate: it is in the store under `tag`, the run's
    /// head did not move, and the run stops.
    Rejected {
        /// The rejected candidate.
        candidate: Box<Manifest>,
        /// Why.
        verdict: Verdict,
        /// The tag that names it.
        tag: String,
    },
}

/// What an invocation did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// How many checkpoints this invocation committed (each was reported through
    /// `on_event` as it landed: the summary keeps none of them, so a run's memory does not
    /// grow with the stream).
    pub committed: usize,
    /// Sum of `train_seconds` over the checkpoints committed now.
    pub train_seconds: f64,
    /// The run's latest checkpoint afterwards.
    pub head: Option<CheckpointId>,
    /// Whether it continued a stored run.
    pub resumed: bool,
    /// The candidate the promotion gate rejected, which stopped the run.
    pub rejected: Option<Box<Manifest>>,
}

/// The model that serves predictions between updates, as committed, with the state its
/// policy carries to the next update.
struct Serving {
    id: CheckpointId,
    weights: MlpWeights,
    preprocessor: Preprocessor,
    moments: Option<AdamMoments>,
    /// What its policy carries to the next update.
    state: Box<dyn PolicyState>,
    /// What anchors the next fine-tune (`stateful.anchor`).
    anchor: AnchorState,
}

/// The anchor a checkpoint carries to the next fine-tune (see [`crate::anchor`]): stored
/// as its `anchor` or `fisher` part.
#[derive(Debug, Clone)]
enum AnchorState {
    /// No anchor (`stateful.anchor = "none"`, or a policy that never fine-tunes).
    None,
    /// `l2-init`: the run's initial weights.
    L2Init(Arc<MlpWeights>),
    /// `ewc`: the Fisher of this checkpoint's weights on what it trained on.
    Ewc(Arc<Fisher>),
}

impl AnchorState {
    /// The part that stores it.
    fn part(&self) -> Option<(String, Vec<u8>)> {
        match self {
            AnchorState::None => None,
            AnchorState::L2Init(w) => Some((parts::ANCHOR.to_string(), w.to_bytes())),
            AnchorState::Ewc(f) => Some((parts::FISHER.to_string(), f.to_bytes())),
        }
    }
}

/// What became of a window's candidate.
enum Outcome {
    /// It is the run's new head.
    Promoted(Manifest),
    /// The gate rejected it; the run keeps its head and stops.
    Rejected(Manifest, Verdict, String),
}

/// Trains `spec` into `store`: the initial model if the run has none, then one update per
/// window not yet stored. Holds the run's lock throughout.
pub fn run(
    spec: &RunSpec,
    store: &Store,
    options: &RunOptions,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary, TrainError> {
    run_with(spec, store, options, policy::for_spec(spec), on_event)
}

/// [`run`] under `policy` instead of the one `spec.mode` names (`spec.mode` still names the
/// settings the fingerprint records): a Rust user's own [`UpdatePolicy`].
pub fn run_with(
    spec: &RunSpec,
    store: &Store,
    options: &RunOptions,
    policy: Box<dyn UpdatePolicy>,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary, TrainError> {
    let stream = Stream::open(&spec.source, spec.window_size, spec.initial_windows)?;
    let mlp = model_config(spec, stream.info());
    // A new run's checks come before its lock file is made: bad input changes nothing.
    if store.run_head(&spec.name)?.is_none() {
        check_new_run_name(spec, store)?;
        check_model_fits(spec, &mlp)?;
        check_import_fits(spec, stream.info())?;
        check_frozen_outputs(spec, stream.info(), &mlp)?;
    }
    let end = match options.max_windows {
        Some(n) if n < spec.initial_windows => {
            return Err(TrainError::Usage(format!(
                "--windows {n} is fewer than the {} initial windows (`window.initial`); ask for at least {}",
                spec.initial_windows, spec.initial_windows
            )));
        }
        Some(n) => n.min(stream.n_windows()),
        None => stream.n_windows(),
    };
    let _lock = store.lock_run(&spec.name)?;
    let mut loop_ = Loop::new(spec, store, &stream, mlp, policy)?;
    loop_.check_data(&stream)?;
    let todo = end.saturating_sub(loop_.next_window) + usize::from(loop_.serving.is_none());
    if let Some(head) = &loop_.head_manifest {
        on_event(&RunEvent::Resuming {
            head: Box::new(head.clone()),
            next_window: loop_.next_window,
        });
    }
    on_event(&RunEvent::Planned {
        info: stream.info().clone(),
        stream_windows: stream.n_windows(),
        todo,
    });
    let resumed = loop_.serving.is_some();
    let (mut committed, mut train_seconds, mut rejected) = (0, 0.0, None);
    if todo > 0 {
        for window in stream.windows()? {
            let window = window?;
            if window.index >= end {
                break;
            }
            match loop_.feed(window)? {
                None => {}
                Some(Outcome::Promoted(manifest)) => {
                    committed += 1;
                    train_seconds += manifest.train_seconds;
                    on_event(&RunEvent::Committed(Box::new(manifest)));
                }
                Some(Outcome::Rejected(candidate, verdict, tag)) => {
                    let candidate = Box::new(candidate);
                    on_event(&RunEvent::Rejected {
                        candidate: candidate.clone(),
                        verdict,
                        tag,
                    });
                    rejected = Some(candidate);
                    break;
                }
            }
        }
    }
    Ok(RunSummary {
        committed,
        train_seconds,
        head: store.run_head(&spec.name)?,
        resumed,
        rejected,
    })
}

struct Loop<'a> {
    spec: &'a RunSpec,
    store: &'a Store,
    info: StreamInfo,
    fingerprint: String,
    mlp: MlpConfig,
    device: Device,
    train_device: Device,
    /// The run's update policy.
    policy: Box<dyn UpdatePolicy>,
    /// What the policy needs to know of the run.
    ctx: Context,
    /// The latest checkpoint at start, when resuming.
    head_manifest: Option<Manifest>,
    serving: Option<Serving>,
    /// Id of the run's initial model (the parent of every retrained checkpoint).
    initial_id: Option<CheckpointId>,
    next_window: usize,
    /// The initial samples (kept after the initial model when the policy asks) and the
    /// recent windows the policy keeps.
    history: History,
    /// Rows of the initial windows skipped for a missing target.
    initial_skipped: usize,
    /// CSV runs: the hashes of the windows streamed past so far (see [`data_trail`]).
    trail: Option<DataTrail>,
    /// Resuming a CSV run: its head, until the data it trained on has been checked.
    data_check: Option<Manifest>,
    /// The targets of the window before the one being fed (the no-skill baseline's), and
    /// of the one being fed.
    previous_targets: Option<Vec<f32>>,
    current_targets: Option<Vec<f32>>,
}

impl<'a> Loop<'a> {
    fn new(
        spec: &'a RunSpec,
        store: &'a Store,
        stream: &Stream,
        mlp: MlpConfig,
        policy: Box<dyn UpdatePolicy>,
    ) -> Result<Loop<'a>, TrainError> {
        let info = stream.info().clone();
        let fingerprint = spec.fingerprint();
        let device = spec.backend.device();
        let train_device = device.clone().autodiff();
        let ctx = Context {
            seed: spec.seed,
            window_size: spec.window_size,
            initial_windows: spec.initial_windows,
            n_features: info.n_features(),
            n_categorical: info.categorical.len(),
        };
        let mut loop_ = Loop {
            spec,
            store,
            info,
            fingerprint,
            mlp,
            device,
            train_device,
            policy,
            ctx,
            head_manifest: None,
            serving: None,
            initial_id: None,
            next_window: spec.initial_windows,
            history: History {
                initial: ctx.empty_batch(),
                recent: VecDeque::new(),
            },
            initial_skipped: 0,
            trail: matches!(spec.source, relearn_data::StreamSource::Csv(_))
                .then(DataTrail::default),
            data_check: None,
            previous_targets: None,
            current_targets: None,
        };
        if let Some(head) = store.head_manifest(&spec.name)? {
            loop_.resume_from(head)?;
            if loop_.trail.is_some() {
                loop_.data_check = loop_.head_manifest.clone();
            }
        }
        Ok(loop_)
    }

    /// A resumed CSV run's check, before it reports or trains anything, that the rows it
    /// trained on are still those of the file: none removed, none changed.
    fn check_data(&mut self, stream: &Stream) -> Result<(), TrainError> {
        let Some(head) = self.data_check.as_ref() else {
            return Ok(());
        };
        if head.window as usize >= stream.n_windows() {
            return Err(TrainError::DataChanged {
                run: self.spec.name.clone(),
                message: format!(
                    "{} now holds {} full window(s) of {} rows, but the run has trained through window {} \
                     (checkpoint {:.12}): rows were removed or the file was replaced",
                    csv_path(self.spec),
                    stream.n_windows(),
                    self.spec.window_size,
                    head.window,
                    head.id
                ),
            });
        }
        for window in stream.windows()? {
            self.observe(&window?)?;
            if !self.data_check_pending() {
                break;
            }
        }
        Ok(())
    }

    /// Whether the data a resumed CSV run trained on is still to be checked.
    fn data_check_pending(&self) -> bool {
        self.data_check.is_some()
    }

    /// Hashes a window as it streams past (CSV runs), and checks the data the run trained on
    /// once the head's window has passed.
    fn observe(&mut self, window: &Window) -> Result<(), TrainError> {
        let Some(trail) = &mut self.trail else {
            return Ok(());
        };
        if trail.len() != window.index {
            // Hashed already: by the check before the run, or an earlier pass over the stream.
            return Ok(());
        }
        trail.push(&window.batch);
        let Some(head) = self
            .data_check
            .as_ref()
            .filter(|h| h.window as usize == window.index)
        else {
            return Ok(());
        };
        let (store, run) = (self.store, self.spec.name.as_str());
        if let Some(change) = trail.check(head, || store.run_chain(run))? {
            let rows = |w: usize| {
                let first = w * self.spec.window_size + 1;
                format!(
                    "rows {first}-{} (file lines {}-{})",
                    first + self.spec.window_size - 1,
                    first + 1,
                    first + self.spec.window_size
                )
            };
            let which = match change.first_changed {
                Some(w) => format!("window {w}, {}, is not what the run trained on", rows(w)),
                None => format!(
                    "a window at or before window {} is not what the run trained on (the \
                     checkpoints that would name it were removed by gc)",
                    change.head_window
                ),
            };
            return Err(TrainError::DataChanged {
                run: self.spec.name.clone(),
                message: format!("in {}, {which}", csv_path(self.spec)),
            });
        }
        self.data_check = None;
        Ok(())
    }

    fn resume_from(&mut self, head: Manifest) -> Result<(), TrainError> {
        if head.config_fingerprint != self.fingerprint {
            self.check_import_unchanged()?;
            return Err(TrainError::ConfigChanged {
                run: self.spec.name.clone(),
                store: self.store.root().to_path_buf(),
                stored: head.config_fingerprint.clone(),
                current: self.fingerprint.clone(),
            });
        }
        // Only a policy whose updates descend from the initial model needs it: it is their
        // parent, so the head names it. Fine-tuning needs only the head (`gc` may prune a
        // stateful run's initial checkpoint).
        if self.policy.needs_initial_model() {
            let initial_id = match head.relation.is_root() {
                true => Some(head.id.clone()),
                false => head.parent.clone(),
            };
            let read = |id: &Option<CheckpointId>| -> Result<Option<Manifest>, TrainError> {
                match id {
                    Some(id) => match self.store.manifest(id) {
                        Ok(m) => Ok(Some(m)),
                        Err(relearn_store::StoreError::UnknownRef { .. }) => Ok(None),
                        Err(e) => Err(e.into()),
                    },
                    None => Ok(None),
                }
            };
            let mut initial = read(&initial_id)?;
            // A shrink-and-perturb retraining's parent is the checkpoint it started from,
            // itself retrained: the initial model is up the chain (`gc` keeps every
            // retrained checkpoint's parent, transitively).
            while let Some(m) = initial
                .as_ref()
                .filter(|m| m.relation == Relation::Retrained && m.run == self.spec.name)
            {
                initial = read(&m.parent.clone())?;
            }
            match initial {
                Some(m) if m.relation.is_root() && m.run == self.spec.name => {
                    self.initial_id = Some(m.id);
                }
                _ => {
                    return Err(TrainError::BadCheckpoint {
                        id: head.id.clone(),
                        message: format!(
                            "run '{}' has no initial checkpoint in the store",
                            self.spec.name
                        ),
                    });
                }
            }
        }
        let loaded = LoadedCheckpoint::load(self.store, head.clone())?;
        loaded.preprocessor.check_compatible(&self.info)?;
        let moments = match &loaded.optimizer {
            Some(bytes) if self.policy.fine_tunes() => {
                let model = self
                    .mlp_for(&loaded.weights)
                    .init_with(&loaded.weights, &self.device)
                    .map_err(|e| bad(&head, e))?;
                Some(
                    AdamMoments::from_bytes(bytes, &model, &self.device).map_err(|source| {
                        TrainError::BadPart {
                            id: head.id.clone(),
                            source: Box::new(source),
                        }
                    })?,
                )
            }
            _ => None,
        };
        let name = self.policy.name();
        let state = self.policy.resume(&head, &mut |part: &str| {
            if !head.parts.contains_key(part) {
                return Err(bad(
                    &head,
                    format!("it has no `{part}` part, which a {name} run needs"),
                ));
            }
            Ok(self.store.load_part(&head, part)?)
        })?;
        let anchor = self.resume_anchor(&head, &loaded.weights.widths())?;
        self.next_window = head.window as usize + 1;
        self.serving = Some(Serving {
            id: head.id.clone(),
            weights: loaded.weights,
            preprocessor: loaded.preprocessor,
            moments,
            state,
            anchor,
        });
        self.head_manifest = Some(head);
        Ok(())
    }

    /// Takes the next window of the stream; returns what became of the checkpoint it
    /// produced, if any.
    fn feed(&mut self, window: Window) -> Result<Option<Outcome>, TrainError> {
        self.observe(&window)?;
        self.previous_targets = self.current_targets.replace(window.batch.targets.clone());
        let initial_windows = self.spec.initial_windows;
        if window.index < initial_windows {
            if self.serving.is_none() || self.policy.keeps_initial_data() {
                self.history.initial.extend(&window.batch);
            }
            self.initial_skipped += window.skipped;
            if window.index + 1 == initial_windows && self.serving.is_none() {
                return self.train_initial().map(Some);
            }
            return Ok(None);
        }
        let keep = self.policy.recent_windows();
        if keep > 0 {
            self.history.recent.push_back(window.clone());
            while self.history.recent.len() > keep {
                self.history.recent.pop_front();
            }
        }
        if window.index < self.next_window {
            return Ok(None);
        }
        self.update(window).map(Some)
    }

    fn train_initial(&mut self) -> Result<Outcome, TrainError> {
        if self.spec.model.init.is_some() {
            return self.import_initial();
        }
        let started = Instant::now();
        let initial = &self.history.initial;
        let mut preprocessor =
            Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
        preprocessor.fit(initial);
        let constant = preprocessor.constant_columns();
        if !constant.is_empty() {
            tracing::warn!(
                "column(s) {} are constant in the initial windows: they are centred, not scaled, \
                 and a later value enters the model in the column's own units, clipped to \
                 ±{} (data.clip)",
                constant.join(", "),
                self.spec.clip
            );
        }
        let data = preprocessor.transform(initial);
        let window = self.spec.initial_windows - 1;
        let (weights, moments, train_loss) =
            self.train_fresh(&data, window, self.spec.train.lr, self.info.n_outputs())?;
        let anchor = self.fresh_anchor(&weights, &data, None);
        let train_seconds = started.elapsed().as_secs_f64();
        let samples = initial.len() as u64;
        let state = self.policy.start(&self.history, &self.ctx);
        let candidate = Serving {
            id: CheckpointId::default(),
            weights,
            preprocessor,
            moments,
            state,
            anchor,
        };
        let verdict = self.gate(&candidate, &self.history.initial, None);
        let outcome = self.commit(
            Commit {
                window,
                parent: None,
                relation: Relation::Initial,
                replaces: None,
                samples_trained: samples,
                samples_skipped: self.initial_skipped as u64,
                trained_windows: (0..self.spec.initial_windows as u64).collect(),
                prequential: None,
                train_loss: Some(train_loss),
                train_seconds,
                retained: self.policy.retained(window, &*candidate.state, &self.ctx),
                record: None,
                new_classes: Vec::new(),
                out_of_range: Vec::new(),
            },
            candidate,
            verdict,
        )?;
        Ok(self.root_committed(outcome))
    }

    /// After the run's root checkpoint (initial or imported) is committed: it is the parent
    /// of every retrained checkpoint, and the initial data is dropped unless the policy
    /// keeps it.
    fn root_committed(&mut self, outcome: Outcome) -> Outcome {
        if let Outcome::Promoted(manifest) = &outcome {
            self.initial_id = Some(manifest.id.clone());
            if !self.policy.keeps_initial_data() {
                self.history.initial = self.info.empty_batch();
            }
        }
        outcome
    }

    /// The run's model config with the output width of `weights` (it grows with the
    /// classes).
    fn mlp_for(&self, weights: &MlpWeights) -> MlpConfig {
        let mut config = self.mlp.clone();
        if let Some(&d) = weights.widths().last() {
            config.d_output = d;
        }
        config
    }

    /// `model.init`: the run's initial checkpoint is the imported model (see
    /// docs/import.md). The initial windows train nothing: they fit the preprocessing only
    /// when the file carries none (with `data.scaling = "none"` that is the label map), and
    /// the model is first scored, prequentially, on the first update window.
    fn import_initial(&mut self) -> Result<Outcome, TrainError> {
        let spec = self.spec;
        let init = spec
            .model
            .init
            .as_ref()
            .expect("import_initial runs for model.init");
        let started = Instant::now();
        let preprocessor = match &init.model.preprocessor {
            Some(pre) => adopt_missing(pre.clone(), &self.info).with_clip(self.spec.clip),
            None => {
                let mut pre =
                    Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
                pre.fit(&self.history.initial);
                pre
            }
        };
        let window = self.spec.initial_windows - 1;
        let state = self.policy.start(&self.history, &self.ctx);
        // An anchor holds to the imported weights (`l2-init`), or weighs them by their
        // Fisher on the initial windows (`ewc`).
        let data = preprocessor.transform(&self.history.initial);
        let anchor = self.fresh_anchor(&init.model.weights, &data, None);
        let candidate = Serving {
            id: CheckpointId::default(),
            weights: init.model.weights.clone(),
            preprocessor,
            moments: None,
            state,
            anchor,
        };
        let train_seconds = started.elapsed().as_secs_f64();
        let verdict = self.gate(&candidate, &self.history.initial, None);
        let record = serde_json::json!({
            "file": init.file,
            "sha256": init.sha256,
            "format": init.model.format.name(),
        });
        let outcome = self.commit(
            Commit {
                window,
                parent: None,
                relation: Relation::Imported,
                replaces: None,
                samples_trained: 0,
                samples_skipped: self.initial_skipped as u64,
                trained_windows: Vec::new(),
                prequential: None,
                train_loss: None,
                train_seconds,
                retained: self.policy.retained(window, &*candidate.state, &self.ctx),
                record: Some((IMPORT_RECORD, record)),
                new_classes: Vec::new(),
                out_of_range: Vec::new(),
            },
            candidate,
            verdict,
        )?;
        Ok(self.root_committed(outcome))
    }

    /// A resumed run started from `model.init` whose file changed since: a message that
    /// says so (the fingerprint records the file's sha256), instead of the general one.
    fn check_import_unchanged(&self) -> Result<(), TrainError> {
        let Some(init) = &self.spec.model.init else {
            return Ok(());
        };
        let chain = self.store.run_chain(&self.spec.name)?;
        let Some(imported) = chain.iter().find(|m| m.relation == Relation::Imported) else {
            return Ok(());
        };
        let stored = imported
            .extra
            .get(IMPORT_RECORD)
            .and_then(|r| r.get("sha256"))
            .and_then(|v| v.as_str());
        match stored {
            Some(sha) if sha != init.sha256 => Err(TrainError::Usage(format!(
                "`model.init` {} changed since run '{}' imported it (checkpoint {:.12}): its sha256 was {sha:.16}..., it is now {:.16}...; put the original file back to continue the run, or give the new model a new `run.name`",
                init.path.display(),
                self.spec.name,
                imported.id,
                init.sha256
            ))),
            _ => Ok(()),
        }
    }

    /// The promotion gate's verdict on a candidate, scored on `raw` (the newest data it was
    /// trained on, unscaled); `None` without a gate. A gate on `skill` gets the candidate's
    /// skill over the no-skill forecast on `raw`, as the prequential skill is computed: the
    /// majority class (or mean target) of `previous`, the window before `raw`; for the root
    /// model (`previous` is `None`), of `raw` itself.
    fn gate(&self, candidate: &Serving, raw: &Batch, previous: Option<&[f32]>) -> Option<Verdict> {
        let gate = self.spec.gate.as_ref()?;
        let model = self
            .mlp_for(&candidate.weights)
            .init_with(&candidate.weights, &self.device)
            .expect("a model the trainer just made has the config's shape");
        let task = self.info.task;
        let mut scores =
            score_in_target_units(&model, &candidate.preprocessor, raw, task, &self.device);
        if gate.needs_skill() {
            add_skill(
                &mut scores,
                previous.unwrap_or(&raw.targets),
                &raw.targets,
                task,
            );
        }
        Some(gate.check(&scores))
    }

    fn update(&mut self, window: Window) -> Result<Outcome, TrainError> {
        let serving = self
            .serving
            .take()
            .expect("the initial model precedes every update");
        let result = self.update_from(&serving, window);
        if !matches!(result, Ok(Outcome::Promoted(_))) {
            // A rejected or failed candidate leaves the serving model (and its state) as
            // it was; a promoted one has installed itself.
            self.serving.get_or_insert(serving);
        }
        result
    }

    fn update_from(&mut self, serving: &Serving, window: Window) -> Result<Outcome, TrainError> {
        let model = self
            .mlp_for(&serving.weights)
            .init_with(&serving.weights, &self.device)
            .map_err(|e| TrainError::BadCheckpoint {
                id: serving.id.clone(),
                message: e.to_string(),
            })?;
        // The model sees (and the drift detector's losses are in) standardised units; the
        // scores are in the target's own.
        let scaled = serving.preprocessor.transform(&window.batch);
        let out_of_range = serving.preprocessor.out_of_range(&window.batch);
        let served = outputs(&model, &scaled, &self.device);
        let mut in_units = served.clone();
        serving.preprocessor.outputs_to_target_units(&mut in_units);
        let mut prequential =
            metrics_from_outputs(&in_units, &window.batch.targets, self.info.task);
        let t = window.index;
        let headline = Metric::headline(self.info.task).name();
        if let Some(previous) = self.previous_targets.as_deref()
            && prequential.get(headline).is_some_and(|s| s.is_finite())
        {
            add_skill(
                &mut prequential,
                previous,
                &window.batch.targets,
                self.info.task,
            );
        }
        if let Some((metric, value)) = prequential.iter().find(|(_, v)| !v.is_finite()) {
            return Err(TrainError::NotFinite {
                what: "the serving model's score is not a finite number",
                window: t,
                detail: format!("its prequential {metric} is {value}"),
                advice: data_scale_advice(self.spec, &scaled, self.info.task)
                    .unwrap_or_else(|| "check the window's rows for extreme values".to_string()),
            });
        }

        // The candidate's policy state starts as the serving one's; the plan may change it
        // (a detector scans the window's losses).
        let mut state = serving.state.clone_state();
        let losses = || sample_losses(&served, &scaled.targets, self.info.task);
        let plan = state.plan(&window, &losses, &self.history, &self.ctx);

        let started = Instant::now();
        let samples_trained = plan.set.raw.len();
        let all_classes = self.info.all_classes();
        let new_classes: Vec<String>;
        let (parent, relation, weights, preprocessor, moments, train_loss, anchor) =
            match plan.start {
                Start::Fresh(relation) => {
                    let mut preprocessor =
                        Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
                    // A fresh model keeps the classes its predecessor knew, and learns the
                    // training set's new ones.
                    preprocessor.classes = serving.preprocessor.classes.clone();
                    new_classes = preprocessor.learn_classes(&all_classes, &plan.set.raw.targets);
                    preprocessor.fit(&plan.set.raw);
                    let data = preprocessor.transform(&plan.set.raw);
                    let outputs = match self.info.task {
                        relearn_data::Task::Classification => preprocessor.classes.len(),
                        relearn_data::Task::Regression => 1,
                    };
                    // `stateless.init = "shrink-perturb"` starts from the serving weights,
                    // shrunk and perturbed: they descend from it, so it is the parent. (Not
                    // when the classes grew: the shapes differ, and it starts fresh.)
                    let warm = match (relation, self.spec.stateless.init) {
                        (Relation::Retrained, StatelessInit::ShrinkPerturb { shrink, perturb })
                            if self.spec.mode == Mode::Stateless && new_classes.is_empty() =>
                        {
                            Some((&serving.weights, shrink, perturb))
                        }
                        _ => None,
                    };
                    let (weights, moments, train_loss) =
                        self.train_fresh_from(&data, t, self.spec.train.lr, outputs, warm)?;
                    let parent = match relation {
                        Relation::Retrained if warm.is_none() => self.initial_id.clone(),
                        _ => Some(serving.id.clone()),
                    };
                    // A fresh model starts a new Fisher; `l2-init` keeps the run's initial
                    // weights.
                    let anchor = self.fresh_anchor(&weights, &data, Some(&serving.anchor));
                    (
                        parent,
                        relation,
                        weights,
                        preprocessor,
                        moments,
                        train_loss,
                        anchor,
                    )
                }
                Start::Serving => {
                    // The scaler takes the new window only (not replayed samples, which it saw).
                    let mut preprocessor = serving.preprocessor.clone();
                    preprocessor.update(&window.batch);
                    new_classes = preprocessor.learn_classes(&all_classes, &plan.set.raw.targets);
                    let data = preprocessor.transform(&plan.set.raw);
                    let mut moments = match self.spec.stateful.carry_optimizer {
                        true => serving.moments.clone(),
                        false => None,
                    };
                    let mut weights = serving.weights.clone();
                    let mut penalty = self.anchor_for_fine_tune(serving);
                    let mut carried = serving.anchor.clone();
                    if !new_classes.is_empty() {
                        // The new classes' outputs: the weights the model had stay, the new
                        // rows start like a fresh layer's, their Adam moments at zero; an
                        // anchor holds the new rows where they start.
                        let last = weights.layers.last().expect("an MLP has a layer");
                        let (d_in, d_out) = (last.d_input, last.d_output);
                        let seed = derive(self.spec.seed, Purpose::Weights, t);
                        let added = new_classes.len();
                        grow::grow_outputs(&mut weights, added, seed);
                        if let Some(m) = &mut moments {
                            grow::grow_moments(m, d_in, d_out, added);
                        }
                        if let Some(p) = &mut penalty {
                            p.center = match &serving.anchor {
                                AnchorState::Ewc(_) => weights.clone(),
                                _ => {
                                    let mut c = p.center.clone();
                                    grow::grow_outputs(&mut c, added, seed);
                                    c
                                }
                            };
                            if let Some(f) = &mut p.precision {
                                grow::grow_zeros(f, added);
                            }
                        }
                        if let AnchorState::L2Init(initial) = &carried {
                            let mut c = (**initial).clone();
                            grow::grow_outputs(&mut c, added, seed);
                            carried = AnchorState::L2Init(Arc::new(c));
                        }
                    }
                    let model = self
                        .mlp_for(&weights)
                        .init_with(&weights, &self.train_device)
                        .expect("shape checked above");
                    let lr = self.spec.stateful.lr;
                    let (weights, moments, train_loss) = self
                        .train(
                            model,
                            moments.unwrap_or_default(),
                            &data,
                            t,
                            self.spec.stateful.epochs,
                            lr,
                            penalty.as_ref(),
                        )
                        .map_err(|epoch| {
                            self.diverged(t, epoch, "stateful.lr", lr, &data, penalty.is_some())
                        })?;
                    let parent = Some(serving.id.clone());
                    let anchor = match &carried {
                        AnchorState::Ewc(_) => AnchorState::Ewc(Arc::new(relearn_fit::fisher(
                            &weights,
                            self.mlp.activation,
                            &data,
                            self.info.task,
                        ))),
                        other => other.clone(),
                    };
                    (
                        parent,
                        Relation::FineTuned,
                        weights,
                        preprocessor,
                        Some(moments),
                        train_loss,
                        anchor,
                    )
                }
            };
        let output = self.mlp.widths().len().saturating_sub(2);
        if !new_classes.is_empty() && self.spec.train.freeze.contains(&output) {
            // A new run with such classes is refused; these came with rows added since.
            tracing::warn!(
                "window {t}: class(es) [{}] first seen, but `train.freeze` holds the output \
                 layer ({output}): their outputs cannot be trained and the model will not \
                 predict them; leave layer {output} out of `train.freeze`",
                new_classes.join(", ")
            );
        }
        state.trained(&window, &self.ctx);
        // Building the training set, training, and the policy state's update.
        let train_seconds = started.elapsed().as_secs_f64();
        let candidate = Serving {
            id: CheckpointId::default(),
            weights,
            preprocessor,
            moments,
            state,
            anchor,
        };
        let commit = Commit {
            window: t,
            parent,
            relation,
            replaces: Some(serving.id.clone()),
            samples_trained: samples_trained as u64,
            samples_skipped: window.skipped as u64,
            trained_windows: plan.set.windows,
            prequential: Some(prequential),
            train_loss: Some(train_loss),
            train_seconds,
            retained: self.policy.retained(t, &*candidate.state, &self.ctx),
            record: plan.record,
            new_classes,
            out_of_range,
        };
        let verdict = self.gate(&candidate, &window.batch, self.previous_targets.as_deref());
        self.commit(commit, candidate, verdict)
    }

    /// Trains fresh weights seeded by (seed, window) on `data` for `train.epochs` (more when
    /// `data` is too small for `train.min_steps` steps).
    fn train_fresh(
        &self,
        data: &Batch,
        window: usize,
        lr: f64,
        outputs: usize,
    ) -> Result<(MlpWeights, Option<AdamMoments>, f64), TrainError> {
        self.train_fresh_from(data, window, lr, outputs, None)
    }

    /// [`Loop::train_fresh`], from `shrink * previous + perturb * fresh` when `warm` gives
    /// `(previous, shrink, perturb)` (shrink-and-perturb).
    fn train_fresh_from(
        &self,
        data: &Batch,
        window: usize,
        lr: f64,
        outputs: usize,
        warm: Option<(&MlpWeights, f64, f64)>,
    ) -> Result<(MlpWeights, Option<AdamMoments>, f64), TrainError> {
        self.train_device
            .seed(derive(self.spec.seed, Purpose::Weights, window));
        let mut config = self.mlp.clone();
        config.d_output = outputs;
        let mut model = config.init(&self.train_device);
        if let Some((previous, shrink, perturb)) = warm {
            // Burn draws a fresh layer's weights when they are first read, and fresh training
            // first reads them after `train` has seeded the device for dropout: read them
            // under that seed too, so `w_fresh` is the fresh retraining's start, bit for bit.
            self.train_device
                .seed(derive(self.spec.seed, Purpose::Dropout, window));
            let start = shrink_perturb(previous, &model.weights(), shrink, perturb);
            model = config
                .init_with(&start, &self.train_device)
                .expect("the serving weights have the config's shape");
        }
        let (weights, moments, loss) = self
            .train(
                model,
                AdamMoments::default(),
                data,
                window,
                self.spec.train.fresh_epochs(data.len()),
                lr,
                None,
            )
            .map_err(|epoch| self.diverged(window, epoch, "train.lr", lr, data, false))?;
        // Fresh training keeps its moments only for a policy that will fine-tune them.
        let keep = self.policy.fine_tunes() && self.spec.stateful.carry_optimizer;
        Ok((weights, keep.then_some(moments), loss))
    }

    #[allow(clippy::too_many_arguments)]
    fn train(
        &self,
        model: Mlp,
        moments: AdamMoments,
        data: &Batch,
        window: usize,
        epochs: usize,
        lr: f64,
        anchor: Option<&Anchor>,
    ) -> Result<(MlpWeights, AdamMoments, f64), usize> {
        self.train_device
            .seed(derive(self.spec.seed, Purpose::Dropout, window));
        let layers = self.mlp.widths().len() - 1;
        let mut optimizer = MlpAdam::new(self.spec.train.weight_decay, moments).with_layers(
            LayerOptions::per_layer(layers, &self.spec.train.freeze, &self.spec.train.lr_scale),
        );
        let settings = FitSettings {
            epochs,
            batch_size: self.spec.train.batch_size,
            lr,
            shuffle_seed: derive(self.spec.seed, Purpose::Shuffle, window),
            sparse_from: self.info.binary_inputs_from(),
        };
        let (model, loss) = fit_anchored(
            self.spec.trainer,
            model,
            &mut optimizer,
            data,
            self.info.task,
            settings,
            anchor,
            &self.train_device,
        )
        .map_err(|d| d.epoch)?;
        Ok((model.weights(), optimizer.moments, loss))
    }

    /// Commits a candidate: as the run's new head when there is no gate or it passed;
    /// otherwise under a `<run>.rejected.<window>` tag (and [`REJECTED_TAG`]), with the
    /// verdict in `extra.gate`.
    fn commit(
        &mut self,
        c: Commit,
        mut candidate: Serving,
        verdict: Option<Verdict>,
    ) -> Result<Outcome, TrainError> {
        let info = ModelInfo {
            widths: candidate.weights.widths(),
            activation: self.mlp.activation.name().to_string(),
            dropout: self.mlp.dropout,
            task: self.info.task,
            backend: self.spec.backend.name().to_string(),
        };
        let mut parts_out = vec![
            (parts::MODEL.to_string(), candidate.weights.to_bytes()),
            (
                parts::PREPROCESSOR.to_string(),
                candidate.preprocessor.to_bytes(),
            ),
        ];
        // Fresh training keeps its moments only for a policy that will fine-tune them
        // (`train_fresh`); fine-tuning always stores them.
        if let Some(m) = &candidate.moments {
            parts_out.push((parts::OPTIMIZER.to_string(), m.to_bytes()));
        }
        parts_out.extend(candidate.anchor.part());
        parts_out.extend(
            candidate
                .state
                .parts()
                .into_iter()
                .map(|(name, bytes)| (name.to_string(), bytes)),
        );
        let rejected = verdict.as_ref().filter(|v| !v.passed());
        let extra = CheckpointExtra {
            model: info,
            source: match &self.spec.source {
                relearn_data::StreamSource::Csv(csv) => csv.identity(),
                relearn_data::StreamSource::Generator(_) => self.info.source.clone(),
            },
            target: match &self.spec.source {
                relearn_data::StreamSource::Csv(csv) => csv.target.clone(),
                relearn_data::StreamSource::Generator(_) => "y".to_string(),
            },
            scaling: self.spec.scaling,
            window_size: self.spec.window_size,
            seed: self.spec.seed,
            data: self.trail.as_ref().map(|trail| trail.record(c.window)),
            gate: rejected.cloned(),
            new_classes: c.new_classes,
            out_of_range: c.out_of_range,
            policy: c
                .record
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        let draft = CheckpointDraft {
            run: self.spec.name.clone(),
            mode: self.policy.name().to_string(),
            window: c.window as u64,
            parent: c.parent,
            relation: c.relation,
            replaces: c.replaces,
            samples_trained: c.samples_trained,
            samples_skipped: c.samples_skipped,
            retained: c.retained,
            metrics: Metrics {
                prequential: c.prequential,
                train_loss: c.train_loss,
            },
            train_seconds: c.train_seconds,
            config_fingerprint: self.fingerprint.clone(),
            trained_on: TrainedOn {
                windows: c.trained_windows,
                samples: c.samples_trained,
            },
            extra: extra.to_value(),
            parts: parts_out,
        };
        if let Some(v) = rejected {
            let tag = rejected_tag(&self.spec.name, c.window);
            for name in [tag.as_str(), REJECTED_TAG] {
                self.check_gate_may_move(name)?;
            }
            let manifest = self.store.commit_to(draft, Publish::Tag(&tag))?;
            // `rejected` names the store's latest rejected candidate (`relearn show rejected`).
            self.store.set_tag(REJECTED_TAG, &manifest.id)?;
            let manifest = self.store.manifest(&manifest.id)?;
            return Ok(Outcome::Rejected(manifest, v.clone(), tag));
        }
        let manifest = self.store.commit(draft)?;
        candidate.id = manifest.id.clone();
        self.serving = Some(candidate);
        Ok(Outcome::Promoted(manifest))
    }
}

/// Anchored fine-tuning (`stateful.anchor`, see [`crate::anchor`]).
impl Loop<'_> {
    /// The anchor of this run's fine-tunes: none for a policy that never fine-tunes.
    fn anchor_kind(&self) -> AnchorKind {
        match self.policy.fine_tunes() {
            true => self.spec.stateful.anchor.kind,
            false => AnchorKind::None,
        }
    }

    /// The anchor state of a model trained from fresh weights on `data` (preprocessed): the
    /// initial model (`serving = None`) or a reset of the drift policy. `l2-init` keeps the
    /// run's initial weights (the initial model's own); `ewc` starts a new Fisher.
    fn fresh_anchor(
        &self,
        weights: &MlpWeights,
        data: &Batch,
        serving: Option<&AnchorState>,
    ) -> AnchorState {
        match (self.anchor_kind(), serving) {
            (AnchorKind::None, _) => AnchorState::None,
            (AnchorKind::L2Init, Some(AnchorState::L2Init(initial))) => {
                AnchorState::L2Init(initial.clone())
            }
            (AnchorKind::L2Init, _) => AnchorState::L2Init(Arc::new(weights.clone())),
            (AnchorKind::Ewc, _) => AnchorState::Ewc(Arc::new(relearn_fit::fisher(
                weights,
                self.mlp.activation,
                data,
                self.info.task,
            ))),
        }
    }

    /// The penalty of a fine-tune of `serving`, if the run anchors them.
    fn anchor_for_fine_tune(&self, serving: &Serving) -> Option<Anchor> {
        let strength = self.spec.stateful.anchor.strength as f32;
        match &serving.anchor {
            AnchorState::None => None,
            AnchorState::L2Init(initial) => Some(Anchor {
                strength,
                center: (**initial).clone(),
                precision: None,
            }),
            AnchorState::Ewc(fisher) => Some(Anchor {
                strength,
                center: serving.weights.clone(),
                precision: Some(fisher.0.clone()),
            }),
        }
    }

    /// The anchor state stored with `head` (its `anchor` or `fisher` part).
    fn resume_anchor(&self, head: &Manifest, widths: &[usize]) -> Result<AnchorState, TrainError> {
        let kind = self.anchor_kind();
        let name = match kind {
            AnchorKind::None => return Ok(AnchorState::None),
            AnchorKind::L2Init => parts::ANCHOR,
            AnchorKind::Ewc => parts::FISHER,
        };
        if !head.parts.contains_key(name) {
            return Err(bad(
                head,
                format!(
                    "it has no `{name}` part, which a run with `stateful.anchor = \"{}\"` needs",
                    kind.name()
                ),
            ));
        }
        let bytes = self.store.load_part(head, name)?;
        let decoded = match kind {
            AnchorKind::L2Init => relearn_fit::anchor::decode_anchor_weights(&bytes, widths)
                .map(|w| AnchorState::L2Init(Arc::new(w))),
            _ => Fisher::from_bytes(&bytes, widths).map(|f| AnchorState::Ewc(Arc::new(f))),
        };
        decoded.map_err(|source| TrainError::BadPart {
            id: head.id.clone(),
            source: Box::new(source),
        })
    }
}

impl Loop<'_> {
    /// Refuses to move gate tag `name` if it names a checkpoint no gate rejected: a tag a
    /// user made (with a relearn from before these names were reserved) never moves.
    fn check_gate_may_move(&self, name: &str) -> Result<(), TrainError> {
        let Some(id) = self.store.tags()?.remove(name) else {
            return Ok(());
        };
        let made_by_gate = self
            .store
            .manifest(&id)
            .ok()
            .and_then(|m| CheckpointExtra::of(&m).ok())
            .is_some_and(|extra| extra.gate.is_some());
        if made_by_gate {
            return Ok(());
        }
        Err(TrainError::Usage(format!(
            "the promotion gate rejected the candidate of run '{}' and would tag it '{name}', but \
             tag '{name}' was made by hand (it names checkpoint {id:.12}, which no gate rejected) \
             and a tag you made never moves. Nothing was committed. Give your tag another name \
             (`relearn tag {:.12} NEW-NAME`, then `relearn tag --delete {name}`) and run again",
            self.spec.name, id
        )))
    }
}

impl Loop<'_> {
    /// The error for training that diverged at `window`, with advice: the data's scale when
    /// it is extreme, else the learning rate.
    fn diverged(
        &self,
        window: usize,
        epoch: usize,
        lr_key: &str,
        lr: f64,
        data: &Batch,
        anchored: bool,
    ) -> TrainError {
        let advice = data_scale_advice(self.spec, data, self.info.task).unwrap_or_else(|| {
            let kind = self.anchor_kind();
            if anchored && kind != AnchorKind::None {
                // The penalty's gradient grows with its strength whatever the learning rate.
                format!(
                    "The fine-tune is anchored (`stateful.anchor = \"{}\"`, \
                     `stateful.anchor_strength = {}`): lower `stateful.anchor_strength` (the \
                     default is {}) or `{lr_key}` (now {lr}) and run again",
                    kind.name(),
                    self.spec.stateful.anchor.strength,
                    relearn_spec::defaults::anchor_strength(kind)
                )
            } else {
                format!("Lower `{lr_key}` (now {lr}) and run again")
            }
        });
        TrainError::NotFinite {
            what: "training diverged",
            window,
            detail: format!("epoch {epoch}: the loss is not a finite number"),
            advice,
        }
    }
}

/// Inputs (after scaling) or regression targets this far from 0 make an MLP's loss overflow
/// or its gradients explode, whatever the learning rate.
const EXTREME: f32 = 1e4;

/// What to tell the user when `data` (scaled as the model sees it) holds extreme values,
/// `None` when it does not.
fn data_scale_advice(spec: &RunSpec, data: &Batch, task: relearn_data::Task) -> Option<String> {
    let largest = |values: &[f32]| {
        values
            .iter()
            .map(|v| {
                if v.is_finite() {
                    v.abs()
                } else {
                    f32::INFINITY
                }
            })
            .fold(0.0f32, f32::max)
    };
    let size = |v: f32| match v.is_finite() {
        true => format!("{v:e}"),
        false => "beyond f32's range".to_string(),
    };
    let feature = largest(&data.features);
    if feature > EXTREME {
        return Some(format!(
            "The cause is the data's scale, not the learning rate: the model sees inputs as large as \
             {} (with `data.scaling = \"{}\"`). Look for huge values in the feature columns \
             (a marker such as 3e38 or 9999999 standing for a missing value), remove or replace them, \
             or scale the inputs (`data.scaling = \"initial\"`)",
            size(feature),
            spec.scaling.name()
        ));
    }
    let target = largest(&data.targets);
    if task == relearn_data::Task::Regression && target > EXTREME {
        return Some(format!(
            "The cause is the data's scale, not the learning rate: regression targets reach {} \
             as the model sees them (relearn standardises them unless `data.scaling = \"none\"`, \
             so a value this far out is an outlier of the window or a marker value). Look for \
             such values in the target column, or set `data.scaling`",
            size(target)
        ));
    }
    None
}

/// The model a run trains on `info`'s stream (its initial classes).
fn model_config(spec: &RunSpec, info: &StreamInfo) -> MlpConfig {
    MlpConfig::new(info.n_inputs(), spec.model.hidden.clone(), info.n_outputs())
        .with_activation(spec.model.activation)
        .with_dropout(spec.model.dropout)
}

/// The key of `extra` under which an imported checkpoint records its file: `file` (its
/// name), `sha256` and `format` (`pytorch` or `relearn-export`).
pub const IMPORT_RECORD: &str = "import";

/// The output layer of a classifier must not be frozen (`train.freeze`) when classes
/// appear after the initial windows: each new class gets an output that no update could
/// ever train. Checked for a new run, before its lock is taken.
fn check_frozen_outputs(
    spec: &RunSpec,
    info: &StreamInfo,
    mlp: &MlpConfig,
) -> Result<(), TrainError> {
    let output = mlp.widths().len().saturating_sub(2);
    if info.later_classes.is_empty() || !spec.train.freeze.contains(&output) {
        return Ok(());
    }
    Err(TrainError::Usage(format!(
        "`train.freeze` holds {output}, the output layer, but {} has classes first seen after \
         the initial windows ([{}]): the output each of them gets could never be trained, and \
         the model would never predict them. Leave layer {output} out of `train.freeze`, or \
         remove those rows from the data",
        csv_path(spec),
        info.later_classes.join(", ")
    )))
}

/// A relearn export's preprocessing, with the spellings of a missing cell taken from the
/// run's `data.missing` (`info.missing`): the run reads its data with them, so `eval` and
/// `predict` must read the same rows with them too. The export's own list described the
/// data of the run it came from. (A preprocessing without encoders reads the default
/// spellings, as a run's own would for the same stream.)
fn adopt_missing(mut pre: Preprocessor, info: &StreamInfo) -> Preprocessor {
    if let Some(encoders) = pre.encoders.as_mut() {
        encoders.missing = info.missing.clone();
    }
    pre
}

/// A `model.init` model must fit the stream: as many inputs as features, as many outputs as
/// classes (1 for regression), and a relearn export's features and classes. Checked before
/// the run's lock is taken: bad input changes nothing.
fn check_import_fits(spec: &RunSpec, info: &StreamInfo) -> Result<(), TrainError> {
    let Some(init) = &spec.model.init else {
        return Ok(());
    };
    let model = &init.model;
    let last = model.weights.layers.len() - 1;
    let (inputs, outputs) = (
        model.weights.layers[0].d_input,
        model.weights.layers[last].d_output,
    );
    let file = init.path.display();
    if inputs != info.n_inputs() {
        return Err(TrainError::Usage(format!(
            "`model.init` {file}: the model's input width is {inputs} ({}), but the data gives {} inputs (numeric features [{}]{}); choose the feature columns the model was trained on (`data.features`, in its order)",
            model.describe_layer(0),
            info.n_inputs(),
            info.feature_names.join(", "),
            if info.n_inputs() == info.n_features() {
                String::new()
            } else {
                ", their missing indicators and the categorical columns' inputs".to_string()
            }
        )));
    }
    if outputs != info.n_outputs() {
        let wanted = match info.task {
            relearn_data::Task::Classification => format!(
                "the data has {} classes [{}] (one output per class, in this order)",
                info.n_outputs(),
                info.classes.join(", ")
            ),
            relearn_data::Task::Regression => "a regression model has 1 output".to_string(),
        };
        return Err(TrainError::Usage(format!(
            "`model.init` {file}: the model's output width is {outputs} ({}), but {wanted}",
            model.describe_layer(last)
        )));
    }
    if let Some(pre) = &model.preprocessor {
        pre.check_compatible(info).map_err(|e| {
            TrainError::Usage(format!("`model.init` {file} is a relearn export, but {e}"))
        })?;
    }
    Ok(())
}

/// The CSV file a run reads, for messages.
fn csv_path(spec: &RunSpec) -> String {
    match &spec.source {
        relearn_data::StreamSource::Csv(csv) => csv.path.display().to_string(),
        relearn_data::StreamSource::Generator(g) => format!("generator {}", g.kind.name()),
    }
}

/// A new run's name must not hide or be hidden by another REF: REF syntax resolves a tag
/// before a run, so a run named like an existing tag would be unreachable by name.
fn check_new_run_name(spec: &RunSpec, store: &Store) -> Result<(), TrainError> {
    if let Some(id) = store.tags()?.get(&spec.name) {
        return Err(TrainError::Usage(format!(
            "`run.name = \"{}\"` is already a tag in {} (it names checkpoint {id:.12}); REF \
             syntax resolves tags before runs, so the run could not be named in `show`, \
             `export` or `predict`. Choose another `run.name`",
            spec.name,
            store.root().display()
        )));
    }
    Ok(())
}

/// Bytes a float of the model takes while it trains: the weights, their gradients, Adam's
/// two moments and the updated copy.
const TRAINING_COPIES: u128 = 5 * 4;

/// Refuses, before anything is allocated, a model whose training state would not fit in
/// this machine's memory (an allocation that large aborts the process).
fn check_model_fits(spec: &RunSpec, mlp: &MlpConfig) -> Result<(), TrainError> {
    let widths = mlp.widths();
    let params: u128 = widths
        .windows(2)
        .map(|w| (w[0] as u128 + 1) * w[1] as u128)
        .sum();
    let widest = widths.iter().copied().max().unwrap_or(0) as u128;
    let activations = 3 * 4 * widest * widths.len() as u128 * spec.train.batch_size as u128;
    let needed = params * TRAINING_COPIES + activations;
    let Some(memory) = physical_memory() else {
        return Ok(());
    };
    if needed <= memory as u128 {
        return Ok(());
    }
    Err(TrainError::Usage(format!(
        "`model.hidden = {:?}` needs about {} to train ({params} parameters, each with its \
         gradient, Adam's two moments and an update copy), more than this machine's {} of \
         memory. Use smaller hidden layers",
        spec.model.hidden,
        human_bytes(needed),
        human_bytes(memory as u128)
    )))
}

pub use relearn_data::human_bytes;
use relearn_data::physical_memory;

/// Shrink-and-perturb (Ash & Adams 2020): `shrink * previous + perturb * fresh`, element by
/// element, in f32.
pub(crate) fn shrink_perturb(
    previous: &MlpWeights,
    fresh: &MlpWeights,
    shrink: f64,
    perturb: f64,
) -> MlpWeights {
    let (l, s) = (shrink as f32, perturb as f32);
    let mix = |p: &[f32], f: &[f32]| -> Vec<f32> {
        p.iter().zip(f).map(|(&p, &f)| l * p + s * f).collect()
    };
    MlpWeights {
        layers: previous
            .layers
            .iter()
            .zip(&fresh.layers)
            .map(|(p, f)| relearn_model::LayerWeights {
                d_input: p.d_input,
                d_output: p.d_output,
                weight: mix(&p.weight, &f.weight),
                bias: mix(&p.bias, &f.bias),
            })
            .collect(),
    }
}

/// What a checkpoint records beyond its parts.
struct Commit {
    window: usize,
    parent: Option<CheckpointId>,
    relation: Relation,
    replaces: Option<CheckpointId>,
    samples_trained: u64,
    samples_skipped: u64,
    trained_windows: Vec<u64>,
    prequential: Option<BTreeMap<String, f64>>,
    /// `None` for an imported model, which this run did not train.
    train_loss: Option<f64>,
    train_seconds: f64,
    retained: Retained,
    /// What the policy records under `extra.<key>` (see [`policy::Plan::record`]).
    record: Option<(&'static str, serde_json::Value)>,
    /// Classes the checkpoint's model learned first.
    new_classes: Vec<String>,
    /// The window's inputs that the serving model's scaler clipped.
    out_of_range: Vec<OutOfRange>,
}

fn bad(head: &Manifest, e: impl std::fmt::Display) -> TrainError {
    TrainError::BadCheckpoint {
        id: head.id.clone(),
        message: e.to_string(),
    }
}
