//! Comparing update policies: the numbers of a comparison, computed from the runs'
//! manifests (one run per policy): per-window scores, totals, recovery after each declared
//! drift point, the score of each checkpoint on the previous concept (forgetting), every
//! policy against the most accurate one, and the recommendation, a typed verdict.
//!
//! Everything here is a pure function of the manifests (as [`Store::run_chain`] returns
//! them and `relearn log --json` prints them), the stream's declared drift points, each
//! checkpoint's score on the previous concept and what the invocation measured (times,
//! peak memory), so a report agrees with the store by construction. `relearn compare` runs
//! the policies, scores the checkpoints on the previous concept and renders the report
//! (table, prose, plot); a Rust program can do the same without the CLI:
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::path::Path;
//!
//! use relearn_data::Stream;
//! use relearn_store::Store;
//! use relearn_train::compare::{self, Choice, Inputs, Invocation, Reason, RunInput, Setup};
//! use relearn_train::{Policy, RunOptions, RunSpec};
//!
//! let toml = "[run]\nname = \"doc\"\n[data]\ngenerator = \"sea\"\nsamples = 1200\n\
//!             [window]\nsize = 200\n[model]\nhidden = [8]\n[train]\nepochs = 1\n";
//! let spec = RunSpec::from_toml(toml, Path::new("doc.toml"))?;
//! let dir = tempfile::tempdir()?;
//! let store = Store::open_for_write(dir.path())?;
//!
//! // One run per policy, named as `compare` names them: doc-stateless, doc-stateful.
//! let mut chains = Vec::new();
//! for mode in Policy::BOOK {
//!     let name = compare::run_name(&spec.name, mode);
//!     let run = mode.apply(spec.clone()).with_name(name.clone());
//!     relearn_train::run(&run, &store, &RunOptions::default(), &mut |_| {})?;
//!     chains.push((mode, store.run_chain(&name)?));
//! }
//!
//! let stream = Stream::open(&spec.source, spec.window_size, spec.initial_windows)?;
//! let setup = Setup::new(&spec, &stream, None, "doc.toml", &dir.path().display().to_string())?;
//! let report = compare::build(Inputs {
//!     setup,
//!     runs: chains
//!         .iter()
//!         .map(|(mode, chain)| RunInput {
//!             mode: *mode,
//!             chain,
//!             now: Invocation::default(),
//!             previous_concept: BTreeMap::new(),
//!         })
//!         .collect(),
//! });
//!
//! // Five update windows each, scored before each update.
//! let stateful = report.modes.get(Policy::STATEFUL).expect("compared");
//! assert_eq!(stateful.windows.len(), 5);
//! let pair = report.comparison.as_ref().expect("both book modes ran");
//! assert_eq!(pair.paired_windows, 5);
//!
//! let recommendation = compare::recommend(&report);
//! assert_ne!(recommendation.reason, Reason::NotEnoughWindows);
//! match recommendation.policy {
//!     Choice::Policy(mode) => println!("use {mode}: {:?}", recommendation.reason),
//!     Choice::Either => println!("either will do"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Store::run_chain`]: relearn_store::Store::run_chain

mod recommend;
mod report;
pub mod stats;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use relearn_data::{DataError, Stream, Task};
use relearn_store::Manifest;

pub use self::recommend::{Better, Choice, Reason, Recommendation, recommend};
pub use self::report::{
    At, Backward, BaselineSummary, Comparison, Definitions, ExcessLoss, InitialRow, Measured,
    ModeReport, Modes, PeakMemory, Recovery, Report, Samples, ScoreSummary, Seconds, Setup,
    Standing, StreamSummary, WindowRow, WindowShare,
};
use self::stats::{backward, mean, rank, recoveries, std_error, worse};
use relearn_spec::{Policy, RunSpec};

/// Windows before a drift window whose mean is the pre-drift level.
pub const PRE_DRIFT_WINDOWS: usize = 3;
/// A score is "back" after a drift when within this many points of the pre-drift level.
pub const RECOVERY_POINTS: f64 = 2.0;
/// Mean differences under this many points are too close to call.
pub const CLOSE_POINTS: f64 = 0.5;
/// ... and so are differences within this many standard errors of the per-window
/// differences (about a 95 % interval).
pub const CLOSE_STD_ERRORS: f64 = 2.0;
/// A mode that scores at most this many points below the other "matched" it in the
/// recommendation's words, when it is clearly cheaper.
pub const MATCH_POINTS: f64 = 1.0;
/// Cost ratios within `1/COST_SIMILAR ..= COST_SIMILAR` count as the same cost.
pub const COST_SIMILAR: f64 = 1.25;

/// The no-skill message lists the windows carrying the largest share of the best policy's
/// loss in excess of the baseline, largest first, until they carry this share of it ...
pub const EXCESS_SHARE: f64 = 0.8;
/// ... or this many windows are listed.
pub const EXCESS_WINDOWS: usize = 5;

/// Version of the `compare.json` layout: 2 added `policies`, `ranking`, `recommended`,
/// `backward` and each window's `previous_concept`, and made `comparison` null unless both
/// book modes ran; 3 added `stream.baseline_mse`, `stream.samples_unused_at_end`, each
/// policy's `samples_skipped` and `score.baseline.pooled_skill`, and measures a regression
/// point against the baseline's pooled mse (see [`Setup::point`]).
pub const VERSION: u32 = 3;

/// What one invocation of a mode did (not stored with the checkpoints).
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Checkpoints trained now.
    pub trained_now: usize,
    /// Wall time of the child process, seconds.
    pub wall_seconds: f64,
    /// Peak memory, when measured (or carried over).
    pub peak_memory: Option<PeakMemory>,
}

/// The runs as read from the store, with what this invocation did.
pub struct Inputs<'a> {
    /// Config, stream, metric.
    pub setup: Setup,
    /// One per policy, in the order compared.
    pub runs: Vec<RunInput<'a>>,
}

/// One policy's run.
pub struct RunInput<'a> {
    /// The policy.
    pub mode: Policy,
    /// Its checkpoints (`store.run_chain`), any order.
    pub chain: &'a [Manifest],
    /// What this invocation did for it.
    pub now: Invocation,
    /// Each checkpoint's score on the previous concept's windows, by checkpoint id.
    pub previous_concept: BTreeMap<relearn_store::CheckpointId, f64>,
}

impl Setup {
    /// The setup of comparing `spec`'s policies on `stream` (opened with `spec`'s window
    /// size and initial windows) over its first `max_windows` windows (`None`: all of them),
    /// naming the config file and the store folder as given. Reads the initial windows of a
    /// regression stream, for the variance of its target.
    pub fn new(
        spec: &RunSpec,
        stream: &Stream,
        max_windows: Option<usize>,
        config: &str,
        store: &str,
    ) -> Result<Setup, DataError> {
        let (metric, higher_is_better) = metric_of(spec.task());
        let info = stream.info();
        Ok(Setup {
            name: spec.name.clone(),
            config: config.to_string(),
            store: store.to_string(),
            task: spec.task().name(),
            metric,
            higher_is_better,
            stream: StreamSummary {
                source: info.source.clone(),
                samples: info.n_samples,
                window_size: spec.window_size,
                initial_windows: spec.initial_windows,
                windows: max_windows.map_or(stream.n_windows(), |n| n.min(stream.n_windows())),
                label_delay: spec.label_delay,
                drift_points: info.drift_points.clone(),
                every: info.every.map(|e| e.name()),
                window_samples: match stream.windowing() {
                    relearn_data::Windowing::Rows { .. } => Vec::new(),
                    w @ relearn_data::Windowing::Time { .. } => {
                        (0..stream.n_windows()).map(|i| w.span(i).len()).collect()
                    }
                },
                target_variance: match spec.task() {
                    Task::Regression => Some(stats::initial_target_variance(stream)?),
                    Task::Classification => None,
                },
                // Known once the runs are read (see `build`).
                baseline_mse: None,
                samples_unused_at_end: stream.trailing_rows(),
            },
        })
    }
}

/// The headline prequential metric of a task, and whether a larger score is better.
pub fn metric_of(task: Task) -> (&'static str, bool) {
    match task {
        Task::Classification => ("accuracy", true),
        Task::Regression => ("mse", false),
    }
}

/// The store's run name of a policy in a comparison: `NAME-stateless`, `NAME-stateful`.
pub fn run_name(name: &str, mode: Policy) -> String {
    format!("{name}-{}", mode.run_suffix())
}

/// Builds the report.
pub fn build(inputs: Inputs<'_>) -> Report {
    let mut setup = inputs.setup;
    if !setup.higher_is_better {
        setup.stream.baseline_mse = pooled_baseline(&setup, &inputs.runs);
    }
    let policies: Vec<Policy> = inputs.runs.iter().map(|r| r.mode).collect();
    let modes = Modes(
        inputs
            .runs
            .into_iter()
            .map(|r| mode_report(r.mode, &setup, r.chain, r.now, &r.previous_concept))
            .collect(),
    );
    let comparison = match (modes.get(Policy::STATELESS), modes.get(Policy::STATEFUL)) {
        (Some(stateless), Some(stateful)) => Some(recommend::compare(&setup, stateless, stateful)),
        _ => None,
    };
    let ranking = rank(&setup, &modes);
    let with_baseline: Vec<&ModeReport> = modes
        .0
        .iter()
        .filter(|m| m.score.baseline.is_some())
        .collect();
    let beat_baseline = (!with_baseline.is_empty()).then(|| {
        with_baseline
            .iter()
            .filter(|m| m.score.baseline.as_ref().is_some_and(|b| b.beats_baseline))
            .map(|m| m.mode)
            .collect()
    });
    Report {
        version: VERSION,
        definitions: Definitions {
            point: if setup.higher_is_better {
                "0.01 accuracy (one percentage point)".to_string()
            } else if setup.points_of_skill() {
                format!(
                    "{} mse: 1 % of the no-skill baseline's mse over the compared windows ({}), so a difference of one point is 0.01 of pooled skill",
                    stats::format_sig(setup.point(), 4),
                    stats::format_sig(setup.stream.baseline_mse.unwrap_or(f64::NAN), 4)
                )
            } else {
                format!(
                    "{} mse: 1 % of the variance of the target over the initial windows ({}), so a point of mse is 0.01 of R²",
                    stats::format_sig(setup.point(), 4),
                    stats::format_sig(setup.stream.target_variance.unwrap_or(f64::NAN), 4)
                )
            },
            point_value: setup.point(),
            pre_drift_windows: PRE_DRIFT_WINDOWS,
            recovery_points: RECOVERY_POINTS,
            close_points: CLOSE_POINTS,
            close_std_errors: CLOSE_STD_ERRORS,
        },
        setup,
        policies,
        modes,
        comparison,
        ranking,
        beat_baseline,
    }
}

/// The no-skill baseline's mse pooled over the compared update windows, as the runs'
/// checkpoints record it (it depends on the window's data alone, so any run's will do);
/// `None` when none records one. The windows' mse weighed by their samples: `window_size`
/// each (the mean of the windows' mse), or for windows by time their own.
fn pooled_baseline(setup: &Setup, runs: &[RunInput<'_>]) -> Option<f64> {
    let key = relearn_spec::Metric::Baseline.name();
    let by_window: BTreeMap<u64, f64> = runs
        .iter()
        .flat_map(|r| r.chain.iter())
        .filter(|m| (m.window as usize) < setup.stream.windows && !m.relation.is_root())
        .filter_map(|m| Some((m.window, *m.metrics.prequential.as_ref()?.get(key)?)))
        .collect();
    let rows: Vec<(f64, f64)> = by_window
        .iter()
        .map(|(&w, &b)| (b, setup.stream.samples_of(w)))
        .collect();
    stats::weighted_mean(&rows)
}

/// The policy's windows against the no-skill baseline they record.
fn baseline_summary(setup: &Setup, windows: &[WindowRow]) -> Option<BaselineSummary> {
    let (base, skill) = (
        relearn_spec::Metric::Baseline.name(),
        relearn_spec::Metric::Skill.name(),
    );
    let rows: Vec<(f64, f64, f64, f64)> = windows
        .iter()
        .filter_map(|w| {
            Some((
                w.score,
                *w.prequential.get(base)?,
                *w.prequential.get(skill)?,
                setup.stream.samples_of(w.window),
            ))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let over: Vec<f64> = rows
        .iter()
        .map(|(s, b, _, _)| (s - b) * setup.points_scale())
        .collect();
    let over_baseline_points = mean(&over)?;
    let std_error_points = std_error(&over);
    // A window scores `window_size` samples, or for windows by time its own (rows without a
    // target are not samples).
    let losses: Vec<(f64, f64, f64)> = rows
        .iter()
        .map(|&(s, b, _, n)| (setup.loss(s), setup.loss(b), n))
        .collect();
    Some(BaselineSummary {
        windows: rows.len(),
        mean: mean(&rows.iter().map(|r| r.1).collect::<Vec<_>>())?,
        skill: mean(&rows.iter().map(|r| r.2).collect::<Vec<_>>())?,
        pooled_skill: stats::pooled_skill(&losses)?,
        over_baseline_points,
        std_error_points,
        beats_baseline: over_baseline_points > CLOSE_POINTS
            && std_error_points.is_none_or(|se| over_baseline_points > CLOSE_STD_ERRORS * se),
    })
}

/// One policy's report: its stored run `chain` read window by window (the later checkpoint
/// of a window stored twice), what this invocation measured (`now`) and each checkpoint's
/// score on the previous concept.
fn mode_report(
    mode: Policy,
    setup: &Setup,
    chain: &[Manifest],
    now: Invocation,
    previous_concept: &BTreeMap<relearn_store::CheckpointId, f64>,
) -> ModeReport {
    let chain = in_window_order(setup, chain);
    let mut by_window: BTreeMap<u64, &Manifest> = BTreeMap::new();
    for m in &chain {
        by_window.insert(m.window, m);
    }
    let initial = chain
        .iter()
        .rev()
        .find(|m| m.relation.is_root())
        .map(|m| InitialRow {
            id: m.id.clone(),
            window: m.window,
            train_seconds: m.train_seconds,
            samples_trained: m.samples_trained,
        });
    let windows = window_rows(setup, &by_window, previous_concept);
    let head = by_window.values().next_back().map(|m| m.id.clone());
    let retained_at_end = by_window
        .values()
        .next_back()
        .map(|m| m.retained.clone())
        .unwrap_or_default();
    let model_bytes = by_window
        .values()
        .next_back()
        .and_then(|m| m.parts.get("model"))
        .map(|p| p.bytes);
    let score = score_summary(setup, &windows);
    let recovery = recoveries(setup, &windows);
    let backward = backward(setup, &windows);
    let train_seconds = train_seconds_summary(initial.as_ref(), &windows);
    let samples_trained = samples_trained_summary(initial.as_ref(), &windows);
    let stored = by_window.len();
    let samples_skipped = by_window.values().map(|m| m.samples_skipped).sum();
    ModeReport {
        run: run_name(&setup.name, mode),
        mode,
        head,
        initial,
        windows,
        score,
        recovery,
        backward,
        train_seconds,
        samples_trained,
        retained_at_end,
        model_bytes,
        samples_skipped,
        peak_memory: now.peak_memory,
        trained_now: now.trained_now.min(stored),
        reused: stored.saturating_sub(now.trained_now),
        wall_seconds: now.wall_seconds,
    }
}

/// The checkpoints of `chain` within the compared stream, in window order; for a window
/// stored twice (a rollback and a rerun), the later one last.
fn in_window_order<'a>(setup: &Setup, chain: &'a [Manifest]) -> Vec<&'a Manifest> {
    let mut chain: Vec<&Manifest> = chain
        .iter()
        .filter(|m| (m.window as usize) < setup.stream.windows)
        .collect();
    chain.sort_by(|a, b| (a.window, &a.created_at).cmp(&(b.window, &b.created_at)));
    chain
}

/// A row per update window of `by_window` that has a prequential score.
fn window_rows(
    setup: &Setup,
    by_window: &BTreeMap<u64, &Manifest>,
    previous_concept: &BTreeMap<relearn_store::CheckpointId, f64>,
) -> Vec<WindowRow> {
    by_window
        .values()
        .filter(|m| !m.relation.is_root())
        .filter_map(|m| {
            let prequential = m.metrics.prequential.clone()?;
            let score = *prequential.get(setup.metric)?;
            Some(WindowRow {
                window: m.window,
                id: m.id.clone(),
                score,
                prequential,
                train_seconds: m.train_seconds,
                samples_trained: m.samples_trained,
                retained: m.retained.clone(),
                previous_concept: previous_concept.get(&m.id).copied(),
                period: crate::checkpoint::CheckpointExtra::of(m)
                    .ok()
                    .and_then(|e| e.period),
            })
        })
        .collect()
}

/// The scores of `windows`: their mean, the last, the worst and against the baseline.
fn score_summary(setup: &Setup, windows: &[WindowRow]) -> ScoreSummary {
    let scores: Vec<f64> = windows.iter().map(|w| w.score).collect();
    let worst = windows
        .iter()
        .map(|w| At {
            window: w.window,
            score: w.score,
        })
        .reduce(|a, b| {
            if worse(setup.higher_is_better, b.score, a.score) {
                b
            } else {
                a
            }
        });
    ScoreSummary {
        windows: windows.len(),
        mean: mean(&scores),
        r#final: windows.last().map(|w| At {
            window: w.window,
            score: w.score,
        }),
        worst,
        baseline: baseline_summary(setup, windows),
    }
}

/// Training seconds of the initial checkpoint and of the updates (`windows`).
fn train_seconds_summary(initial: Option<&InitialRow>, windows: &[WindowRow]) -> Seconds {
    let initial_seconds = initial.map_or(0.0, |i| i.train_seconds);
    let updates_total: f64 = windows.iter().map(|w| w.train_seconds).sum();
    Seconds {
        initial: initial_seconds,
        updates_total,
        per_update_mean: mean(&windows.iter().map(|w| w.train_seconds).collect::<Vec<_>>()),
        total: initial_seconds + updates_total,
    }
}

/// Samples trained on by the initial checkpoint and by the updates (`windows`).
fn samples_trained_summary(initial: Option<&InitialRow>, windows: &[WindowRow]) -> Samples {
    let initial_samples = initial.map_or(0, |i| i.samples_trained);
    let updates_samples: u64 = windows.iter().map(|w| w.samples_trained).sum();
    Samples {
        initial: initial_samples,
        updates_total: updates_samples,
        total: initial_samples + updates_samples,
    }
}
