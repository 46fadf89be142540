//! The run loop: the initial model, then for each new window: *score* the serving model
//! on it (the prequential score), let its policy *plan* the update, *train* a candidate
//! through the run's model family, *gate* it, and *commit* it. Resumes where the store ends.
//!
//! - `mod.rs`: the public entry points and the loop's state;
//! - [`resume`]: picking up a stored run (its head, its initial model, its data);
//! - [`update`]: the initial model and the per-window update, up to a [`Candidate`];
//! - [`commit`]: the gate's verdict and the commit of a candidate;
//! - [`checks`]: what a new run is refused for before its lock is taken.

mod checks;
mod commit;
mod resume;
mod update;

use std::collections::{BTreeMap, VecDeque};

use relearn_data::{OutOfRange, Preprocessor, Stream, StreamInfo, Window};
use relearn_spec::{ModelKind, RunSpec, Verdict};
use relearn_store::{CheckpointId, Manifest, Relation, Retained, Store};

use crate::TrainError;
use crate::data_trail::DataTrail;
use crate::model::ModelFamily;
use crate::model::gbdt::GbdtFamily;
use crate::model::mlp::MlpFamily;
use crate::policy::{self, Context, History, PolicyState, UpdatePolicy};
use checks::{
    check_frozen_outputs, check_import_fits, check_model_fits, check_new_run_name, model_config,
};

pub use relearn_data::human_bytes;

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
        info: Box<StreamInfo>,
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
struct Serving<M> {
    id: CheckpointId,
    model: M,
    preprocessor: Preprocessor,
    /// What its policy carries to the next update.
    state: Box<dyn PolicyState>,
}

/// A model that served, kept while the labels of rows it predicted are still to come
/// (`window.label_delay`): it is the one that scores them.
struct Predictor<M> {
    id: CheckpointId,
    model: M,
    preprocessor: Preprocessor,
}

/// A window's update before it is gated and committed: the model, its preprocessing and
/// policy state, and what its checkpoint records. It has no id until it is committed.
struct Candidate<M> {
    model: M,
    preprocessor: Preprocessor,
    state: Box<dyn PolicyState>,
    record: CandidateRecord,
}

/// What a candidate's checkpoint records beyond its parts.
struct CandidateRecord {
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
    record: Option<crate::policy::PolicyRecord>,
    /// An imported root: the file it came from (`extra.import`).
    import: Option<crate::checkpoint::ImportRecord>,
    /// With a label delay: the checkpoint that scored the window (`extra.scored_by`).
    scored_by: Option<CheckpointId>,
    /// Classes the checkpoint's model learned first.
    new_classes: Vec<String>,
    /// The window's inputs that the serving model's scaler clipped.
    out_of_range: Vec<OutOfRange>,
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
        if spec.model.kind == ModelKind::Mlp {
            check_model_fits(spec, &mlp)?;
            check_import_fits(spec, stream.info())?;
            check_frozen_outputs(spec, stream.info(), &mlp)?;
        }
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
    match spec.model.kind {
        ModelKind::Mlp => {
            let family = MlpFamily::new(spec, stream.info(), mlp, policy.fine_tunes());
            drive(spec, store, &stream, end, family, policy, on_event)
        }
        ModelKind::Gbdt => {
            let family = GbdtFamily::new(spec, stream.info());
            drive(spec, store, &stream, end, family, policy, on_event)
        }
    }
}

/// The run's windows up to `end` through `family` and `policy`, its lock held.
fn drive<F: ModelFamily>(
    spec: &RunSpec,
    store: &Store,
    stream: &Stream,
    end: usize,
    family: F,
    policy: Box<dyn UpdatePolicy>,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary, TrainError> {
    let mut loop_ = Loop::new(spec, store, stream, family, policy)?;
    loop_.check_data(stream)?;
    let todo = end.saturating_sub(loop_.next_window) + usize::from(loop_.serving.is_none());
    if let Some(head) = &loop_.head_manifest {
        on_event(&RunEvent::Resuming {
            head: Box::new(head.clone()),
            next_window: loop_.next_window,
        });
    }
    on_event(&RunEvent::Planned {
        info: Box::new(stream.info().clone()),
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

/// The loop's state between windows.
struct Loop<'a, F: ModelFamily> {
    spec: &'a RunSpec,
    store: &'a Store,
    info: StreamInfo,
    fingerprint: String,
    /// The run's model family (the architecture, its training, its parts).
    family: F,
    /// The run's update policy.
    policy: Box<dyn UpdatePolicy>,
    /// What the policy needs to know of the run.
    ctx: Context,
    /// The latest checkpoint at start, when resuming.
    head_manifest: Option<Manifest>,
    serving: Option<Serving<F::Model>>,
    /// With `window.label_delay = K`: the last K + 1 promoted models, oldest first, the
    /// serving one last. The oldest predicted the window being fed, whose labels only now
    /// arrive.
    predictors: VecDeque<Predictor<F::Model>>,
    /// Id of the run's initial model (the parent of every retrained checkpoint).
    initial_id: Option<CheckpointId>,
    next_window: usize,
    /// The initial samples (kept after the initial model when the policy asks) and the
    /// recent windows the policy keeps.
    history: History,
    /// Rows of the initial windows skipped for a missing target.
    initial_skipped: usize,
    /// CSV runs: the hashes of the windows streamed past so far (see [`crate::data_trail`]).
    trail: Option<DataTrail>,
    /// Resuming a CSV run: its head, until the data it trained on has been checked.
    data_check: Option<Manifest>,
    /// The targets of the window before the one being fed (the no-skill baseline's), and
    /// of the one being fed.
    previous_targets: Option<Vec<f32>>,
    current_targets: Option<Vec<f32>>,
}

impl<'a, F: ModelFamily> Loop<'a, F> {
    fn new(
        spec: &'a RunSpec,
        store: &'a Store,
        stream: &Stream,
        family: F,
        policy: Box<dyn UpdatePolicy>,
    ) -> Result<Loop<'a, F>, TrainError> {
        let info = stream.info().clone();
        let ctx = Context {
            seed: spec.seed,
            windowing: stream.windowing(),
            initial_windows: spec.initial_windows,
            n_features: info.n_features(),
            n_categorical: info.categorical.len(),
        };
        let history = History {
            initial: ctx.empty_batch(),
            recent: VecDeque::new(),
        };
        let mut loop_ = Loop {
            spec,
            store,
            info,
            fingerprint: spec.fingerprint(),
            family,
            policy,
            ctx,
            head_manifest: None,
            serving: None,
            predictors: VecDeque::new(),
            initial_id: None,
            next_window: spec.initial_windows,
            history,
            initial_skipped: 0,
            trail: matches!(spec.source, relearn_data::StreamSource::Csv(_))
                .then(|| DataTrail::new(stream.files())),
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

    /// With a label delay of K windows, keeps a newly promoted model among the last K + 1
    /// ([`Loop::predictors`]).
    fn remember_predictor(
        &mut self,
        id: &CheckpointId,
        model: &F::Model,
        preprocessor: &Preprocessor,
    ) {
        let keep = self.spec.label_delay + 1;
        if keep == 1 {
            return;
        }
        self.predictors.push_back(Predictor {
            id: id.clone(),
            model: model.clone(),
            preprocessor: preprocessor.clone(),
        });
        while self.predictors.len() > keep {
            self.predictors.pop_front();
        }
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
}
