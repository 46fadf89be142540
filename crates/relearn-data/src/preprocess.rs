//! Preprocessing state that belongs to a checkpoint: feature scaling and the label map.

use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::DataError;
use crate::info::StreamInfo;
use crate::source::Task;

/// How features are standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// Features are used as they are.
    None,
    /// Standardised with the mean and standard deviation of the data the scaler was last
    /// fitted on (the initial windows, or a stateless update's training set); updates do
    /// not change it.
    Initial,
    /// Like `Initial`, and every update merges the new window's statistics into the
    /// running ones, so the scaler follows the stream.
    Running,
}

impl Scaling {
    /// `"none"`, `"initial"` or `"running"`, as in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Scaling::None => "none",
            Scaling::Initial => "initial",
            Scaling::Running => "running",
        }
    }

    /// Parses `"none"`, `"initial"` or `"running"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Scaling::None),
            "initial" => Some(Scaling::Initial),
            "running" => Some(Scaling::Running),
            _ => None,
        }
    }
}

/// Per-feature mean and variance (Welford / Chan statistics in `f64`), and the
/// standardisation `(x - mean) / std` they define.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// How the statistics are maintained.
    pub mode: Scaling,
    /// Samples the statistics cover.
    pub count: u64,
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature sum of squared deviations from the mean (variance = `m2 / count`).
    pub m2: Vec<f64>,
}

/// Standard deviations below this are treated as 1 (constant features pass unscaled,
/// only centred).
const MIN_STD: f64 = 1e-6;

impl Scaler {
    /// An unfitted scaler (it transforms as the identity until fitted).
    pub fn new(mode: Scaling, n_features: usize) -> Self {
        Scaler {
            mode,
            count: 0,
            mean: vec![0.0; n_features],
            m2: vec![0.0; n_features],
        }
    }

    /// Features per sample.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Forgets the statistics and fits them on `batch` (mode `None`: does nothing).
    ///
    /// # Panics
    /// If `batch.n_features` differs from the scaler's (and the batch is not empty).
    pub fn fit(&mut self, batch: &Batch) {
        if self.mode == Scaling::None {
            return;
        }
        self.count = 0;
        self.mean.iter_mut().for_each(|m| *m = 0.0);
        self.m2.iter_mut().for_each(|m| *m = 0.0);
        self.merge(batch);
    }

    /// Mode `Running`: merges `batch`'s statistics into the running ones (Chan et al.'s
    /// parallel update), giving the statistics of everything seen so far. Modes `None` and
    /// `Initial`: does nothing.
    ///
    /// # Panics
    /// If `batch.n_features` differs from the scaler's (and the batch is not empty).
    pub fn update(&mut self, batch: &Batch) {
        if self.mode == Scaling::Running {
            self.merge(batch);
        }
    }

    /// Merges a batch: two-pass statistics of the batch, then Chan's combination.
    fn merge(&mut self, batch: &Batch) {
        if batch.is_empty() {
            return;
        }
        let d = self.n_features();
        assert_eq!(
            batch.n_features, d,
            "scaler has {d} features, batch has {}",
            batch.n_features
        );
        let n_b = batch.len() as f64;
        let mut mean_b = vec![0.0f64; d];
        for row in batch.features.chunks_exact(d.max(1)).take(batch.len()) {
            for (m, &x) in mean_b.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        mean_b.iter_mut().for_each(|m| *m /= n_b);
        let mut m2_b = vec![0.0f64; d];
        for row in batch.features.chunks_exact(d.max(1)).take(batch.len()) {
            for ((s, &x), m) in m2_b.iter_mut().zip(row).zip(&mean_b) {
                let dx = f64::from(x) - m;
                *s += dx * dx;
            }
        }
        let n_a = self.count as f64;
        let n = n_a + n_b;
        for j in 0..d {
            let delta = mean_b[j] - self.mean[j];
            self.mean[j] += delta * (n_b / n);
            self.m2[j] += m2_b[j] + delta * delta * (n_a * n_b / n);
        }
        self.count += batch.len() as u64;
    }

    /// Per-feature standard deviation used for scaling (`sqrt(m2 / count)`, or 1 where
    /// that is below 1e-6).
    pub fn std(&self) -> Vec<f64> {
        self.m2
            .iter()
            .map(|&m2| {
                let s = (m2 / self.count.max(1) as f64).sqrt();
                if s < MIN_STD || !s.is_finite() {
                    1.0
                } else {
                    s
                }
            })
            .collect()
    }

    /// `(x - mean) / std` per feature; a copy when the mode is `None` or nothing was
    /// fitted yet.
    pub fn transform(&self, batch: &Batch) -> Batch {
        let mut out = batch.clone();
        self.transform_in_place(&mut out);
        out
    }

    /// [`Scaler::transform`] in place.
    ///
    /// # Panics
    /// If `batch.n_features` differs from the scaler's (and the batch is not empty).
    pub fn transform_in_place(&self, batch: &mut Batch) {
        if self.mode == Scaling::None || self.count == 0 || batch.is_empty() {
            return;
        }
        let d = self.n_features();
        assert_eq!(
            batch.n_features, d,
            "scaler has {d} features, batch has {}",
            batch.n_features
        );
        let std = self.std();
        for row in batch.features.chunks_exact_mut(d.max(1)) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&std) {
                *x = ((f64::from(*x) - m) / s) as f32;
            }
        }
    }
}

/// The standardisation of a regression target: the model learns `(y - mean) / std`, and
/// its outputs are turned back into the target's units by `out * std + mean`, so every score
/// and prediction is in those units while training (and the drift detector's per-sample
/// losses) does not depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetScaler {
    /// Mean of the targets it was fitted on.
    pub mean: f64,
    /// Their standard deviation (1 where it is below 1e-6).
    pub std: f64,
}

impl TargetScaler {
    /// The mean and standard deviation of `targets` (two passes, in `f64`).
    pub fn fit(targets: &[f32]) -> TargetScaler {
        let n = targets.len().max(1) as f64;
        let mean = targets.iter().map(|&y| f64::from(y)).sum::<f64>() / n;
        let var = targets
            .iter()
            .map(|&y| (f64::from(y) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = var.sqrt();
        TargetScaler {
            mean,
            std: if std < MIN_STD || !std.is_finite() {
                1.0
            } else {
                std
            },
        }
    }

    /// `(y - mean) / std`.
    pub fn scale(&self, y: f32) -> f32 {
        ((f64::from(y) - self.mean) / self.std) as f32
    }

    /// `v * std + mean`: a model output in the target's units.
    pub fn unscale(&self, v: f32) -> f32 {
        (f64::from(v) * self.std + self.mean) as f32
    }
}

/// Everything a checkpoint needs to turn raw samples into model inputs and outputs back
/// into labels or values: the task, feature names (in model order), class labels (index =
/// class id), the feature scaler and, for regression, the target's standardisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Classification or regression.
    pub task: Task,
    /// Feature names in model order.
    pub feature_names: Vec<String>,
    /// Class labels, index = class id; empty for regression.
    pub classes: Vec<String>,
    /// Feature scaling.
    pub scaler: Scaler,
    /// Regression with `data.scaling` other than `"none"`: the target's standardisation,
    /// fitted with the feature scaler on a fresh model's training set and kept by
    /// fine-tuning (the model's outputs mean what they meant). Absent otherwise, and then
    /// not in the checkpoint's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetScaler>,
}

impl Preprocessor {
    /// Unfitted preprocessing for `info`'s features and classes.
    pub fn new(info: &StreamInfo, scaling: Scaling) -> Self {
        Preprocessor {
            task: info.task,
            feature_names: info.feature_names.clone(),
            classes: info.classes.clone(),
            scaler: Scaler::new(scaling, info.n_features()),
            target: None,
        }
    }

    /// Fits the feature scaler on `batch` and, for regression with scaling on, the target's
    /// standardisation (a fresh model's training set).
    pub fn fit(&mut self, batch: &Batch) {
        self.scaler.fit(batch);
        if self.task == Task::Regression && self.scaler.mode != Scaling::None {
            self.target = Some(TargetScaler::fit(&batch.targets));
        }
    }

    /// A fine-tune's update on its new window: the feature scaler's (see
    /// [`Scaler::update`]); the target's standardisation stays.
    pub fn update(&mut self, batch: &Batch) {
        self.scaler.update(batch);
    }

    /// Model-ready samples: features scaled, regression targets standardised.
    pub fn transform(&self, batch: &Batch) -> Batch {
        let mut out = self.scaler.transform(batch);
        if let Some(t) = &self.target {
            out.targets.iter_mut().for_each(|y| *y = t.scale(*y));
        }
        out
    }

    /// Turns model outputs (one per row for regression) into the target's units; leaves
    /// classification outputs as they are.
    pub fn outputs_to_target_units(&self, outputs: &mut [f32]) {
        if let Some(t) = &self.target {
            outputs.iter_mut().for_each(|v| *v = t.unscale(*v));
        }
    }

    /// Canonical bytes (compact JSON, fields in declaration order): the same state always
    /// gives the same bytes, and [`Preprocessor::from_bytes`] restores it exactly.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("preprocessing state serialises to JSON")
    }

    /// Decodes [`Preprocessor::to_bytes`] output and checks it is consistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DataError> {
        let pre: Preprocessor =
            serde_json::from_slice(bytes).map_err(|e| DataError::BadPreprocessor {
                message: e.to_string(),
            })?;
        let bad = |message: String| Err(DataError::BadPreprocessor { message });
        let d = pre.feature_names.len();
        if pre.scaler.mean.len() != d || pre.scaler.m2.len() != d {
            return bad(format!(
                "{d} features but scaler statistics for {} and {}",
                pre.scaler.mean.len(),
                pre.scaler.m2.len()
            ));
        }
        match pre.task {
            Task::Classification if pre.classes.len() < 2 => {
                return bad(format!("a classifier with {} classes", pre.classes.len()));
            }
            Task::Regression if !pre.classes.is_empty() => {
                return bad("a regressor with class labels".to_string());
            }
            Task::Classification if pre.target.is_some() => {
                return bad("a classifier with a target standardisation".to_string());
            }
            _ => {}
        }
        if let Some(t) = &pre.target
            && (!t.mean.is_finite() || !t.std.is_finite() || t.std <= 0.0)
        {
            return bad(format!(
                "a target standardisation of mean {} and std {}",
                t.mean, t.std
            ));
        }
        if pre.scaler.m2.iter().any(|&v| v < 0.0) {
            return bad("a negative variance".to_string());
        }
        Ok(pre)
    }

    /// Checks that `info` describes the data this state was made for: same task, same
    /// features (names and order) and same classes (labels and order).
    pub fn check_compatible(&self, info: &StreamInfo) -> Result<(), DataError> {
        let fail = |message: String| Err(DataError::Incompatible { message });
        if self.task != info.task {
            return fail(format!(
                "the checkpoint does {} but {} is a {} stream",
                self.task.name(),
                info.source,
                info.task.name()
            ));
        }
        if self.feature_names != info.feature_names {
            let missing: Vec<&str> = self
                .feature_names
                .iter()
                .filter(|n| !info.feature_names.contains(n))
                .map(String::as_str)
                .collect();
            let extra: Vec<&str> = info
                .feature_names
                .iter()
                .filter(|n| !self.feature_names.contains(n))
                .map(String::as_str)
                .collect();
            let detail = if missing.is_empty() && extra.is_empty() {
                "same names in a different order".to_string()
            } else {
                format!(
                    "missing from the data: [{}]; not in the checkpoint: [{}]",
                    missing.join(", "),
                    extra.join(", ")
                )
            };
            return fail(format!(
                "the checkpoint was trained on features [{}] but {} has [{}] ({detail}); use the data.features the checkpoint was trained with",
                self.feature_names.join(", "),
                info.source,
                info.feature_names.join(", ")
            ));
        }
        if self.classes != info.classes {
            return fail(format!(
                "the checkpoint knows classes [{}] but {} has [{}] in its initial windows; use the data and window settings the checkpoint was trained with",
                self.classes.join(", "),
                info.source,
                info.classes.join(", ")
            ));
        }
        Ok(())
    }
}
