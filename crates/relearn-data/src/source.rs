//! Where a stream comes from: a CSV file ([`CsvSource`]) or a built-in generator
//! ([`GeneratorSpec`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A class out of a fixed set of labels.
    Classification,
    /// A real number.
    Regression,
}

impl Task {
    /// Every task, in the order the docs list them.
    pub const ALL: [Task; 2] = [Task::Classification, Task::Regression];

    /// `"classification"` or `"regression"`, as in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }

    /// Parses `"classification"` or `"regression"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "classification" => Some(Task::Classification),
            "regression" => Some(Task::Regression),
            _ => None,
        }
    }
}

/// The source of a stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StreamSource {
    /// Rows of a CSV file with a header row.
    Csv(CsvSource),
    /// A built-in, seeded generator.
    Generator(GeneratorSpec),
}

/// A CSV file with a header row; each data row is one sample, in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsvSource {
    /// The file (already resolved against the config file's folder). Not serialized: the
    /// config fingerprint must not depend on how the config's path was spelled (`g.toml`,
    /// `./g.toml`, an absolute path); a run records the content of its windows instead.
    #[serde(skip)]
    pub path: PathBuf,
    /// The target column's name.
    pub target: String,
    /// Feature columns in the order the model sees them; empty means every column but the
    /// target, in file order.
    pub features: Vec<String>,
    /// Classification (labels are strings) or regression (the target is a number).
    pub task: Task,
    /// Whether `data.task` was written. When not, [`crate::Stream::open`] refuses a target
    /// that looks numeric (see [`NUMERIC_TARGET_DISTINCT`]) rather than guess. Not in the
    /// fingerprint: `task` is.
    #[serde(skip)]
    pub task_given: bool,
    /// Cells read as missing (`data.missing`, trimmed, compared exactly): a row whose target
    /// is one of them is skipped (its outcome was never observed); a missing numeric feature
    /// is imputed, a missing categorical one encodes as no category.
    pub missing: Vec<String>,
    /// `[data.columns]`: column types that override inference (a column not named here is
    /// numeric when every non-missing cell of the initial windows is a number, else
    /// categorical). Not in the fingerprint when empty, so configs without it keep their ids.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnKind>,
    /// `data.max_categories`: one-hot slots at most per categorical column.
    #[serde(skip_serializing_if = "is_default_max_categories")]
    pub max_categories: usize,
    /// `data.hash_buckets`: hashed inputs of a categorical column with more distinct values
    /// in the initial windows than half of `max_categories`.
    #[serde(skip_serializing_if = "is_default_hash_buckets")]
    pub hash_buckets: usize,
    /// `data.delimiter`: the byte that separates fields (`,` by default; `\t`, `;`, ...).
    /// Not in the fingerprint when it is the default, so configs without it keep their ids.
    #[serde(skip_serializing_if = "is_default_delimiter")]
    pub delimiter: u8,
    /// `data.time`: the column of dates or timestamps that orders the rows (each row's must
    /// be at or after the previous row's) and, with `every`, cuts the windows. Not a
    /// feature. Not in the fingerprint when absent, so configs without it keep their ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `window.every`: with `time`, one window per calendar period instead of one per
    /// `window.size` rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<crate::Every>,
    /// `data.id`: the column that names each row, which `data.labels` and the prediction
    /// log join on. Not a feature. Not in the fingerprint when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `data.labels` with `window.label_delay`: labels that arrive after their rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelSource>,
}

/// Labels that arrive later than their rows (`data.labels`): rows of `(id, label[, time])`
/// in their own files, joined to the feature rows by `data.id`.
///
/// The rule: the window of period `p` closes `wait` after `p` ends. A row's label counts
/// when it is in the files and, if the labels carry a `data.time` column (when the label
/// became known), arrived by its window's close. A window is trained once the data (rows or
/// labels) reach its close; its rows whose label never came by then are skipped and
/// counted, as rows with a missing target are. A label whose id names no row is counted and
/// reported, not an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelSource {
    /// The file, folder or glob of labels (resolved against the config's folder). Not in
    /// the fingerprint (a run records the content of its windows instead).
    #[serde(skip)]
    pub path: PathBuf,
    /// `window.label_delay` as a duration: how long after its period a window closes.
    pub wait: crate::Every,
}

/// `data.delimiter`'s default.
pub const DEFAULT_DELIMITER: u8 = b',';

/// `data.max_categories` and `data.hash_buckets` at most: inputs per categorical column
/// from each.
pub const MAX_CATEGORY_INPUTS: usize = 1 << 16;

/// A target whose every non-missing cell in the initial windows is a number is called
/// numeric when it has more distinct values than this (or a value that is not an
/// integer): without `data.task` it is refused rather than taken for that many classes.
pub const NUMERIC_TARGET_DISTINCT: usize = 20;

fn is_default_delimiter(d: &u8) -> bool {
    *d == DEFAULT_DELIMITER
}

/// Parses `data.delimiter`: one ASCII character other than a quote, a line end or a
/// letter or digit (`","`, `";"`, `"\t"` as TOML writes a tab, `"|"`), or the word
/// `"tab"`. `None` for anything else.
pub fn parse_delimiter(s: &str) -> Option<u8> {
    match s.as_bytes() {
        b"tab" | b"\\t" => Some(b'\t'),
        [d] if d.is_ascii()
            && !d.is_ascii_alphanumeric()
            && !matches!(d, b'"' | b'\n' | b'\r' | b' ') =>
        {
            Some(*d)
        }
        _ => None,
    }
}

/// `data.max_categories`'s default.
pub const DEFAULT_MAX_CATEGORIES: usize = 32;
/// `data.hash_buckets`'s default.
pub const DEFAULT_HASH_BUCKETS: usize = 16;

fn is_default_max_categories(n: &usize) -> bool {
    *n == DEFAULT_MAX_CATEGORIES
}

fn is_default_hash_buckets(n: &usize) -> bool {
    *n == DEFAULT_HASH_BUCKETS
}

/// How a CSV column is used (`[data.columns]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// A number per row; a missing cell is imputed (running mean) and, when the initial
    /// windows had missing cells in the column, flagged by an indicator input.
    Numeric,
    /// A string per row, one-hot encoded over a vocabulary that grows with the stream (plus
    /// hashed inputs for a column with many values).
    Categorical,
    /// Not used.
    Ignore,
    /// An ISO 8601 date or timestamp per row, encoded as calendar features
    /// ([`crate::TimeEncoder`]).
    Time,
}

impl ColumnKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [ColumnKind; 4] = [
        ColumnKind::Numeric,
        ColumnKind::Categorical,
        ColumnKind::Ignore,
        ColumnKind::Time,
    ];

    /// `"numeric"`, `"categorical"`, `"ignore"` or `"time"`, as in the config file.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
            ColumnKind::Ignore => "ignore",
            ColumnKind::Time => "time",
        }
    }

    /// Parses `"numeric"`, `"categorical"`, `"ignore"` or `"time"`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// `data.missing`'s default: the spellings of a missing value in common CSV exports.
pub const DEFAULT_MISSING: [&str; 5] = ["", "NA", "N/A", "NaN", "null"];

impl CsvSource {
    /// How the stream names itself (`StreamInfo::source`, messages): `csv:<path>`.
    pub fn label(&self) -> String {
        format!("csv:{}", self.path.display())
    }

    /// How checkpoints name the source (`extra.source`): `csv:<file name>`, the same however
    /// the path to the file was spelled (for a folder its name; for a glob the name of the
    /// folder before its first wildcard and partition folder; `csv:` for Parquet too, so
    /// that a folder converted from CSV to Parquet keeps its ids).
    pub fn identity(&self) -> String {
        // A glob is named by its folder before the first wildcard, as that folder would be.
        let text = self.path.to_string_lossy();
        let path = if text.contains(['*', '?', '[']) {
            crate::files::glob_root(&self.path)
        } else {
            self.path.clone()
        };
        let name = path.file_name().unwrap_or(path.as_os_str());
        format!("csv:{}", name.to_string_lossy())
    }
}

/// The built-in stream generators. Each is deterministic given its [`GeneratorSpec`].
///
/// Shared drift schedule: the *concept index* `k` of sample `i` is the number of
/// `drift_points` at or before `i` (abrupt drift, `drift_width = 0`). With
/// `drift_width = w > 0` the change at drift point `p` is blended as in MOA's
/// `ConceptDriftStream`: sample `i` comes from the newer concept with probability
/// `1 / (1 + exp(-4 (i - p) / w))` (about 2 % at `p - w`, 50 % at `p`, 98 % at `p + w`),
/// drawn independently per sample and nested over successive drift points.
///
/// Classification generators apply `noise` as label noise: with probability `noise` the
/// label is replaced by a different class, chosen uniformly. Noise, the concept choice and
/// the inputs use separate random streams, so changing `noise` or `drift_width` changes
/// labels (and, where the input distribution drifts, inputs) but never the unrelated draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorKind {
    /// SEA concepts (Street & Kim 2001): 3 features uniform in `[0, 10]` (the third is
    /// irrelevant); label 1 iff `x0 + x1 <= theta_k`, where `theta` cycles through the four
    /// concepts `8, 9, 7, 9.5` (`theta_k = [8, 9, 7, 9.5][k mod 4]`). Real concept drift at
    /// each drift point; the input distribution never changes.
    Sea,
    /// Rotating hyperplane (Hulten et al. 2001, as in MOA's `HyperplaneGenerator`): `d`
    /// features uniform in `[0, 1]`, weights `w_i` initialised uniform in `[0, 1]`; label 1
    /// iff `sum_i w_i x_i >= sum_i w_i / 2`. After every sample each weight moves:
    /// `w_i += drift_speed * s_i`, then its direction `s_i` (initially `+1`) flips sign with
    /// probability 10 % (MOA's `sigmaPercentage`). All `d` weights drift. Continuous,
    /// gradual concept drift at every sample; no drift points.
    Hyperplane,
    /// Virtual (input) drift under a fixed concept: `x ~ N(mu_k, I)` in `d` dimensions with
    /// every coordinate of the mean equal to `k * pi` (so each drift point moves the data
    /// `pi * sqrt(d)` further, into a region no earlier window covered). The concept never
    /// changes: label 1 iff `sum_i sin(x_i) + 0.5 * sin(x0 + x1) > 0`. Classes stay
    /// balanced in every region, but the decision boundary the data shows differs (around
    /// odd multiples of `pi` the sines change sign), so a model must adapt to the new region.
    FeatureDrift,
    /// Prior (label) drift: 3 classes whose priors switch at each drift point while the
    /// class-conditional inputs stay fixed. `x | y ~ N(mu_y, I)` in `d` dimensions, with the
    /// class means on a triangle of radius 1.25 in the `(x0, x1)` plane
    /// (`mu_y = 1.25 * (cos(2 pi y / 3), sin(2 pi y / 3), 0, ..., 0)`; the other coordinates
    /// are pure noise), so classes overlap and the best decision boundary depends on the
    /// priors. Priors of concept `k` are `[1/3, 1/3, 1/3]`, `[0.8, 0.1, 0.1]`,
    /// `[0.1, 0.1, 0.8]`, `[0.1, 0.8, 0.1]` for `k mod 4 = 0, 1, 2, 3`.
    LabelDrift,
    /// Friedman #1 regression with global abrupt drift (after river's `FriedmanDrift`,
    /// variant `gra`): `d >= 5` features uniform in `[0, 1]`,
    /// `y = 10 sin(pi a b) + 20 (c - 0.5)^2 + 10 d + 5 e + noise * N(0, 1)`, where the roles
    /// `(a, b, c, d, e)` are played by `x_{(j + r) mod 5}` for `j = 0..5` with the rotation
    /// `r = 2k mod 5`: concept 0 is the classic `(x0, x1, x2, x3, x4)`, concept 1 uses
    /// `(x2, x3, x4, x0, x1)`, and so on; features `x5..` are always irrelevant.
    Friedman,
}

impl GeneratorKind {
    /// Every generator, in documentation order.
    pub const ALL: [GeneratorKind; 5] = [
        GeneratorKind::Sea,
        GeneratorKind::Hyperplane,
        GeneratorKind::FeatureDrift,
        GeneratorKind::LabelDrift,
        GeneratorKind::Friedman,
    ];

    /// The name used in the config file (`data.generator`).
    pub fn name(self) -> &'static str {
        match self {
            GeneratorKind::Sea => "sea",
            GeneratorKind::Hyperplane => "hyperplane",
            GeneratorKind::FeatureDrift => "feature-drift",
            GeneratorKind::LabelDrift => "label-drift",
            GeneratorKind::Friedman => "friedman",
        }
    }

    /// Parses a name as returned by [`GeneratorKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The task the generator poses: `friedman` is regression, the others classification.
    pub fn task(self) -> Task {
        match self {
            GeneratorKind::Friedman => Task::Regression,
            _ => Task::Classification,
        }
    }

    /// The number of classes (classification generators) or 0 (regression).
    pub fn n_classes(self) -> usize {
        match self {
            GeneratorKind::Friedman => 0,
            GeneratorKind::LabelDrift => 3,
            _ => 2,
        }
    }

    /// The smallest `n_features` the generator accepts.
    fn min_features(self) -> usize {
        match self {
            GeneratorKind::Sea => 3,
            GeneratorKind::Hyperplane | GeneratorKind::FeatureDrift | GeneratorKind::LabelDrift => {
                2
            }
            GeneratorKind::Friedman => 5,
        }
    }
}

/// The parameters of a built-in generator: the same spec always gives the bit-identical
/// stream. See [`GeneratorKind`] for what each generator draws and how it drifts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratorSpec {
    /// Which generator.
    pub kind: GeneratorKind,
    /// Stream length in samples.
    pub samples: usize,
    /// Classification: probability that a label is replaced by another class (uniformly
    /// chosen). Regression: standard deviation of gaussian noise added to the target.
    pub noise: f64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Sample indices where the concept (or input distribution, or class priors) changes;
    /// strictly increasing and below `samples`. Empty for `hyperplane`, whose drift is
    /// continuous.
    pub drift_points: Vec<usize>,
    /// 0: abrupt changes; `w > 0`: each change is blended over about `2w` samples centred
    /// on its drift point (see [`GeneratorKind`]).
    pub drift_width: usize,
    /// Input dimension. `sea` is fixed at 3; `hyperplane`, `feature-drift` and
    /// `label-drift` need at least 2, `friedman` at least 5.
    pub n_features: usize,
    /// `hyperplane` only: how far each weight moves per sample (MOA's `magChange`).
    pub drift_speed: f64,
}

impl GeneratorSpec {
    /// A spec with defaults: `noise` 0 (`friedman`: 1, the classic Friedman #1 noise);
    /// drift points at `samples * k / 4` for `k = 1, 2, 3` (none for `hyperplane`, whose
    /// drift is continuous); abrupt drift (`drift_width` 0); `n_features` 3 for `sea`, 10
    /// for `hyperplane` and `friedman`, 5 for `feature-drift` and `label-drift`;
    /// `drift_speed` 0.001.
    pub fn new(kind: GeneratorKind, samples: usize, seed: u64) -> Self {
        let mut drift_points = Vec::new();
        if kind != GeneratorKind::Hyperplane {
            for k in 1..=3 {
                let p = samples * k / 4;
                if p > 0 && drift_points.last() != Some(&p) {
                    drift_points.push(p);
                }
            }
        }
        GeneratorSpec {
            kind,
            samples,
            noise: if kind == GeneratorKind::Friedman {
                1.0
            } else {
                0.0
            },
            seed,
            drift_points,
            drift_width: 0,
            n_features: match kind {
                GeneratorKind::Sea => 3,
                GeneratorKind::Hyperplane | GeneratorKind::Friedman => 10,
                GeneratorKind::FeatureDrift | GeneratorKind::LabelDrift => 5,
            },
            drift_speed: 0.001,
        }
    }

    /// Checks every field; the error names the config key (`data.<field>`) and says what
    /// values are allowed.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.samples == 0 {
            return config_error("data.samples", "must be at least 1".to_string());
        }
        self.check_noise()?;
        self.check_drift_points()?;
        self.check_n_features()?;
        self.check_drift_speed()
    }

    /// `data.noise`: a probability for a classification generator, a finite standard
    /// deviation (>= 0) for a regression one.
    fn check_noise(&self) -> Result<(), DataError> {
        let name = self.kind.name();
        match self.kind.task() {
            Task::Classification if !(0.0..=1.0).contains(&self.noise) => config_error(
                "data.noise",
                format!(
                    "is {}; for the {name} generator it is the probability that a label is replaced by another class, so it must be between 0 and 1",
                    self.noise
                ),
            ),
            Task::Regression if !(self.noise.is_finite() && self.noise >= 0.0) => config_error(
                "data.noise",
                format!(
                    "is {}; for the {name} generator it is the standard deviation of the noise added to the target, so it must be a finite number >= 0",
                    self.noise
                ),
            ),
            _ => Ok(()),
        }
    }

    /// `data.drift_points`: none for `hyperplane`; else strictly increasing and below
    /// `samples`.
    fn check_drift_points(&self) -> Result<(), DataError> {
        if self.kind == GeneratorKind::Hyperplane && !self.drift_points.is_empty() {
            return config_error(
                "data.drift_points",
                "the hyperplane generator drifts continuously at every sample (see data.drift_speed) and takes no drift points: remove data.drift_points".to_string(),
            );
        }
        if let Some(w) = self.drift_points.windows(2).find(|w| w[0] >= w[1]) {
            return config_error(
                "data.drift_points",
                format!(
                    "must be strictly increasing sample indices, but {} is followed by {}",
                    w[0], w[1]
                ),
            );
        }
        if let Some(&p) = self.drift_points.iter().find(|&&p| p >= self.samples) {
            return config_error(
                "data.drift_points",
                format!(
                    "drift point {p} is not below data.samples = {} (drift points are sample indices from 0)",
                    self.samples
                ),
            );
        }
        Ok(())
    }

    /// `data.n_features`: exactly 3 for `sea`, at least the generator's minimum.
    fn check_n_features(&self) -> Result<(), DataError> {
        if self.kind == GeneratorKind::Sea && self.n_features != 3 {
            return config_error(
                "data.n_features",
                format!(
                    "is {}; the sea generator has exactly 3 features: set it to 3 or remove it",
                    self.n_features
                ),
            );
        }
        let min = self.kind.min_features();
        if self.n_features < min {
            return config_error(
                "data.n_features",
                format!(
                    "is {}; the {} generator needs at least {min} features",
                    self.n_features,
                    self.kind.name()
                ),
            );
        }
        Ok(())
    }

    /// `data.drift_speed`: a finite number >= 0.
    fn check_drift_speed(&self) -> Result<(), DataError> {
        if self.drift_speed.is_finite() && self.drift_speed >= 0.0 {
            return Ok(());
        }
        config_error(
            "data.drift_speed",
            format!(
                "is {}; it must be a finite number >= 0 (how far each hyperplane weight moves per sample, e.g. 0.001)",
                self.drift_speed
            ),
        )
    }
}

/// The error for the config key `key` and what is wrong with its value.
fn config_error(key: &'static str, message: String) -> Result<(), DataError> {
    Err(DataError::Config { key, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_tasks() {
        for k in GeneratorKind::ALL {
            assert_eq!(GeneratorKind::parse(k.name()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
        assert_eq!(GeneratorKind::parse("SEA"), None);
        assert_eq!(GeneratorKind::Friedman.task(), Task::Regression);
        assert_eq!(GeneratorKind::LabelDrift.task(), Task::Classification);
        assert_eq!(Task::parse("regression"), Some(Task::Regression));
        assert_eq!(
            serde_json::to_string(&Task::Classification).unwrap(),
            "\"classification\""
        );
    }

    #[test]
    fn defaults_are_valid() {
        for k in GeneratorKind::ALL {
            for n in [1, 3, 4, 10, 20_000] {
                let spec = GeneratorSpec::new(k, n, 7);
                spec.validate().unwrap_or_else(|e| panic!("{k:?} {n}: {e}"));
            }
        }
        let sea = GeneratorSpec::new(GeneratorKind::Sea, 20_000, 0);
        assert_eq!(sea.drift_points, vec![5000, 10_000, 15_000]);
        assert_eq!(sea.n_features, 3);
        assert!(
            GeneratorSpec::new(GeneratorKind::Hyperplane, 20_000, 0)
                .drift_points
                .is_empty()
        );
        assert_eq!(
            GeneratorSpec::new(GeneratorKind::Friedman, 100, 0).noise,
            1.0
        );
    }

    #[test]
    fn validate_names_the_key() {
        let base = GeneratorSpec::new(GeneratorKind::Sea, 1000, 0);
        let cases: Vec<(GeneratorSpec, &str)> = vec![
            (
                GeneratorSpec {
                    samples: 0,
                    drift_points: vec![],
                    ..base.clone()
                },
                "data.samples",
            ),
            (
                GeneratorSpec {
                    noise: 1.5,
                    ..base.clone()
                },
                "data.noise",
            ),
            (
                GeneratorSpec {
                    noise: f64::NAN,
                    ..base.clone()
                },
                "data.noise",
            ),
            (
                GeneratorSpec {
                    drift_points: vec![10, 10],
                    ..base.clone()
                },
                "data.drift_points",
            ),
            (
                GeneratorSpec {
                    drift_points: vec![1000],
                    ..base.clone()
                },
                "data.drift_points",
            ),
            (
                GeneratorSpec {
                    n_features: 4,
                    ..base.clone()
                },
                "data.n_features",
            ),
            (
                GeneratorSpec {
                    drift_speed: -1.0,
                    ..base.clone()
                },
                "data.drift_speed",
            ),
            (
                GeneratorSpec {
                    drift_points: vec![5],
                    ..GeneratorSpec::new(GeneratorKind::Hyperplane, 100, 0)
                },
                "data.drift_points",
            ),
            (
                GeneratorSpec {
                    n_features: 4,
                    ..GeneratorSpec::new(GeneratorKind::Friedman, 100, 0)
                },
                "data.n_features",
            ),
            (
                GeneratorSpec {
                    noise: -0.1,
                    ..GeneratorSpec::new(GeneratorKind::Friedman, 100, 0)
                },
                "data.noise",
            ),
        ];
        for (spec, key) in cases {
            let e = spec.validate().expect_err(key).to_string();
            assert!(e.starts_with(&format!("{key}: ")), "{e}");
        }
    }
}
