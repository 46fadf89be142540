//! `drift`: fine-tune the serving checkpoint on the new window, except when a drift detector
//! on the serving model's per-sample loss (`[policy.drift]`) fires: then retrain fresh weights
//! on the recent windows from the detector's estimated change on (`relation = "reset"`). The
//! detector is stored with each checkpoint as its `detector` part, its verdict under
//! `extra.drift`.

use relearn_data::Window;
use relearn_store::{Manifest, Relation, Retained};
use serde::{Deserialize, Serialize};

use super::{
    Context, History, Plan, PolicyRecord, PolicyState, Start, TrainingSet, UpdatePolicy,
    decode_part, window_alone,
};
use crate::TrainError;
use crate::checkpoint::parts;
use crate::drift::Detector;
use relearn_spec::DriftSpec;
use relearn_spec::seed::WindowSeeds;

/// The key of the detector's record under a checkpoint's `extra`.
pub const EXTRA_KEY: &str = "drift";

/// What a drift checkpoint records under `extra.drift`: the detector's verdict on the
/// serving model's losses over its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// The detector (`page-hinkley`, `adwin`).
    pub detector: String,
    /// Its statistic after the window.
    pub statistic: f64,
    /// Whether it fired (then the checkpoint is a reset).
    pub fired: bool,
    /// After a reset: the samples since the estimated change that it retrained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_change: Option<u64>,
}

/// The drift policy with its `[policy.drift]` settings.
#[derive(Debug, Clone)]
pub struct Drift {
    spec: DriftSpec,
}

impl Drift {
    /// The policy with these settings.
    pub fn new(spec: &DriftSpec) -> Drift {
        Drift { spec: spec.clone() }
    }
}

impl UpdatePolicy for Drift {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn recent_windows(&self) -> usize {
        self.spec.recent_windows
    }

    fn start(&self, _history: &History, _ctx: &Context) -> Box<dyn PolicyState> {
        Box::new(Watching {
            detector: Detector::new(&self.spec.detector),
            detector_name: self.spec.detector.name(),
        })
    }

    fn resume(
        &self,
        head: &Manifest,
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Box<dyn PolicyState>, TrainError> {
        let detector = decode_part(head, parts::DETECTOR, part, Detector::from_bytes)?;
        Ok(Box::new(Watching {
            detector,
            detector_name: self.spec.detector.name(),
        }))
    }

    /// The recent windows a reset at the next window would reuse.
    fn retained(&self, window: usize, _state: &dyn PolicyState, ctx: &Context) -> Retained {
        let post_initial = (window + 1).saturating_sub(ctx.initial_windows);
        let kept = (self.spec.recent_windows - 1).min(post_initial);
        ctx.windows_retained(window + 1 - kept..window + 1)
    }
}

/// The drift policy's state: its detector.
#[derive(Debug, Clone)]
pub struct Watching {
    detector: Detector,
    detector_name: &'static str,
}

impl PolicyState for Watching {
    fn plan(
        &mut self,
        window: &Window,
        losses: &dyn Fn() -> Vec<f64>,
        history: &History,
        ctx: &Context,
        _seeds: &WindowSeeds,
    ) -> Plan {
        let d = &mut self.detector;
        let alarm = d.scan(&losses());
        let mut record = DriftRecord {
            detector: self.detector_name.to_string(),
            statistic: d.statistic(),
            fired: alarm.is_some(),
            since_change: None,
        };
        let Some(a) = alarm else {
            return Plan {
                start: Start::Serving,
                set: window_alone(window),
                record: Some(PolicyRecord::new(EXTRA_KEY, &record)),
            };
        };
        let since_change = a.since_change + (window.batch.len() - a.at - 1) as u64;
        record.since_change = Some(since_change);
        d.reset();
        Plan {
            start: Start::Fresh(Relation::Reset),
            set: reset_training_set(history, since_change, window.batch.len(), ctx),
            record: Some(PolicyRecord::new(EXTRA_KEY, &record)),
        }
    }

    fn parts(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![(parts::DETECTOR, self.detector.to_bytes())]
    }
}

/// A reset's training set: the samples of the recent windows (the current one last) from the
/// detector's estimated change on, and at least the current window (`current` samples), so
/// that an old concept's windows stay out of it.
fn reset_training_set(
    history: &History,
    since_change: u64,
    current: usize,
    ctx: &Context,
) -> TrainingSet {
    let total: usize = history.recent.iter().map(|w| w.batch.len()).sum();
    let keep = (since_change as usize).max(current).min(total);
    // Rows to leave out, oldest first.
    let mut skip = total - keep;
    let mut raw = ctx.empty_batch();
    let mut windows = Vec::new();
    for w in &history.recent {
        let rows = w.batch.len();
        if skip >= rows {
            skip -= rows;
            continue;
        }
        raw.extend(&w.batch.select(&(skip..rows).collect::<Vec<_>>()));
        skip = 0;
        windows.push(w.index as u64);
    }
    TrainingSet { raw, windows }
}
