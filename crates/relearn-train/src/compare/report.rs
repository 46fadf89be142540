//! The report's data: what `compare.json` holds, one type per part.

use std::collections::BTreeMap;

use relearn_store::Retained;
use serde::Serialize;

use super::{Better, Choice};
use relearn_spec::Policy;

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
    /// `window.label_delay`: each window scored by the model serving when its rows arrived,
    /// this many updates before the latest (absent when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub label_delay: usize,
    /// Declared drift points (sample indices); empty for CSV and `hyperplane`.
    pub drift_points: Vec<usize>,
    /// Windows by time: `window.every` (`1d`); then `window_size` is unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Windows by time: the samples of each window, by index (windows hold different
    /// numbers of samples, and pooled scores weigh each by its samples). Empty for row
    /// windows, which all hold `window_size`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub window_samples: Vec<usize>,
    /// Regression: the variance of the target over the initial windows, which sets what a
    /// point of mse is when the checkpoints record no baseline (see [`Setup::point`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_variance: Option<f64>,
    /// Regression: the no-skill baseline's mse pooled over the compared update windows (as
    /// the checkpoints record it), which sets what a point of mse is (see
    /// [`Setup::point`]); absent for classification and when no checkpoint records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_mse: Option<f64>,
    /// Samples after the last full window (a trailing partial window), which no policy
    /// trains on or is scored on: the stream's samples minus its full windows' samples.
    pub samples_unused_at_end: usize,
}

/// Whether a count is 0 (left out of `compare.json`).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl StreamSummary {
    /// The samples window `window` scores: `window_size`, or for windows by time its own.
    pub fn samples_of(&self, window: u64) -> f64 {
        match self.window_samples.get(window as usize) {
            Some(&n) => n as f64,
            None => self.window_size as f64,
        }
    }

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
    /// One point in the metric's units: 0.01 accuracy; for mse, 1 % of the no-skill
    /// baseline's mse pooled over the compared windows ([`StreamSummary::baseline_mse`]), so
    /// that a difference of one point of mse is a difference of 0.01 in pooled skill
    /// (`1 - sum of squared errors / the baseline's`) whatever the target's units and
    /// however calm the initial windows were. Without a recorded baseline (checkpoints made
    /// before relearn recorded it), 1 % of the target's variance over the initial windows;
    /// a zero or unknown scale falls back to 0.01.
    pub fn point(&self) -> f64 {
        if self.higher_is_better {
            return 0.01;
        }
        let usable = |v: &f64| v.is_finite() && *v > 0.0;
        match (
            self.stream.baseline_mse.filter(usable),
            self.stream.target_variance.filter(usable),
        ) {
            (Some(b), _) => b / 100.0,
            (None, Some(v)) => v / 100.0,
            (None, None) => 0.01,
        }
    }

    /// Whether a regression point is measured against the baseline's mse (pooled skill),
    /// rather than the initial windows' target variance (R^2).
    pub fn points_of_skill(&self) -> bool {
        !self.higher_is_better
            && self
                .stream
                .baseline_mse
                .is_some_and(|b| b.is_finite() && b > 0.0)
    }

    /// Multiplies a score difference into points, signed so that positive is better.
    pub fn points_scale(&self) -> f64 {
        (if self.higher_is_better { 1.0 } else { -1.0 }) / self.point()
    }

    /// A score as a loss per sample, lower is better: the error rate `1 - accuracy`, or the
    /// mse itself.
    pub fn loss(&self, score: f64) -> f64 {
        if self.higher_is_better {
            1.0 - score
        } else {
            score
        }
    }

    /// The no-skill forecast, in words.
    pub fn baseline_forecast(&self) -> &'static str {
        if self.higher_is_better {
            "the previous window's majority class"
        } else {
            "the previous window's mean target"
        }
    }

    /// How the numbers call a point: `points` (accuracy), `points of skill` (mse against
    /// the baseline's) or `points of R²` (mse against the initial target variance).
    pub fn unit(&self) -> &'static str {
        if self.higher_is_better {
            "points"
        } else if self.points_of_skill() {
            "points of skill"
        } else {
            "points of R²"
        }
    }

    /// The same, abbreviated for a table cell: `pts`, `pts skill`, `pts R²`.
    pub fn short_unit(&self) -> &'static str {
        if self.higher_is_better {
            "pts"
        } else if self.points_of_skill() {
            "pts skill"
        } else {
            "pts R²"
        }
    }

    /// What the task calls its loss in words: the errors a classifier makes, the squared
    /// error of a regression.
    pub fn loss_words(&self) -> &'static str {
        if self.higher_is_better {
            "errors"
        } else {
            "squared error"
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
    /// When it was measured.
    pub measured: Measured,
}

/// When a peak memory was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measured {
    /// By this invocation.
    Now,
    /// Copied from the `compare.json` already in the output folder, which described the
    /// same checkpoints, because this invocation trained nothing.
    Earlier,
}

/// The whole comparison: what `compare.json` holds but the recommendation (see
/// [`recommend`](super::recommend)).
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
    pub policies: Vec<Policy>,
    /// Per policy, keyed by its name.
    pub modes: Modes,
    /// Stateful against stateless, when both ran.
    pub comparison: Option<Comparison>,
    /// Every policy against the most accurate one, in the order given.
    pub ranking: Vec<Standing>,
    /// The policies that beat the no-skill baseline beyond the noise (see
    /// [`BaselineSummary`]); `null` when no checkpoint records a baseline.
    pub beat_baseline: Option<Vec<Policy>>,
}

impl Report {
    /// Whether the checkpoints record a baseline and no policy beats it beyond the noise:
    /// the models show no skill on this stream.
    pub fn no_policy_beats_baseline(&self) -> bool {
        self.beat_baseline.as_ref().is_some_and(|b| b.is_empty())
    }

    /// The no-skill baseline's score per window, as the checkpoints record it (the same for
    /// every policy: it depends on the window's data alone); empty when none records one.
    pub fn baseline_by_window(&self) -> BTreeMap<u64, f64> {
        let key = relearn_spec::Metric::Baseline.name();
        self.modes
            .0
            .iter()
            .flat_map(|m| &m.windows)
            .filter_map(|w| w.prequential.get(key).map(|&b| (w.window, b)))
            .collect()
    }

    /// Windows by time: the label of each window's period (`2026-12-01`), as the
    /// checkpoints record it; empty for windows of `window.size` rows.
    pub fn period_by_window(&self) -> BTreeMap<u64, String> {
        self.modes
            .0
            .iter()
            .flat_map(|m| &m.windows)
            .filter_map(|w| w.period.clone().map(|p| (w.window, p)))
            .collect()
    }

    /// Where the most accurate policy loses to the no-skill baseline: the windows where its
    /// loss (squared error, or misclassified samples) exceeds the baseline's, and those
    /// that carry most of that excess (see [`ExcessLoss`]). `None` when no policy scored a
    /// window or its windows record no baseline.
    pub fn excess_loss(&self) -> Option<ExcessLoss> {
        let best = self.modes.get(self.best()?.policy)?;
        super::stats::excess_loss(&self.setup, best)
    }

    /// The standing of the most accurate policy (by mean prequential score); `None` when
    /// no policy scored a window.
    pub fn best(&self) -> Option<&Standing> {
        self.ranking
            .iter()
            .find(|s| s.behind_best_points == Some(0.0) && s.mean.is_some())
    }
}

/// Where a policy's loss exceeds the no-skill baseline's, window by window: what the
/// no-skill message names instead of a generic hint.
#[derive(Debug, Clone, Serialize)]
pub struct ExcessLoss {
    /// The policy.
    pub policy: Policy,
    /// Windows scored against the baseline.
    pub windows_scored: usize,
    /// Windows where the policy's loss exceeds the baseline's.
    pub losing_windows: usize,
    /// The policy's loss minus the baseline's, summed over those windows' samples: squared
    /// error (regression) or misclassified samples (classification).
    pub total: f64,
    /// The windows carrying most of `total`, largest first: until they carry
    /// [`EXCESS_SHARE`](super::EXCESS_SHARE) of it, at most
    /// [`EXCESS_WINDOWS`](super::EXCESS_WINDOWS) of them.
    pub largest: Vec<WindowShare>,
}

impl ExcessLoss {
    /// The share of `total` the listed windows carry together (0 to 1).
    pub fn listed_share(&self) -> f64 {
        self.largest.iter().map(|w| w.share).sum()
    }
}

/// One window's part of an [`ExcessLoss`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WindowShare {
    /// The window.
    pub window: u64,
    /// The policy's loss minus the baseline's on it, summed over its samples.
    pub excess: f64,
    /// `excess` over the total excess (0 to 1).
    pub share: f64,
}

/// One policy against the most accurate one.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// The policy.
    pub policy: Policy,
    /// Its mean prequential score.
    pub mean: Option<f64>,
    /// Mean per-window difference to the best policy, in points (<= 0; 0 for the best).
    pub behind_best_points: Option<f64>,
    /// Standard error of that mean, in points.
    pub std_error_points: Option<f64>,
    /// Whether the difference is within the noise (too close to call with the best), with a
    /// mean score at most [`CLOSE_POINTS`](super::CLOSE_POINTS) worse than the best's.
    pub close_to_best: bool,
    /// Training seconds of all updates.
    pub train_seconds: f64,
    /// Past samples kept at the end.
    pub retained_samples: u64,
    /// The latest checkpoint's model size, bytes.
    pub model_bytes: Option<u64>,
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
    pub fn get(&self, mode: Policy) -> Option<&ModeReport> {
        self.0.iter().find(|m| m.mode == mode)
    }

    /// Whether exactly the two book modes were compared.
    pub fn is_book_pair(&self) -> bool {
        self.0.len() == 2 && Policy::BOOK.iter().all(|&m| self.get(m).is_some())
    }
}

impl Serialize for Modes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for m in &self.0 {
            map.serialize_entry(&m.mode, m)?;
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
    /// The policy.
    pub mode: Policy,
    /// The run's latest checkpoint compared.
    pub head: Option<relearn_store::CheckpointId>,
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
    /// The size of the latest checkpoint's model (its `model` part: MLP weights, or the
    /// trees' JSON), bytes; `null` without a checkpoint.
    pub model_bytes: Option<u64>,
    /// Rows of the compared windows (initial ones included) skipped because their target
    /// was missing, summed over the checkpoints' `samples_skipped`.
    pub samples_skipped: u64,
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
    pub id: relearn_store::CheckpointId,
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
    pub id: relearn_store::CheckpointId,
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
    /// Windows by time: the label of the window's period (`2026-12-01`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
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
    /// The no-skill baseline against this policy's windows: absent when no window records
    /// one (checkpoints made before relearn recorded it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
}

/// A policy's prequential score against the no-skill forecast on the same windows (the
/// previous window's majority class, or its mean target).
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    /// Windows that record a baseline.
    pub windows: usize,
    /// The baseline's mean score over them.
    pub mean: f64,
    /// The policy's mean skill over them (0: no better than the baseline; 1: perfect).
    pub skill: f64,
    /// The policy's pooled skill over them: 1 - its loss summed over the windows' samples
    /// (squared errors, or misclassified samples) / the baseline's. Unlike the mean of
    /// per-window skills, a calm window where the baseline is nearly perfect weighs by its
    /// errors, not as much as any other window.
    pub pooled_skill: f64,
    /// Mean per-window `score - baseline`, in points, positive when the policy does better
    /// (for regression, with points measured against the baseline's mse, this is 100 times
    /// the pooled skill).
    pub over_baseline_points: f64,
    /// Standard error of that mean, in points (`null` with fewer than 2 windows).
    pub std_error_points: Option<f64>,
    /// Whether the policy beats the baseline beyond the noise: by more than
    /// [`CLOSE_POINTS`](super::CLOSE_POINTS) and [`CLOSE_STD_ERRORS`](super::CLOSE_STD_ERRORS)
    /// standard errors.
    pub beats_baseline: bool,
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
    /// Which mode scored better by more than the noise, if either did.
    pub better: Better,
    /// Training seconds of stateless updates over those of stateful updates.
    pub cost_ratio: Option<f64>,
    /// The mode the numbers favour between these two (see [`recommend`](super::recommend)).
    pub recommended: Choice,
}
