//! The numbers of a comparison, computed from the runs' manifests (one run per policy):
//! per-window scores, totals, recovery after each declared drift point, the score of each
//! checkpoint on the previous concept (forgetting), and the recommendation.
//!
//! Everything here is a pure function of the manifests (as `relearn log --json` prints
//! them), the stream's declared drift points and the measured peak memory, so the JSON,
//! the table and the plot agree with the store by construction.

use std::collections::BTreeMap;

use relearn_data::Task;
use relearn_store::{CheckpointId, Manifest, Relation, Retained};
use relearn_train::Mode;
use serde::Serialize;

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

/// Version of the `compare.json` layout: 2 added `policies`, `ranking`, `recommended`,
/// `backward` and each window's `previous_concept`, and made `comparison` null unless both
/// book modes ran.
pub const VERSION: u32 = 2;

/// What the comparison is about: the config, the stream, the metric.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// The config's `run.name`.
    pub name: String,
    /// The config file, as given.
    pub config: String,
    /// The store folder.
    pub store: String,
    /// `classification` or `regression`.
    pub task: &'static str,
    /// `accuracy` or `mse`.
    pub metric: &'static str,
    /// Whether a larger score is better (accuracy) or a smaller one (mse).
    pub higher_is_better: bool,
    /// The stream.
    pub stream: StreamSummary,
}

/// The stream as compared.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    /// `generator:sea`, `csv:path`.
    pub source: String,
    /// Samples in the stream.
    pub samples: usize,
    /// Samples per window.
    pub window_size: usize,
    /// Windows in the initial training set.
    pub initial_windows: usize,
    /// Windows compared (`--windows N` or the whole stream).
    pub windows: usize,
    /// Declared drift points (sample indices); empty for CSV and `hyperplane`.
    pub drift_points: Vec<usize>,
    /// Regression: the variance of the target over the initial windows, which sets what a
    /// point of mse is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_variance: Option<f64>,
}

impl StreamSummary {
    /// The window holding each drift point's sample, for drift points the comparison can
    /// see (after the initial windows, before the end).
    pub fn drift_windows(&self) -> Vec<(usize, u64)> {
        self.drift_points
            .iter()
            .map(|&p| (p, (p / self.window_size) as u64))
            .filter(|&(_, w)| w as usize >= self.initial_windows && (w as usize) < self.windows)
            .collect()
    }
}

impl Setup {
    /// One point in the metric's units: 0.01 accuracy; for mse, 1 % of the target's
    /// variance over the initial windows (so a point of mse is 0.01 of R^2, explained
    /// variance, the same scale as an accuracy point). A constant target falls back to
    /// 0.01.
    pub fn point(&self) -> f64 {
        match self.stream.target_variance {
            Some(v) if !self.higher_is_better && v.is_finite() && v > 0.0 => v / 100.0,
            _ => 0.01,
        }
    }

    /// Multiplies a score difference into points, signed so that positive is better.
    pub fn points_scale(&self) -> f64 {
        (if self.higher_is_better { 1.0 } else { -1.0 }) / self.point()
    }

    /// How the numbers call a point: `points` or `points of R^2`.
    pub fn unit(&self) -> &'static str {
        if self.higher_is_better {
            "points"
        } else {
            "points of R²"
        }
    }
}

/// Peak memory of the child process that trained one mode.
#[derive(Debug, Clone, Serialize)]
pub struct PeakMemory {
    /// Peak resident set size (Linux `VmHWM`) in MiB.
    pub mib: f64,
    /// Resident set size when the process started work, before the run opened (MiB).
    pub start_mib: Option<f64>,
    /// Checkpoints the measured process trained (the rest were reused).
    pub windows_trained: usize,
    /// `now` (this invocation) or `earlier` (copied from the `compare.json` already in the
    /// output folder, which described the same checkpoints, because this invocation
    /// trained nothing).
    pub measured: &'static str,
}

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

/// The whole comparison, as written to `compare.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layout version.
    pub version: u32,
    /// Config, stream, metric.
    #[serde(flatten)]
    pub setup: Setup,
    /// The thresholds the totals and the recommendation use.
    pub definitions: Definitions,
    /// The policies compared, in the order given.
    pub policies: Vec<&'static str>,
    /// Per policy, keyed by its name.
    pub modes: Modes,
    /// Stateful against stateless, when both ran.
    pub comparison: Option<Comparison>,
    /// Every policy against the most accurate one, in the order given.
    pub ranking: Vec<Standing>,
    /// The policy the numbers favour (`either` when two book modes tie on everything).
    pub recommended: &'static str,
    /// The recommendation in plain words.
    pub recommendation: String,
}

/// One policy against the most accurate one.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// The policy.
    pub policy: &'static str,
    /// Its mean prequential score.
    pub mean: Option<f64>,
    /// Mean per-window difference to the best policy, in points (<= 0; 0 for the best).
    pub behind_best_points: Option<f64>,
    /// Standard error of that mean, in points.
    pub std_error_points: Option<f64>,
    /// Whether the difference is within the noise (too close to call with the best).
    pub close_to_best: bool,
    /// Training seconds of all updates.
    pub train_seconds: f64,
    /// Past samples kept at the end.
    pub retained_samples: u64,
}

/// The thresholds, spelled out in the JSON so a reader can check the words against them.
#[derive(Debug, Clone, Serialize)]
pub struct Definitions {
    /// What one point is.
    pub point: String,
    /// One point in the metric's units.
    pub point_value: f64,
    /// Windows before the drift window averaged into the pre-drift level.
    pub pre_drift_windows: usize,
    /// Tolerance of "recovered", in points.
    pub recovery_points: f64,
    /// Mean differences under this are too close to call, in points.
    pub close_points: f64,
    /// ... as are differences within this many standard errors.
    pub close_std_errors: f64,
}

/// Every policy's report, in the order compared; serialised as an object keyed by policy.
#[derive(Debug, Clone)]
pub struct Modes(pub Vec<ModeReport>);

impl Modes {
    /// The report of policy `mode`, if it was compared.
    pub fn get(&self, mode: Mode) -> Option<&ModeReport> {
        self.0.iter().find(|m| m.mode == mode.name())
    }

    /// Whether exactly the two book modes were compared.
    pub fn is_book_pair(&self) -> bool {
        self.0.len() == 2 && Mode::BOOK.iter().all(|&m| self.get(m).is_some())
    }
}

impl Serialize for Modes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for m in &self.0 {
            map.serialize_entry(m.mode, m)?;
        }
        map.end()
    }
}

/// How well a policy's checkpoints still do on the concept before the current one (for
/// streams that declare drift points): the forgetting side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Backward {
    /// Checkpoints scored on their previous concept.
    pub checkpoints: usize,
    /// Their mean score there.
    pub score: f64,
    /// The policy's own mean prequential score over those previous-concept windows, back
    /// when they were current.
    pub then: f64,
    /// `score - then` in points, signed so that negative means forgotten (backward
    /// transfer).
    pub transfer_points: f64,
}

/// One mode's run.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// Run name in the store.
    pub run: String,
    /// `stateless` or `stateful`.
    pub mode: &'static str,
    /// The run's latest checkpoint compared.
    pub head: Option<CheckpointId>,
    /// The initial model.
    pub initial: Option<InitialRow>,
    /// One row per update window, in window order.
    pub windows: Vec<WindowRow>,
    /// Prequential score totals.
    pub score: ScoreSummary,
    /// Recovery after each declared drift point the comparison can see.
    pub recovery: Vec<Recovery>,
    /// Scores on the previous concept (null when the stream declares no drift points).
    pub backward: Option<Backward>,
    /// Training time.
    pub train_seconds: Seconds,
    /// Distinct samples in the training sets.
    pub samples_trained: Samples,
    /// Past data the run keeps after its last update.
    pub retained_at_end: Retained,
    /// Peak memory of the process that trained it; `null` when not measured.
    pub peak_memory: Option<PeakMemory>,
    /// Checkpoints trained by this invocation.
    pub trained_now: usize,
    /// Checkpoints reused from the store.
    pub reused: usize,
    /// Wall time of this invocation for this mode (training, scoring, storing), seconds.
    pub wall_seconds: f64,
}

/// The initial model of a run.
#[derive(Debug, Clone, Serialize)]
pub struct InitialRow {
    /// Checkpoint id.
    pub id: CheckpointId,
    /// Its window (the last initial window).
    pub window: u64,
    /// Training time, seconds.
    pub train_seconds: f64,
    /// Samples trained.
    pub samples_trained: u64,
}

/// One update checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRow {
    /// The window it trained on, which its prequential score was measured on.
    pub window: u64,
    /// Checkpoint id.
    pub id: CheckpointId,
    /// The prequential score (`accuracy` or `mse`).
    pub score: f64,
    /// Every prequential metric, as stored.
    pub prequential: BTreeMap<String, f64>,
    /// Training time of the update, seconds.
    pub train_seconds: f64,
    /// Distinct samples in the update's training set.
    pub samples_trained: u64,
    /// Past data kept after the update.
    pub retained: Retained,
    /// The checkpoint's score on the previous concept's windows (see [`Backward`]).
    pub previous_concept: Option<f64>,
}

/// A score at a window.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct At {
    /// The window.
    pub window: u64,
    /// The score there.
    pub score: f64,
}

/// Prequential totals of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    /// Windows scored.
    pub windows: usize,
    /// Mean over the update windows.
    pub mean: Option<f64>,
    /// The last window's score.
    pub r#final: Option<At>,
    /// The worst window (lowest accuracy, highest mse).
    pub worst: Option<At>,
}

/// How one mode came back after a declared drift point.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// The drift point, a sample index.
    pub drift_point: usize,
    /// The window holding it.
    pub drift_window: u64,
    /// Mean score of the (up to) 3 update windows before the drift window; `null` when
    /// there are none.
    pub pre_drift_level: Option<f64>,
    /// The worst score from the drift window until recovery (or the next drift / the end).
    pub lowest: Option<At>,
    /// Windows from the drift window until the score is back within the tolerance: 0 when
    /// neither the drift window nor the next one fell out of it; `null` when it did not
    /// come back before the next drift window or the end of the stream.
    pub windows_to_recover: Option<u64>,
    /// The window where it was back.
    pub recovered_at: Option<u64>,
}

/// Training time of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Seconds {
    /// The initial model.
    pub initial: f64,
    /// All updates.
    pub updates_total: f64,
    /// Mean per update.
    pub per_update_mean: Option<f64>,
    /// Initial model and updates.
    pub total: f64,
}

/// Samples trained by one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Samples {
    /// The initial model.
    pub initial: u64,
    /// All updates (a sample in several training sets counts each time).
    pub updates_total: u64,
    /// Initial model and updates.
    pub total: u64,
}

/// Stateful against stateless.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Windows scored by both modes.
    pub paired_windows: usize,
    /// Mean of `stateful - stateless` per window, in the metric's units.
    pub mean_difference: Option<f64>,
    /// The same in points, signed so that positive means stateful did better.
    pub advantage_points: Option<f64>,
    /// Standard error of that mean (points), from the per-window differences.
    pub std_error_points: Option<f64>,
    /// `stateful`, `stateless`, or `too close to call`.
    pub better: &'static str,
    /// Training seconds of stateless updates over those of stateful updates.
    pub cost_ratio: Option<f64>,
    /// The mode the numbers favour: `stateful`, `stateless` or `either`.
    pub recommended: &'static str,
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
    pub mode: Mode,
    /// Its checkpoints (`store.run_chain`), any order.
    pub chain: &'a [Manifest],
    /// What this invocation did for it.
    pub now: Invocation,
    /// Each checkpoint's score on the previous concept's windows, by checkpoint id.
    pub previous_concept: BTreeMap<CheckpointId, f64>,
}

/// The headline prequential metric of a task.
pub fn metric_of(task: Task) -> (&'static str, bool) {
    match task {
        Task::Classification => ("accuracy", true),
        Task::Regression => ("mse", false),
    }
}

/// Builds the report.
pub fn build(inputs: Inputs<'_>) -> Report {
    let setup = inputs.setup;
    let policies: Vec<&'static str> = inputs.runs.iter().map(|r| r.mode.name()).collect();
    let modes = Modes(
        inputs
            .runs
            .into_iter()
            .map(|r| mode_report(r.mode, &setup, r.chain, r.now, &r.previous_concept))
            .collect(),
    );
    let comparison = match (modes.get(Mode::Stateless), modes.get(Mode::Stateful)) {
        (Some(stateless), Some(stateful)) => Some(compare(&setup, stateless, stateful)),
        _ => None,
    };
    let ranking = rank(&setup, &modes);
    let mut report = Report {
        version: VERSION,
        definitions: Definitions {
            point: if setup.higher_is_better {
                "0.01 accuracy (one percentage point)".to_string()
            } else {
                format!(
                    "{} mse: 1 % of the variance of the target over the initial windows ({}), so a point of mse is 0.01 of R²",
                    format_sig(setup.point(), 4),
                    format_sig(setup.stream.target_variance.unwrap_or(f64::NAN), 4)
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
        recommended: "",
        recommendation: String::new(),
    };
    if report.modes.is_book_pair() {
        let c = report.comparison.as_ref().expect("both book modes ran");
        report.recommended = c.recommended;
        report.recommendation = recommend(&report);
    } else {
        (report.recommended, report.recommendation) = recommend_many(&report);
    }
    if let Some(forgetting) = backward_sentence(&report) {
        report.recommendation.push(' ');
        report.recommendation.push_str(&forgetting);
    }
    report
}

fn mode_report(
    mode: Mode,
    setup: &Setup,
    chain: &[Manifest],
    now: Invocation,
    previous_concept: &BTreeMap<CheckpointId, f64>,
) -> ModeReport {
    let mut chain: Vec<&Manifest> = chain
        .iter()
        .filter(|m| (m.window as usize) < setup.stream.windows)
        .collect();
    // Window order; for a window stored twice (a rollback and a rerun), the later one.
    chain.sort_by(|a, b| (a.window, &a.created_at).cmp(&(b.window, &b.created_at)));
    let mut by_window: BTreeMap<u64, &Manifest> = BTreeMap::new();
    for m in &chain {
        by_window.insert(m.window, m);
    }
    let initial = chain
        .iter()
        .rev()
        .find(|m| m.relation == Relation::Initial)
        .map(|m| InitialRow {
            id: m.id.clone(),
            window: m.window,
            train_seconds: m.train_seconds,
            samples_trained: m.samples_trained,
        });
    let windows: Vec<WindowRow> = by_window
        .values()
        .filter(|m| m.relation != Relation::Initial)
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
            })
        })
        .collect();
    let head = by_window.values().next_back().map(|m| m.id.clone());
    let retained_at_end = by_window
        .values()
        .next_back()
        .map(|m| m.retained.clone())
        .unwrap_or_default();

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
    let score = ScoreSummary {
        windows: windows.len(),
        mean: mean(&scores),
        r#final: windows.last().map(|w| At {
            window: w.window,
            score: w.score,
        }),
        worst,
    };
    let recovery = recoveries(setup, &windows);
    let backward = backward(setup, &windows);

    let initial_seconds = initial.as_ref().map_or(0.0, |i| i.train_seconds);
    let updates_total: f64 = windows.iter().map(|w| w.train_seconds).sum();
    let train_seconds = Seconds {
        initial: initial_seconds,
        updates_total,
        per_update_mean: mean(&windows.iter().map(|w| w.train_seconds).collect::<Vec<_>>()),
        total: initial_seconds + updates_total,
    };
    let initial_samples = initial.as_ref().map_or(0, |i| i.samples_trained);
    let updates_samples: u64 = windows.iter().map(|w| w.samples_trained).sum();
    let samples_trained = Samples {
        initial: initial_samples,
        updates_total: updates_samples,
        total: initial_samples + updates_samples,
    };
    let stored = by_window.len();
    ModeReport {
        run: run_name(&setup.name, mode),
        mode: mode.name(),
        head,
        initial,
        windows,
        score,
        recovery,
        backward,
        train_seconds,
        samples_trained,
        retained_at_end,
        peak_memory: now.peak_memory,
        trained_now: now.trained_now.min(stored),
        reused: stored.saturating_sub(now.trained_now),
        wall_seconds: now.wall_seconds,
    }
}

/// The concept (0 before the first declared drift point) of each window, and each concept's
/// windows wholly between its drift points: `(concept_of(window), windows_of(concept))`.
/// A window holding a drift point belongs to the new concept but to neither's "whole"
/// windows.
pub fn concepts(stream: &StreamSummary) -> (Vec<usize>, Vec<std::ops::Range<u64>>) {
    let ws = stream.window_size;
    let concept_of: Vec<usize> = (0..stream.windows)
        .map(|w| stream.drift_points.iter().filter(|&&p| p / ws <= w).count())
        .collect();
    let mut bounds = vec![0usize];
    bounds.extend(stream.drift_points.iter().copied());
    bounds.push(stream.windows * ws);
    let whole = bounds
        .windows(2)
        .map(|b| (b[0].div_ceil(ws) as u64)..((b[1] / ws) as u64).min(stream.windows as u64))
        .collect();
    (concept_of, whole)
}

/// The forgetting summary from each row's previous-concept score.
fn backward(setup: &Setup, windows: &[WindowRow]) -> Option<Backward> {
    if setup.stream.drift_points.is_empty() {
        return None;
    }
    let (concept_of, whole) = concepts(&setup.stream);
    let score_at: BTreeMap<u64, f64> = windows.iter().map(|w| (w.window, w.score)).collect();
    let (mut now, mut then) = (Vec::new(), Vec::new());
    for w in windows {
        let Some(score) = w.previous_concept else {
            continue;
        };
        let concept = concept_of[w.window as usize];
        let past: Vec<f64> = whole[concept - 1]
            .clone()
            .filter_map(|v| score_at.get(&v).copied())
            .collect();
        let Some(level) = mean(&past) else {
            continue;
        };
        now.push(score);
        then.push(level);
    }
    let (score, then_mean) = (mean(&now)?, mean(&then)?);
    let sign = if setup.higher_is_better { 1.0 } else { -1.0 };
    Some(Backward {
        checkpoints: now.len(),
        score,
        then: then_mean,
        transfer_points: sign * (score - then_mean) / setup.point(),
    })
}

/// Every policy against the most accurate (by mean prequential score).
fn rank(setup: &Setup, modes: &Modes) -> Vec<Standing> {
    let hib = setup.higher_is_better;
    let best = modes
        .0
        .iter()
        .filter_map(|m| Some((m, m.score.mean?)))
        .reduce(|a, b| if worse(hib, a.1, b.1) { b } else { a })
        .map(|(m, _)| m);
    let scale = setup.points_scale();
    modes
        .0
        .iter()
        .map(|m| {
            let (behind, se) = match best {
                Some(best) => {
                    let points: Vec<f64> = paired_differences(m, best)
                        .iter()
                        .map(|d| d * scale)
                        .collect();
                    (mean(&points), std_error(&points))
                }
                None => (None, None),
            };
            let close = match (behind, se) {
                (Some(d), se) => {
                    d.abs() < CLOSE_POINTS || se.is_some_and(|se| d.abs() < CLOSE_STD_ERRORS * se)
                }
                (None, _) => false,
            };
            Standing {
                policy: m.mode,
                mean: m.score.mean,
                behind_best_points: behind,
                std_error_points: se,
                close_to_best: close,
                train_seconds: m.train_seconds.updates_total,
                retained_samples: m.retained_at_end.samples,
            }
        })
        .collect()
}

/// The recommendation for any set of policies but the book pair: among the policies too
/// close to call with the most accurate one, the clearly cheapest in training time, else
/// the one keeping the least past data, else the most accurate.
fn recommend_many(r: &Report) -> (&'static str, String) {
    let metric = r.setup.metric;
    let unit = r.setup.unit();
    let contenders: Vec<&Standing> = r.ranking.iter().filter(|s| s.close_to_best).collect();
    let Some(best) = r
        .ranking
        .iter()
        .find(|s| s.behind_best_points == Some(0.0) && s.mean.is_some())
    else {
        return (
            "either",
            "Not enough windows scored to compare the policies.".to_string(),
        );
    };
    let cheapest = contenders
        .iter()
        .min_by(|a, b| a.train_seconds.total_cmp(&b.train_seconds))
        .copied()
        .unwrap_or(best);
    let (chosen, why) = if cheapest.policy != best.policy
        && best.train_seconds > COST_SIMILAR * cheapest.train_seconds
    {
        (
            cheapest,
            format!(
                "it is within the noise of {} on {metric} and trained in {} of its time",
                best.policy,
                fraction(best.train_seconds / cheapest.train_seconds.max(1e-9))
            ),
        )
    } else {
        let leanest = contenders
            .iter()
            .filter(|s| s.train_seconds <= COST_SIMILAR * best.train_seconds)
            .min_by_key(|s| s.retained_samples)
            .copied()
            .unwrap_or(best);
        if leanest.policy != best.policy && leanest.retained_samples < best.retained_samples {
            (
                leanest,
                format!(
                    "it is within the noise of {} on {metric}, costs about as much, and keeps less past data",
                    best.policy
                ),
            )
        } else {
            (best, format!("it had the best mean {metric}"))
        }
    };
    let per_policy: Vec<String> = r
        .ranking
        .iter()
        .map(|s| {
            let m = r
                .modes
                .0
                .iter()
                .find(|m| m.mode == s.policy)
                .expect("ranked policies ran");
            let behind = match (s.behind_best_points, s.std_error_points) {
                (Some(d), _) if s.policy == best.policy && d == 0.0 => "best".to_string(),
                (Some(d), Some(se)) => format!("{d:+.2} ± {:.2} {unit}", CLOSE_STD_ERRORS * se),
                (Some(d), None) => format!("{d:+.2} {unit}"),
                (None, _) => "not scored".to_string(),
            };
            format!(
                "{} {} ({behind}; {:.2} s training; {})",
                s.policy,
                s.mean.map_or("-".into(), |v| fmt_score(&r.setup, v)),
                s.train_seconds,
                data_kept(&m.retained_at_end)
            )
        })
        .collect();
    (
        chosen.policy,
        format!(
            "Use {}: {why}. Mean {metric} per policy: {}.",
            chosen.policy,
            per_policy.join("; ")
        ),
    )
}

/// How each policy scores on the concept before the current one, when the stream declares
/// drift points.
fn backward_sentence(r: &Report) -> Option<String> {
    let parts: Vec<String> = r
        .modes
        .0
        .iter()
        .filter_map(|m| {
            let b = m.backward.as_ref()?;
            Some(format!(
                "{} {} ({:+.1} {} against its own score back then)",
                m.mode,
                fmt_score(&r.setup, b.score),
                b.transfer_points,
                r.setup.unit()
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Forgetting: after a drift, the checkpoints scored on the previous concept's windows: {}.",
            parts.join("; ")
        )
    })
}

/// The store's run name of a mode: `NAME-stateless`, `NAME-stateful`.
pub fn run_name(name: &str, mode: Mode) -> String {
    format!("{name}-{}", mode.name())
}

/// Whether score `a` is worse than `b`.
fn worse(higher_is_better: bool, a: f64, b: f64) -> bool {
    if higher_is_better { a < b } else { a > b }
}

/// Whether `score` is within the recovery tolerance of `level`: at most 2 points worse
/// (`point`: the metric's units per point, see [`Setup::point`]).
pub fn within_tolerance(higher_is_better: bool, point: f64, score: f64, level: f64) -> bool {
    if higher_is_better {
        score >= level - RECOVERY_POINTS * point
    } else {
        score <= level + RECOVERY_POINTS * point
    }
}

fn recoveries(setup: &Setup, windows: &[WindowRow]) -> Vec<Recovery> {
    let score_at: BTreeMap<u64, f64> = windows.iter().map(|w| (w.window, w.score)).collect();
    let drifts = setup.stream.drift_windows();
    let end = setup.stream.windows as u64;
    let hib = setup.higher_is_better;
    let point = setup.point();
    drifts
        .iter()
        .enumerate()
        .map(|(i, &(drift_point, w))| {
            let pre: Vec<f64> = (w.saturating_sub(PRE_DRIFT_WINDOWS as u64)..w)
                .filter_map(|v| score_at.get(&v).copied())
                .collect();
            let pre_drift_level = mean(&pre);
            // Until the next drift window (a later drift is its own event) or the end.
            let horizon = drifts.get(i + 1).map_or(end, |&(_, next)| next.max(w + 1));
            let mut recovery = Recovery {
                drift_point,
                drift_window: w,
                pre_drift_level,
                lowest: None,
                windows_to_recover: None,
                recovered_at: None,
            };
            let Some(level) = pre_drift_level else {
                return recovery;
            };
            let ok = |v: u64| {
                score_at
                    .get(&v)
                    .map(|&s| within_tolerance(hib, point, s, level))
            };
            // The drop shows in the drift window, or in the next one when the drift point
            // falls late in its window (the model then trained on mostly old data).
            let dip = (w..(w + 2).min(horizon)).find(|&v| ok(v) == Some(false));
            let back = match dip {
                None => (w..horizon).find(|&v| ok(v) == Some(true)),
                Some(d) => (d + 1..horizon).find(|&v| ok(v) == Some(true)),
            };
            let until = back.unwrap_or(horizon.saturating_sub(1));
            recovery.lowest = (w..=until)
                .filter_map(|v| {
                    score_at.get(&v).map(|&s| At {
                        window: v,
                        score: s,
                    })
                })
                .reduce(|a, b| if worse(hib, b.score, a.score) { b } else { a });
            recovery.recovered_at = back;
            recovery.windows_to_recover = back.map(|b| if dip.is_none() { 0 } else { b - w });
            recovery
        })
        .collect()
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Standard error of the mean of `xs` (sample standard deviation over `sqrt(n)`).
fn std_error(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let m = mean(xs)?;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((var / n as f64).sqrt())
}

/// `a`'s score minus `b`'s on each window both scored, in `a`'s window order.
fn paired_differences(a: &ModeReport, b: &ModeReport) -> Vec<f64> {
    let theirs: BTreeMap<u64, f64> = b.windows.iter().map(|w| (w.window, w.score)).collect();
    a.windows
        .iter()
        .filter_map(|w| theirs.get(&w.window).map(|s| w.score - s))
        .collect()
}

fn compare(setup: &Setup, stateless: &ModeReport, stateful: &ModeReport) -> Comparison {
    let diffs = paired_differences(stateful, stateless);
    // In points, signed so that positive favours stateful.
    let scale = setup.points_scale();
    let points: Vec<f64> = diffs.iter().map(|d| d * scale).collect();
    let advantage_points = mean(&points);
    let std_error_points = std_error(&points);
    let better = match (advantage_points, std_error_points) {
        (Some(d), Some(se)) if d.abs() >= CLOSE_POINTS && d.abs() >= CLOSE_STD_ERRORS * se => {
            if d > 0.0 { "stateful" } else { "stateless" }
        }
        _ => "too close to call",
    };
    let cost_ratio = match (
        stateless.train_seconds.updates_total,
        stateful.train_seconds.updates_total,
    ) {
        (a, b) if b > 0.0 && !stateless.windows.is_empty() => Some(a / b),
        _ => None,
    };
    let mut c = Comparison {
        paired_windows: diffs.len(),
        mean_difference: mean(&diffs),
        advantage_points,
        std_error_points,
        better,
        cost_ratio,
        recommended: "",
    };
    c.recommended = recommended(&c, stateless, stateful);
    c
}

/// The mode the numbers favour: the one that scores better by more than the noise and
/// the practical margin, else the cheaper one (time, then data kept), else `either`.
fn recommended(c: &Comparison, stateless: &ModeReport, stateful: &ModeReport) -> &'static str {
    let d = c.advantage_points.unwrap_or(0.0);
    let cheaper = cheaper(c.cost_ratio);
    match c.better {
        "stateful" => "stateful",
        "stateless" if d > -MATCH_POINTS && cheaper == Some(Mode::Stateful) => "stateful",
        "stateless" => "stateless",
        _ => match cheaper {
            Some(m) => m.name(),
            None => match stateless
                .retained_at_end
                .samples
                .cmp(&stateful.retained_at_end.samples)
            {
                std::cmp::Ordering::Greater => "stateful",
                std::cmp::Ordering::Less => "stateless",
                std::cmp::Ordering::Equal => "either",
            },
        },
    }
}

/// The clearly cheaper mode by training time, if either is.
fn cheaper(cost_ratio: Option<f64>) -> Option<Mode> {
    match cost_ratio {
        Some(r) if r > COST_SIMILAR => Some(Mode::Stateful),
        Some(r) if r < 1.0 / COST_SIMILAR => Some(Mode::Stateless),
        _ => None,
    }
}

/// `1/6` for a ratio of 6.2, `62 %` for 1.6: how much of the other's cost a mode needs.
pub fn fraction(ratio: f64) -> String {
    if ratio >= 2.0 {
        format!("1/{:.0}", ratio)
    } else {
        format!("{:.0} %", 100.0 / ratio)
    }
}

/// `4,000 samples (62.5 KiB)`.
fn data_kept(r: &Retained) -> String {
    if r.samples == 0 {
        "no past data".to_string()
    } else {
        format!(
            "{} past samples ({})",
            thousands(r.samples),
            crate::render::bytes(r.bytes)
        )
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A score as printed: accuracy with 4 decimals, mse with 4 significant digits.
pub fn fmt_score(setup: &Setup, score: f64) -> String {
    if setup.higher_is_better {
        format!("{score:.4}")
    } else {
        format_sig(score, 4)
    }
}

/// `x` with `digits` significant digits (no exponent for ordinary magnitudes).
pub fn format_sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).clamp(0, 12) as usize;
    format!("{x:.decimals$}")
}

/// The recommendation: which mode and why, from the numbers, with the caveats the numbers
/// call for.
fn recommend(r: &Report) -> String {
    let (Some(sl), Some(sf), Some(c)) = (
        r.modes.get(Mode::Stateless),
        r.modes.get(Mode::Stateful),
        r.comparison.as_ref(),
    ) else {
        return String::new();
    };
    let metric = r.setup.metric;
    let unit = r.setup.unit();
    let (Some(d), Some(m_sl), Some(m_sf)) = (c.advantage_points, sl.score.mean, sf.score.mean)
    else {
        return "Not enough windows scored by both modes to compare them.".to_string();
    };
    let means = format!(
        "mean {metric} {} stateful vs {} stateless",
        fmt_score(&r.setup, m_sf),
        fmt_score(&r.setup, m_sl)
    );
    let noise = match c.std_error_points {
        Some(se) => format!(
            "± {:.2} at 2 standard errors over {} windows",
            CLOSE_STD_ERRORS * se,
            c.paired_windows
        ),
        None => format!("{} window only, no error estimate", c.paired_windows),
    };
    let cost = match c.cost_ratio {
        Some(k) if k >= 1.0 => format!(
            "stateful trained in {} of the time stateless took",
            fraction(k)
        ),
        Some(k) => format!(
            "stateless trained in {} of the time stateful took",
            fraction(1.0 / k)
        ),
        None => "training time could not be compared".to_string(),
    };
    let data = format!(
        "stateful kept {}, stateless {}",
        data_kept(&sf.retained_at_end),
        data_kept(&sl.retained_at_end)
    );
    let mut text = match (c.better, c.recommended) {
        ("too close to call", rec) => {
            let lead = format!(
                "Too close to call on {metric}: {means}, a difference of {d:+.2} {unit} ({noise}; + favours stateful)."
            );
            let why = match rec {
                "stateful" | "stateless" if cheaper(c.cost_ratio).is_some() => {
                    format!(" With {metric} a draw, the cost decides: {cost}; {data}. Use {rec}.")
                }
                "stateful" | "stateless" => {
                    format!(
                        " Training time is similar too ({cost}); {data}. Use {rec}, which keeps less data."
                    )
                }
                _ => format!(
                    " Cost and data kept are similar too ({cost}; {data}): either mode will do."
                ),
            };
            lead + &why
        }
        ("stateful", _) => format!(
            "Use stateful: it did {d:.2} {unit} better on average ({means}; {noise}); {cost}; {data}."
        ),
        ("stateless", "stateful") => format!(
            "Use stateful, unless {:.2} {unit} of {metric} are worth more to you than the cost: it matched stateless \
             within {MATCH_POINTS:.0} point ({means}; {noise}), and {cost}; {data}.",
            -d
        ),
        _ => format!(
            "Use stateless: it did {:.2} {unit} better on average ({means}; {noise}), at a cost: {cost}; {data}.",
            -d
        ),
    };
    if let Some(recovery) = recovery_sentence(r) {
        text.push(' ');
        text.push_str(&recovery);
    }
    text
}

/// After drifts: how many drifts each mode recovered from, and how fast.
fn recovery_sentence(r: &Report) -> Option<String> {
    let describe = |m: &ModeReport| {
        let known: Vec<&Recovery> = m
            .recovery
            .iter()
            .filter(|x| x.pre_drift_level.is_some())
            .collect();
        let back: Vec<f64> = known
            .iter()
            .filter_map(|x| x.windows_to_recover)
            .map(|w| w as f64)
            .collect();
        let s = match mean(&back) {
            None => format!("{} did not, before the next drift or the end", m.mode),
            Some(w) if back.len() == known.len() => {
                format!("{} after {w:.1} windows on average", m.mode)
            }
            Some(w) => format!(
                "{} after {w:.1} windows on average for {} of them, not at all (before the next drift or the end) for {}",
                m.mode,
                back.len(),
                known.len() - back.len()
            ),
        };
        (s, known.len())
    };
    let (a, n) = describe(r.modes.get(Mode::Stateful)?);
    let (b, _) = describe(r.modes.get(Mode::Stateless)?);
    let drifts = if n == 1 {
        "the declared drift point".to_string()
    } else {
        format!("the {n} declared drift points")
    };
    (n > 0).then(|| {
        format!(
            "After {drifts}, the score was back within {RECOVERY_POINTS:.0} {} of its pre-drift level: {a}; {b}.",
            r.setup.unit()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(higher_is_better: bool, drift_points: Vec<usize>) -> Setup {
        Setup {
            name: "t".into(),
            config: "t.toml".into(),
            store: "s".into(),
            task: if higher_is_better {
                "classification"
            } else {
                "regression"
            },
            metric: if higher_is_better { "accuracy" } else { "mse" },
            higher_is_better,
            stream: StreamSummary {
                source: "generator:sea".into(),
                samples: 2000,
                window_size: 100,
                initial_windows: 1,
                windows: 20,
                drift_points,
                target_variance: None,
            },
        }
    }

    fn rows(scores: &[(u64, f64)]) -> Vec<WindowRow> {
        scores
            .iter()
            .map(|&(w, s)| WindowRow {
                window: w,
                id: CheckpointId::parse(&format!("{w:064x}")).unwrap(),
                score: s,
                prequential: BTreeMap::new(),
                train_seconds: 0.1,
                samples_trained: 100,
                retained: Retained::default(),
                previous_concept: None,
            })
            .collect()
    }

    #[test]
    fn concepts_are_the_windows_wholly_between_drift_points() {
        let mut s = setup(true, vec![1000, 1450]);
        s.stream.windows = 20;
        let (concept_of, whole) = concepts(&s.stream);
        assert_eq!(&concept_of[8..16], &[0, 0, 1, 1, 1, 1, 2, 2]);
        // Window 14 holds sample 1450: it belongs to neither concept's whole windows.
        assert_eq!(whole, vec![0..10, 10..14, 15..20]);
    }

    #[test]
    fn backward_compares_the_previous_concept_now_and_then() {
        let s = setup(true, vec![1000]);
        let mut w = rows(&[(8, 0.9), (9, 0.8), (10, 0.5), (11, 0.7)]);
        w[2].previous_concept = Some(0.75);
        w[3].previous_concept = Some(0.65);
        // Then: windows 1..10 of concept 0 scored 0.9 and 0.8 (mean 0.85); now 0.70.
        let b = backward(&s, &w).unwrap();
        assert_eq!(b.checkpoints, 2);
        assert!((b.score - 0.70).abs() < 1e-12);
        assert!((b.then - 0.85).abs() < 1e-12);
        assert!((b.transfer_points + 15.0).abs() < 1e-9);
    }

    #[test]
    fn recovery_counts_windows_from_the_drift_window() {
        let s = setup(true, vec![1000]);
        // Pre-drift level 0.9 (windows 7, 8, 9); drop at 10, back within 0.02 at 12.
        let w = rows(&[
            (7, 0.9),
            (8, 0.9),
            (9, 0.9),
            (10, 0.6),
            (11, 0.85),
            (12, 0.885),
            (13, 0.9),
        ]);
        let r = &recoveries(&s, &w)[0];
        assert_eq!(r.drift_window, 10);
        assert!((r.pre_drift_level.unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(r.windows_to_recover, Some(2));
        assert_eq!(r.recovered_at, Some(12));
        assert_eq!(r.lowest.unwrap().window, 10);
    }

    #[test]
    fn no_dip_is_zero_and_no_return_is_none() {
        let s = setup(true, vec![1000]);
        let w = rows(&[(7, 0.9), (8, 0.9), (9, 0.9), (10, 0.89), (11, 0.95)]);
        assert_eq!(recoveries(&s, &w)[0].windows_to_recover, Some(0));
        let w = rows(&[
            (7, 0.9),
            (8, 0.9),
            (9, 0.9),
            (10, 0.5),
            (11, 0.6),
            (12, 0.7),
        ]);
        let r = &recoveries(&s, &w)[0];
        assert_eq!(r.windows_to_recover, None);
        assert_eq!(r.lowest.unwrap().score, 0.5);
    }

    #[test]
    fn late_drift_dips_in_the_next_window() {
        let s = setup(true, vec![1090]);
        let w = rows(&[
            (7, 0.9),
            (8, 0.9),
            (9, 0.9),
            (10, 0.9),
            (11, 0.6),
            (12, 0.9),
        ]);
        assert_eq!(recoveries(&s, &w)[0].windows_to_recover, Some(2));
    }

    #[test]
    fn regression_tolerance_is_relative() {
        // mse: 2 points of 0.5 (a target variance of 50) is 1.0 above the level.
        assert!(within_tolerance(false, 0.5, 10.9, 10.0));
        assert!(!within_tolerance(false, 0.5, 11.1, 10.0));
        assert!(within_tolerance(true, 0.01, 0.881, 0.9));
        assert!(!within_tolerance(true, 0.01, 0.879, 0.9));
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(fraction(6.2), "1/6");
        assert_eq!(fraction(1.6), "62 %");
        assert_eq!(format_sig(12.3456, 4), "12.35");
        assert_eq!(format_sig(0.0123456, 4), "0.01235");
    }
}
