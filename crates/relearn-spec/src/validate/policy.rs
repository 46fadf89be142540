//! `[policy.replay]`, `[policy.drift]` (the settings of the replay and drift policies) and
//! `[gate]` (the promotion gate).

use relearn_data::Task;

use super::Context;
use crate::defaults;
use crate::error::ConfigError;
use crate::gate::Gate;
use crate::raw::{RawDrift, RawGate, RawReplay};
use crate::spec::{DetectorSpec, DriftSpec, ReplaySpec};
use crate::vocab::DetectorKind;

impl RawReplay {
    /// Checks the reservoir, whose capacity defaults to half a window of `window_size`.
    pub(crate) fn check(self, cx: &Context, window_size: usize) -> Result<ReplaySpec, ConfigError> {
        Ok(ReplaySpec {
            samples: cx.positive(
                "policy.replay.samples",
                self.samples,
                defaults::replay_samples(window_size),
            )?,
            sampling: cx
                .word("policy.replay.sampling", self.sampling.as_deref())?
                .unwrap_or(defaults::REPLAY_SAMPLING),
        })
    }
}

impl RawDrift {
    /// Checks the detector, whose threshold's default depends on the `task`'s losses, and
    /// the windows a reset retrains on.
    pub(crate) fn check(self, cx: &Context, task: Task) -> Result<DriftSpec, ConfigError> {
        let kind = cx
            .word("policy.drift.detector", self.detector.as_deref())?
            .unwrap_or(DetectorKind::PageHinkley);
        let detector = match kind {
            DetectorKind::PageHinkley => self.page_hinkley(cx, task)?,
            DetectorKind::Adwin => self.adwin(cx)?,
        };
        Ok(DriftSpec {
            detector,
            recent_windows: cx.positive(
                "policy.drift.recent_windows",
                self.recent_windows,
                defaults::DRIFT_RECENT_WINDOWS,
            )?,
        })
    }

    /// Page-Hinkley's delta, threshold and minimum samples; ADWIN's key is refused.
    fn page_hinkley(&self, cx: &Context, task: Task) -> Result<DetectorSpec, ConfigError> {
        refuse_other_detector(
            cx,
            &[("policy.drift.confidence", self.confidence.is_some())],
            DetectorKind::Adwin,
            DetectorKind::PageHinkley,
        )?;
        let delta = match self.delta {
            None => defaults::DRIFT_DELTA,
            Some(v) if v.is_finite() && v >= 0.0 => v,
            Some(v) => {
                return Err(cx.invalid(
                    "policy.drift.delta",
                    format!("is {v}; must be >= 0 (loss units per sample)"),
                ));
            }
        };
        let default_threshold = match task {
            Task::Classification => defaults::DRIFT_THRESHOLD,
            Task::Regression => defaults::DRIFT_THRESHOLD_REGRESSION,
        };
        Ok(DetectorSpec::PageHinkley {
            delta,
            threshold: positive_number(
                cx,
                "policy.drift.threshold",
                self.threshold,
                default_threshold,
            )?,
            min_samples: self.min_samples.unwrap_or(defaults::DRIFT_MIN_SAMPLES),
        })
    }

    /// ADWIN's confidence; Page-Hinkley's keys are refused.
    fn adwin(&self, cx: &Context) -> Result<DetectorSpec, ConfigError> {
        refuse_other_detector(
            cx,
            &[
                ("policy.drift.delta", self.delta.is_some()),
                ("policy.drift.threshold", self.threshold.is_some()),
                ("policy.drift.min_samples", self.min_samples.is_some()),
            ],
            DetectorKind::PageHinkley,
            DetectorKind::Adwin,
        )?;
        let confidence = positive_number(
            cx,
            "policy.drift.confidence",
            self.confidence,
            defaults::DRIFT_CONFIDENCE,
        )?;
        if confidence >= 1.0 {
            return Err(cx.invalid(
                "policy.drift.confidence",
                format!("is {confidence}; must be in (0, 1) (try 0.002)"),
            ));
        }
        Ok(DetectorSpec::Adwin { confidence })
    }
}

/// The first written of `keys`, which belong to the detector `owner`, as an error: the
/// config chose `chosen`.
fn refuse_other_detector(
    cx: &Context,
    keys: &[(&str, bool)],
    owner: DetectorKind,
    chosen: DetectorKind,
) -> Result<(), ConfigError> {
    cx.refuse_written(
        keys,
        &format!(
            "applies to the {} detector only, not to {:?}",
            owner.name(),
            chosen.name()
        ),
    )
}

/// A finite number > 0, `default` when not written.
fn positive_number(
    cx: &Context,
    key: &str,
    value: Option<f64>,
    default: f64,
) -> Result<f64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        Some(v) => Err(cx.invalid(key, format!("is {v}; must be a number > 0"))),
    }
}

impl RawGate {
    /// Checks the gate's conditions against the metrics a `task` run reports.
    pub(crate) fn check(self, cx: &Context, task: Task) -> Result<Option<Gate>, ConfigError> {
        self.require
            .map(|conditions| {
                Gate::parse(&conditions.join(","), task).map_err(|e| cx.invalid("gate.require", e))
            })
            .transpose()
    }
}
