//! Preprocessing state that belongs to a checkpoint: feature scaling and the label map.

use std::collections::{HashMap, HashSet};

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
    /// Every mode, in the order the docs list them.
    pub const ALL: [Scaling; 3] = [Scaling::None, Scaling::Initial, Scaling::Running];

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
/// standardisation `(x - mean) / std` they define, clipped to `±clip`.
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
    /// Standardised inputs are clipped to `[-clip, clip]` (`data.clip`), so that a value far
    /// outside the range the statistics were fitted on cannot dominate a prediction. Not
    /// stored at its default ([`DEFAULT_CLIP`]), so checkpoints made before it existed keep
    /// their bytes and ids, and read back with the default.
    #[serde(
        default = "default_clip",
        skip_serializing_if = "is_default_clip",
        with = "clip_json"
    )]
    pub clip: f64,
}

/// `clip` in JSON: a number, or the string `"inf"` for no clip (JSON has no infinity).
mod clip_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(clip: &f64, s: S) -> Result<S::Ok, S::Error> {
        if clip.is_infinite() {
            s.serialize_str("inf")
        } else {
            s.serialize_f64(*clip)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Clip {
            Number(f64),
            Text(String),
        }
        match Clip::deserialize(d)? {
            Clip::Number(x) => Ok(x),
            Clip::Text(t) if t == "inf" => Ok(f64::INFINITY),
            Clip::Text(t) => Err(serde::de::Error::custom(format!(
                "clip is {t:?}; expected a number or \"inf\""
            ))),
        }
    }
}

/// `data.clip`'s default: standardised inputs beyond 4 standard deviations are clipped to 4.
/// Chosen by measurement (docs/real-tables.md#inputs-outside-the-fitted-range).
pub const DEFAULT_CLIP: f64 = 4.0;

fn default_clip() -> f64 {
    DEFAULT_CLIP
}

fn is_default_clip(clip: &f64) -> bool {
    *clip == DEFAULT_CLIP
}

/// A spread this small relative to the mean is rounding, not variation: `f32` cells carry
/// about 7 significant digits, so a column whose standard deviation is below `1e-7 * |mean|`
/// is constant as far as its cells can tell.
const RELATIVE_SPREAD_FLOOR: f64 = 1e-7;

/// The standard deviation to scale by, given a column's `mean` and raw spread `std`: the
/// spread itself whenever it is real (non-zero, finite and above rounding of the mean, at
/// any units: a column in units of 1e-12 is scaled by its 1e-12 spread), else `None` (the
/// column was constant where it was fitted).
pub fn real_spread(mean: f64, std: f64) -> Option<f64> {
    (std.is_finite() && std > 0.0 && std > RELATIVE_SPREAD_FLOOR * mean.abs()).then_some(std)
}

/// A numeric input whose standardised value was beyond the scaler's clip in some rows of a
/// batch: which input, in how many rows, and how far at most (in standard deviations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutOfRange {
    /// The column's name.
    pub column: String,
    /// Rows whose value was clipped.
    pub rows: u64,
    /// The largest `|x - mean| / std` among them.
    pub max_std: f64,
}

impl Scaler {
    /// An unfitted scaler (it transforms as the identity until fitted).
    pub fn new(mode: Scaling, n_features: usize) -> Self {
        Scaler {
            mode,
            count: 0,
            mean: vec![0.0; n_features],
            m2: vec![0.0; n_features],
            clip: DEFAULT_CLIP,
        }
    }

    /// The same scaler clipping standardised inputs to `±clip` (`f64::INFINITY`: never).
    pub fn with_clip(mut self, clip: f64) -> Self {
        self.clip = clip;
        self
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

    /// Per-feature standard deviation used for scaling: `sqrt(m2 / count)` wherever the
    /// column really varied ([`real_spread`]), else 1 (a constant column is centred, not
    /// scaled: its later moves enter in its own units, clipped).
    pub fn std(&self) -> Vec<f64> {
        self.spreads().map(|s| s.unwrap_or(1.0)).collect()
    }

    /// Per feature, its standard deviation where it really varied ([`real_spread`]), `None`
    /// where it was constant.
    fn spreads(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        let n = self.count.max(1) as f64;
        self.m2
            .iter()
            .zip(&self.mean)
            .map(move |(&m2, &mean)| real_spread(mean, (m2 / n).sqrt()))
    }

    /// Whether [`Scaler::transform`] standardises (and clips): a fitted scaler whose mode
    /// is not `None`.
    pub fn standardises(&self) -> bool {
        self.mode != Scaling::None && self.count > 0
    }

    /// Per feature of `batch` (already imputed: no NaN), the rows whose standardised value is
    /// out of range: beyond the clip, or beyond [`DEFAULT_CLIP`] when the clip is larger
    /// (or off), so a run without clipping still hears of them; and the largest `|z|` among
    /// them. `None` for a feature with none; all `None` when the scaler does not standardise.
    pub fn beyond_clip(&self, batch: &Batch) -> Vec<Option<(u64, f64)>> {
        let d = self.n_features();
        let mut out = vec![None; d];
        if !self.standardises() || batch.is_empty() {
            return out;
        }
        let std = self.std();
        let bound = self.clip.min(DEFAULT_CLIP);
        for row in batch.features.chunks_exact(d.max(1)).take(batch.len()) {
            for (j, &x) in row.iter().enumerate() {
                let z = ((f64::from(x) - self.mean[j]) / std[j]).abs();
                if z > bound {
                    let (rows, max): &mut (u64, f64) = out[j].get_or_insert((0, 0.0));
                    *rows += 1;
                    *max = max.max(z);
                }
            }
        }
        out
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
        if !self.standardises() || batch.is_empty() {
            return;
        }
        let d = self.n_features();
        assert_eq!(
            batch.n_features, d,
            "scaler has {d} features, batch has {}",
            batch.n_features
        );
        let std = self.std();
        let clip = self.clip;
        for row in batch.features.chunks_exact_mut(d.max(1)) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&std) {
                // `clamp` keeps a NaN a NaN (the caller refuses it); within the clip the
                // value is the plain standardisation, bit for bit.
                *x = ((f64::from(*x) - m) / s).clamp(-clip, clip) as f32;
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
    /// Their standard deviation where they varied ([`real_spread`]); for a target that was
    /// constant, its magnitude `|mean|` (1 for a constant 0), so that the values it takes
    /// later are learned in their own order of magnitude.
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
        let fallback = if mean.abs() > 0.0 && mean.is_finite() {
            mean.abs()
        } else {
            1.0
        };
        TargetScaler {
            mean,
            std: real_spread(mean, var.sqrt()).unwrap_or(fallback),
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

/// The encoders of a table with categorical columns or missing numeric cells: imputation,
/// missing indicators and the categorical columns' vocabularies. Part of a checkpoint's
/// preprocessing, so they are carried by fine-tuning and refitted by fresh training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoders {
    /// Cells read as missing (`data.missing`), for `eval` and `predict`.
    pub missing: Vec<String>,
    /// With `data.scaling = "none"`: per numeric feature, the running mean of its
    /// non-missing cells, which a missing cell takes. Empty otherwise (a missing cell takes
    /// the scaler's mean, so it enters the model as 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fill: Vec<Fill>,
    /// Numeric features (indices into the feature names) with a missing-indicator input.
    pub indicators: Vec<usize>,
    /// One encoder per categorical column, in input order.
    pub categorical: Vec<CategoryEncoder>,
}

/// A running mean of a numeric feature's non-missing cells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Cells it covers.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
}

/// A categorical column's encoder: value `vocabulary[i]` sets one-hot input `i` (of
/// `slots`); any other non-missing value sets hashed input `slots + fnv1a64(value) %
/// buckets` when `buckets > 0`, and no input otherwise; a missing cell sets no input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryEncoder {
    /// The column's name.
    pub name: String,
    /// One-hot inputs.
    pub slots: usize,
    /// Hashed inputs.
    pub buckets: usize,
    /// The values with a one-hot input, in input order (at most `slots`): fitted on a fresh
    /// model's training set (most frequent first, ties in order of first appearance), then
    /// grown by each fine-tune with the values its window brings first, while slots are
    /// free.
    pub vocabulary: Vec<String>,
}

/// FNV-1a, 64 bits: the stable hash of a categorical value (`export` documents it).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl CategoryEncoder {
    /// The input (relative to the column's first) that `value` sets, if any.
    fn input_of(&self, index: &HashMap<&str, usize>, value: &str) -> Option<usize> {
        if value.is_empty() {
            return None;
        }
        match index.get(value) {
            Some(&i) => Some(i),
            None if self.buckets > 0 => {
                Some(self.slots + (fnv1a64(value.as_bytes()) % self.buckets as u64) as usize)
            }
            None => None,
        }
    }

    /// Fits the vocabulary on column `k` of `batch`.
    fn fit(&mut self, batch: &Batch, k: usize) {
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for r in 0..batch.len() {
            let v = batch.categories_of(r)[k].as_str();
            if v.is_empty() {
                continue;
            }
            let next = counts.len();
            counts.entry(v).or_insert((0, next)).0 += 1;
        }
        let mut values: Vec<(&str, (usize, usize))> = counts.into_iter().collect();
        values.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
        self.vocabulary = values
            .into_iter()
            .take(self.slots)
            .map(|(v, _)| v.to_string())
            .collect();
    }

    /// Adds the values of column `k` of `batch` not yet in the vocabulary, in order of first
    /// appearance, while slots are free.
    fn grow(&mut self, batch: &Batch, k: usize) {
        if self.vocabulary.len() >= self.slots {
            return;
        }
        let mut known: HashSet<String> = self.vocabulary.iter().cloned().collect();
        for r in 0..batch.len() {
            let v = &batch.categories_of(r)[k];
            if !v.is_empty() && !known.contains(v) {
                known.insert(v.clone());
                self.vocabulary.push(v.clone());
                if self.vocabulary.len() >= self.slots {
                    return;
                }
            }
        }
    }
}

/// Everything a checkpoint needs to turn raw samples into model inputs and outputs back
/// into labels or values: the task, feature names (in model order), class labels (index =
/// class id), the feature scaler, for regression the target's standardisation, and for a
/// table with categorical columns or missing cells the encoders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Classification or regression.
    pub task: Task,
    /// Numeric feature names in model order.
    pub feature_names: Vec<String>,
    /// Class labels the model has outputs for, index = class id; empty for regression.
    pub classes: Vec<String>,
    /// Feature scaling.
    pub scaler: Scaler,
    /// Regression with `data.scaling` other than `"none"`: the target's standardisation,
    /// fitted with the feature scaler on a fresh model's training set and kept by
    /// fine-tuning (the model's outputs mean what they meant). Absent otherwise, and then
    /// not in the checkpoint's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetScaler>,
    /// A table with categorical columns, or numeric ones with missing cells in the initial
    /// windows: how they are encoded. Absent otherwise (and then not in the bytes, so
    /// numeric tables keep their checkpoint ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoders: Option<Encoders>,
    /// The time columns, whose calendar features are the last numeric features (their
    /// names end `feature_names`), in input order. Absent when there are none (then not in
    /// the bytes, so tables without time columns keep their checkpoint ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time: Vec<crate::TimeEncoder>,
}

impl Preprocessor {
    /// Unfitted preprocessing for `info`'s features and initial classes.
    pub fn new(info: &StreamInfo, scaling: Scaling) -> Self {
        let encoders =
            (!info.categorical.is_empty() || !info.indicators.is_empty()).then(|| Encoders {
                missing: info.missing.clone(),
                fill: Vec::new(),
                indicators: info.indicators.clone(),
                categorical: info
                    .categorical
                    .iter()
                    .map(|c| CategoryEncoder {
                        name: c.name.clone(),
                        slots: c.slots,
                        buckets: c.buckets,
                        vocabulary: Vec::new(),
                    })
                    .collect(),
            });
        Preprocessor {
            task: info.task,
            feature_names: info.feature_names.clone(),
            classes: info.classes.clone(),
            scaler: Scaler::new(scaling, info.n_features()),
            target: None,
            encoders,
            time: info.time.clone(),
        }
    }

    /// The numeric features read from a column of their own (not a time column's calendar
    /// features), in model order.
    pub fn plain_feature_names(&self) -> &[String] {
        let calendar: usize = self.time.iter().map(|t| t.width()).sum();
        &self.feature_names[..self.feature_names.len().saturating_sub(calendar)]
    }

    /// The same preprocessing clipping standardised inputs to `±clip` (`data.clip`).
    pub fn with_clip(mut self, clip: f64) -> Self {
        self.scaler.clip = clip;
        self
    }

    /// The numeric columns of `batch` with values out of range (beyond the scaler's clip, as
    /// [`Preprocessor::transform`] would clip them, or beyond [`DEFAULT_CLIP`] standard
    /// deviations when the clip is larger or off), farthest first: the inputs that left the
    /// range this preprocessing was fitted on. Empty when nothing is clipped or the scaler
    /// does not standardise.
    pub fn out_of_range(&self, batch: &Batch) -> Vec<OutOfRange> {
        if !self.scaler.standardises() {
            return Vec::new();
        }
        let numeric = Preprocessor::imputed(batch, &self.fill_values());
        let mut found: Vec<OutOfRange> = self
            .scaler
            .beyond_clip(&numeric)
            .into_iter()
            .zip(&self.feature_names)
            .filter_map(|(o, name)| {
                o.map(|(rows, max_std)| OutOfRange {
                    column: name.clone(),
                    rows,
                    max_std,
                })
            })
            .collect();
        found.sort_by(|a, b| b.max_std.total_cmp(&a.max_std));
        found
    }

    /// The numeric features that were constant in the data the scaler was fitted on (they
    /// are centred, not scaled), and for regression whether the target was.
    pub fn constant_columns(&self) -> Vec<String> {
        if !self.scaler.standardises() {
            return Vec::new();
        }
        self.feature_names
            .iter()
            .zip(self.scaler.spreads())
            .filter(|(_, spread)| spread.is_none())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Model inputs per sample.
    pub fn n_inputs(&self) -> usize {
        self.feature_names.len()
            + self.encoders.as_ref().map_or(0, |e| {
                e.indicators.len()
                    + e.categorical
                        .iter()
                        .map(|c| c.slots + c.buckets)
                        .sum::<usize>()
            })
    }

    /// The categorical columns' names, in input order.
    pub fn categorical_names(&self) -> Vec<String> {
        self.encoders.as_ref().map_or_else(Vec::new, |e| {
            e.categorical.iter().map(|c| c.name.clone()).collect()
        })
    }

    /// The spellings of a missing cell: `data.missing` as the run had it, or its default.
    pub fn missing_tokens(&self) -> Vec<String> {
        match &self.encoders {
            Some(e) => e.missing.clone(),
            None => crate::DEFAULT_MISSING.map(str::to_string).to_vec(),
        }
    }

    /// The value a missing numeric cell takes, per feature: the scaler's mean once fitted
    /// (0 after standardisation); with scaling off, the running mean of the feature's cells.
    fn fill_values(&self) -> Vec<f64> {
        if self.scaler.mode != Scaling::None && self.scaler.count > 0 {
            return self.scaler.mean.clone();
        }
        match &self.encoders {
            Some(e) if e.fill.len() == self.feature_names.len() => {
                e.fill.iter().map(|f| f.mean).collect()
            }
            _ => vec![0.0; self.feature_names.len()],
        }
    }

    /// `batch` with its missing numeric cells replaced by `fill` (a borrow when it has none;
    /// else [`Preprocessor::numeric_imputed`]).
    fn imputed<'a>(batch: &'a Batch, fill: &[f64]) -> std::borrow::Cow<'a, Batch> {
        if !batch.features.iter().any(|x| x.is_nan()) {
            return std::borrow::Cow::Borrowed(batch);
        }
        std::borrow::Cow::Owned(Preprocessor::numeric_imputed(batch, fill))
    }

    /// The numeric part of `batch` (features and targets, not the categorical cells), its
    /// missing cells replaced by `fill`.
    fn numeric_imputed(batch: &Batch, fill: &[f64]) -> Batch {
        let mut out = Batch {
            features: batch.features.clone(),
            targets: batch.targets.clone(),
            n_features: batch.n_features,
            ..Batch::default()
        };
        for row in out.features.chunks_exact_mut(batch.n_features.max(1)) {
            for (x, f) in row.iter_mut().zip(fill) {
                if x.is_nan() {
                    *x = *f as f32;
                }
            }
        }
        out
    }

    /// Per numeric feature, the count and mean of `batch`'s non-missing cells.
    fn observed(batch: &Batch) -> Vec<Fill> {
        let d = batch.n_features;
        let mut sums = vec![(0u64, 0.0f64); d];
        for row in batch.features.chunks_exact(d.max(1)).take(batch.len()) {
            for (s, &x) in sums.iter_mut().zip(row) {
                if !x.is_nan() {
                    s.0 += 1;
                    s.1 += f64::from(x);
                }
            }
        }
        sums.into_iter()
            .map(|(count, sum)| Fill {
                count,
                mean: if count > 0 { sum / count as f64 } else { 0.0 },
            })
            .collect()
    }

    /// Fits everything on `batch` (a fresh model's training set): missing cells take their
    /// column's mean; the feature scaler; for regression with scaling on, the target's
    /// standardisation; the vocabularies.
    pub fn fit(&mut self, batch: &Batch) {
        let observed = Preprocessor::observed(batch);
        let fill: Vec<f64> = observed.iter().map(|f| f.mean).collect();
        self.scaler.fit(&Preprocessor::imputed(batch, &fill));
        if self.task == Task::Regression && self.scaler.mode != Scaling::None {
            self.target = Some(TargetScaler::fit(&batch.targets));
        }
        let scaling_off = self.scaler.mode == Scaling::None;
        if let Some(e) = &mut self.encoders {
            e.fill = if scaling_off { observed } else { Vec::new() };
            for (k, c) in e.categorical.iter_mut().enumerate() {
                c.fit(batch, k);
            }
        }
    }

    /// A fine-tune's update on its new window: the feature scaler's (see
    /// [`Scaler::update`], missing cells taking the current fill values), the imputation's
    /// running means, and the vocabularies grow with the window's new values. The target's
    /// standardisation stays.
    pub fn update(&mut self, batch: &Batch) {
        let fill = self.fill_values();
        self.scaler.update(&Preprocessor::imputed(batch, &fill));
        if let Some(e) = &mut self.encoders {
            if !e.fill.is_empty() {
                for (f, o) in e.fill.iter_mut().zip(Preprocessor::observed(batch)) {
                    let n = f.count + o.count;
                    if n > 0 {
                        f.mean += (o.mean - f.mean) * (o.count as f64 / n as f64);
                    }
                    f.count = n;
                }
            }
            for (k, c) in e.categorical.iter_mut().enumerate() {
                c.grow(batch, k);
            }
        }
    }

    /// Classification: grows the label map to cover every class id in `targets` (ids index
    /// `all_classes`, the stream's labels), returning the labels added. A model trained
    /// after this needs that many more outputs.
    pub fn learn_classes(&mut self, all_classes: &[String], targets: &[f32]) -> Vec<String> {
        if self.task != Task::Classification {
            return Vec::new();
        }
        let needed = targets
            .iter()
            .map(|&t| t as usize + 1)
            .max()
            .unwrap_or(0)
            .min(all_classes.len());
        let known = self.classes.len();
        if needed <= known {
            return Vec::new();
        }
        let added = all_classes[known..needed].to_vec();
        self.classes.extend(added.iter().cloned());
        added
    }

    /// Model-ready samples: missing numeric cells imputed, features scaled, indicators and
    /// categorical inputs appended, regression targets standardised.
    pub fn transform(&self, batch: &Batch) -> Batch {
        let mut out = self.inputs(batch);
        if let Some(t) = &self.target {
            out.targets.iter_mut().for_each(|y| *y = t.scale(*y));
        }
        out
    }

    /// [`Preprocessor::transform`] but for the targets, which stay as they are (`eval` and
    /// `predict` compare outputs in the target's units).
    pub fn inputs(&self, batch: &Batch) -> Batch {
        match &self.encoders {
            None => {
                let fill = self.fill_values();
                self.scaler.transform(&Preprocessor::imputed(batch, &fill))
            }
            Some(e) => self.encode(e, batch),
        }
    }

    /// The model inputs of `batch` under encoders `e`.
    fn encode(&self, e: &Encoders, batch: &Batch) -> Batch {
        let mut numeric = Preprocessor::numeric_imputed(batch, &self.fill_values());
        self.scaler.transform_in_place(&mut numeric);
        let d = batch.n_features;
        let width = self.n_inputs();
        let indexes: Vec<HashMap<&str, usize>> = e
            .categorical
            .iter()
            .map(|c| {
                c.vocabulary
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_str(), i))
                    .collect()
            })
            .collect();
        let mut out = Batch::with_capacity(width, batch.len());
        out.features.resize(width * batch.len(), 0.0);
        for r in 0..batch.len() {
            let row = &mut out.features[r * width..(r + 1) * width];
            row[..d].copy_from_slice(numeric.row(r));
            let raw = batch.row(r);
            let mut at = d;
            for &j in &e.indicators {
                row[at] = if raw[j].is_nan() { 1.0 } else { 0.0 };
                at += 1;
            }
            let cats = batch.categories_of(r);
            for ((c, index), value) in e.categorical.iter().zip(&indexes).zip(cats) {
                if let Some(i) = c.input_of(index, value) {
                    row[at + i] = 1.0;
                }
                at += c.slots + c.buckets;
            }
        }
        out.targets = batch.targets.clone();
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
        let calendar: usize = pre.time.iter().map(|t| t.width()).sum();
        if calendar > d {
            return bad(format!(
                "{d} features but {calendar} calendar features of time columns"
            ));
        }
        if pre.scaler.m2.iter().any(|&v| v < 0.0) {
            return bad("a negative variance".to_string());
        }
        if pre.scaler.clip.is_nan() || pre.scaler.clip <= 0.0 {
            return bad(format!("an input clip of {}", pre.scaler.clip));
        }
        if let Some(e) = &pre.encoders {
            if e.indicators.iter().any(|&j| j >= d) {
                return bad(format!("a missing indicator for a feature beyond the {d}"));
            }
            if !e.fill.is_empty() && e.fill.len() != d {
                return bad(format!("{d} features but {} fill values", e.fill.len()));
            }
            if let Some(c) = e
                .categorical
                .iter()
                .find(|c| c.vocabulary.len() > c.slots || c.slots == 0)
            {
                return bad(format!(
                    "column \"{}\" has {} values for {} one-hot inputs",
                    c.name,
                    c.vocabulary.len(),
                    c.slots
                ));
            }
        }
        Ok(pre)
    }

    /// Checks that `info` describes the data this state was made for: same task, same
    /// features (names and order) and same classes (labels and order).
    pub fn check_compatible(&self, info: &StreamInfo) -> Result<(), DataError> {
        self.check_task(info)?;
        self.check_features(info)?;
        self.check_classes(info)?;
        self.check_encoding(info)
    }

    /// [`Preprocessor::check_compatible`]'s task: the same as `info`'s.
    fn check_task(&self, info: &StreamInfo) -> Result<(), DataError> {
        if self.task == info.task {
            return Ok(());
        }
        Err(DataError::Incompatible {
            message: format!(
                "the checkpoint does {} but {} is a {} stream",
                self.task.name(),
                info.source,
                info.task.name()
            ),
        })
    }

    /// [`Preprocessor::check_compatible`]'s features: `info`'s names, in the same order.
    /// The error says which are missing from either side.
    fn check_features(&self, info: &StreamInfo) -> Result<(), DataError> {
        if self.feature_names == info.feature_names {
            return Ok(());
        }
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
        Err(DataError::Incompatible {
            message: format!(
                "the checkpoint was trained on features [{}] but {} has [{}] ({detail}); use the data.features the checkpoint was trained with",
                self.feature_names.join(", "),
                info.source,
                info.feature_names.join(", ")
            ),
        })
    }

    /// [`Preprocessor::check_compatible`]'s classes: at least `info`'s initial classes, at
    /// most all its classes, and a prefix of them.
    fn check_classes(&self, info: &StreamInfo) -> Result<(), DataError> {
        let all = info.all_classes();
        if self.classes.len() >= info.classes.len()
            && self.classes.len() <= all.len()
            && self.classes[..] == all[..self.classes.len()]
        {
            return Ok(());
        }
        Err(DataError::Incompatible {
            message: format!(
                "the checkpoint knows classes [{}] but {} has [{}] in its initial windows{}; use the data and window settings the checkpoint was trained with",
                self.classes.join(", "),
                info.source,
                info.classes.join(", "),
                if info.later_classes.is_empty() {
                    String::new()
                } else {
                    format!(" and [{}] later", info.later_classes.join(", "))
                }
            ),
        })
    }

    /// [`Preprocessor::check_compatible`]'s encoding: the same missing indicators and the
    /// same categorical columns, with the same input widths, as `info`'s.
    fn check_encoding(&self, info: &StreamInfo) -> Result<(), DataError> {
        let mine: EncodingShape = self
            .encoders
            .as_ref()
            .map(|e| {
                (
                    e.indicators.clone(),
                    e.categorical
                        .iter()
                        .map(|c| (c.name.clone(), c.slots, c.buckets))
                        .collect(),
                )
            })
            .unwrap_or_default();
        let theirs: EncodingShape = (
            info.indicators.clone(),
            info.categorical
                .iter()
                .map(|c| (c.name.clone(), c.slots, c.buckets))
                .collect(),
        );
        if mine == theirs {
            return Ok(());
        }
        let names = |v: &[(String, usize, usize)]| {
            v.iter()
                .map(|(n, s, b)| format!("{n} ({s}+{b} inputs)"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(DataError::Incompatible {
            message: format!(
                "the checkpoint encodes categorical columns [{}] with missing indicators for features {:?}, but {} gives [{}] and {:?}; use the data, [data.columns] and window settings the checkpoint was trained with",
                names(&mine.1),
                mine.0,
                info.source,
                names(&theirs.1),
                theirs.0
            ),
        })
    }
}

/// An encoding as [`Preprocessor::check_compatible`] compares it: the numeric features
/// with a missing indicator, and each categorical column's name, one-hot slots and hashed
/// buckets.
type EncodingShape = (Vec<usize>, Vec<(String, usize, usize)>);
