//! [`StreamInfo`]: what a stream holds, known once it is opened. Its own module so that
//! preprocessing (which is made for a stream) and the CSV reader (which preprocesses rows for
//! `eval` and `predict`) need not reach back into the stream module that reads the CSV.

use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::source::Task;

/// What a stream holds, known once it is opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// `csv:<path>` or `generator:<name>` (e.g. `generator:sea`).
    pub source: String,
    /// Numeric feature names in model order: CSV column names, or `x0, x1, ...` for
    /// generators.
    pub feature_names: Vec<String>,
    /// Numeric features (indices into `feature_names`) that had missing cells in the
    /// initial windows: each gets a 0/1 missing-indicator input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<usize>,
    /// Categorical feature columns, in file order, with their input widths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<CategoricalColumn>,
    /// Classification or regression.
    pub task: Task,
    /// Classification: the class labels of the initial windows, index = class id (at least
    /// 2). Regression: empty.
    pub classes: Vec<String>,
    /// Classification: labels first seen after the initial windows, in order of first
    /// appearance; their class ids follow `classes`. A model learns one from the first
    /// update that trains on it (its output layer grows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later_classes: Vec<String>,
    /// Cells read as missing (`data.missing`); empty for generators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Samples in the stream, including a trailing partial window that is not used.
    pub n_samples: usize,
    /// CSV: data rows skipped because their target is missing (blank or a `data.missing`
    /// spelling), in the whole file. 0 for generators.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_rows: usize,
    /// Samples after the last full window (`n_samples % window.size`): not used until
    /// rows appended to the file complete their window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub trailing_rows: usize,
    /// Declared drift points (sample indices) of a generator; empty for CSV.
    pub drift_points: Vec<usize>,
    /// CSV: the feature columns read as time, whose calendar features end
    /// `feature_names`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time: Vec<crate::TimeEncoder>,
    /// CSV: the `data.time` column, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
    /// With `window.every`: the length of a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<crate::Every>,
    /// With `window.every`: periods without rows between the first and the last with
    /// rows (no window is made for them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_periods: usize,
    /// With `window.every`: the label of the last period with rows, whose rows
    /// (`trailing_rows`) wait for a row of a later period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_period: Option<String>,
    /// With `data.labels`: what joining the labels to the rows found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsInfo>,
}

/// What joining `data.labels` to a stream's rows by `data.id` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsInfo {
    /// Labels read.
    pub labels: usize,
    /// Rows that found their label by their window's close.
    pub matched: usize,
    /// Rows whose label came after their window closed (the row is skipped).
    pub late: usize,
    /// Labels whose id names no row (counted, not an error).
    pub unknown_ids: usize,
}

/// A categorical feature column and its model inputs: `slots` one-hot inputs for the values
/// of its vocabulary, then `buckets` inputs that values outside the vocabulary are hashed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoricalColumn {
    /// The column's name.
    pub name: String,
    /// One-hot inputs: twice the distinct values of the initial windows, within
    /// `[2, data.max_categories]` (the spare ones take values first seen later).
    pub slots: usize,
    /// Hashed inputs: `data.hash_buckets` for a column with more distinct values in the
    /// initial windows than half of `data.max_categories`, else 0 (then a value outside the
    /// vocabulary encodes as no input at all, like a missing cell).
    pub buckets: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl StreamInfo {
    /// Numeric features per sample (the raw batch's width).
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Model inputs per sample: the numeric features, their missing indicators and every
    /// categorical column's one-hot and hashed inputs.
    pub fn n_inputs(&self) -> usize {
        self.feature_names.len()
            + self.indicators.len()
            + self
                .categorical
                .iter()
                .map(|c| c.slots + c.buckets)
                .sum::<usize>()
    }

    /// The first 0/1 input (the missing indicators, then the categorical columns' one-hot
    /// and hashed inputs), which come after the numeric features; `None` when there are
    /// none. At most one input per indicator and per categorical column is 1 in a sample,
    /// so a trainer can take these inputs as sparse.
    pub fn binary_inputs_from(&self) -> Option<usize> {
        (self.n_inputs() > self.feature_names.len()).then_some(self.feature_names.len())
    }

    /// Every class label, index = class id: the initial ones, then the later ones.
    pub fn all_classes(&self) -> Vec<String> {
        let mut all = self.classes.clone();
        all.extend(self.later_classes.iter().cloned());
        all
    }

    /// An empty raw batch of this stream's shape (numeric and categorical columns).
    pub fn empty_batch(&self) -> Batch {
        Batch::mixed(self.n_features(), self.categorical.len())
    }

    /// What the stream leaves out, in words, or `None` when it uses every row: CSV rows
    /// skipped for a missing target and samples after the last full window, e.g. `616 rows
    /// skipped (blank target) so far; 437 rows after the last full window wait for more
    /// rows`. As `run` prints it at its end.
    pub fn dropped_rows_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        let rows = |n: usize| {
            if n == 1 {
                "1 row".to_string()
            } else {
                format!("{n} rows")
            }
        };
        if let Some(l) = &self.labels {
            parts.push(format!(
                "data.labels: {} read, {} joined to rows by their window's close, {} came later (those rows are skipped), {} name no row",
                plural(l.labels, "label"),
                l.matched,
                l.late,
                plural(l.unknown_ids, "id"),
            ));
        }
        if self.skipped_rows > 0 {
            parts.push(match self.labels {
                Some(_) => format!(
                    "{} without a label yet (skipped once their window closes)",
                    rows(self.skipped_rows)
                ),
                None => format!("{} skipped (blank target) so far", rows(self.skipped_rows)),
            });
        }
        if let Some(every) = self.every
            && self.empty_periods > 0
        {
            parts.push(format!(
                "{} without rows skipped",
                plural(self.empty_periods, &every.noun())
            ));
        }
        if let (Some(every), Some(label), Some(_)) =
            (self.every, &self.waiting_period, &self.labels)
        {
            parts.push(format!(
                "{} from {label} on wait for their {}'s labels to be in",
                rows(self.trailing_rows),
                every.noun()
            ));
        } else if let (Some(every), Some(label)) = (self.every, &self.waiting_period) {
            parts.push(format!(
                "{} of {label}, the last {}, {} for a row of a later one",
                rows(self.trailing_rows),
                every.noun(),
                if self.trailing_rows == 1 {
                    "waits"
                } else {
                    "wait"
                }
            ));
        } else if self.trailing_rows > 0 {
            if self.source.starts_with("csv:") {
                parts.push(format!(
                    "{} after the last full window {} for more rows",
                    rows(self.trailing_rows),
                    if self.trailing_rows == 1 {
                        "waits"
                    } else {
                        "wait"
                    }
                ));
            } else {
                parts.push(format!(
                    "{} after the last full window {} not used",
                    if self.trailing_rows == 1 {
                        "1 sample".to_string()
                    } else {
                        format!("{} samples", self.trailing_rows)
                    },
                    if self.trailing_rows == 1 { "is" } else { "are" }
                ));
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Which columns are read as time, in words, or `None` when none is: `windows by day of
    /// "ts"; read as time: "signup" (calendar features weekday_sin, ...)`. As `run` prints it
    /// before its first line.
    pub fn time_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(column) = &self.time_column {
            parts.push(match self.every {
                Some(every) => format!(
                    "windows by {} of \"{column}\" (data.time, not a feature)",
                    every.noun()
                ),
                None => format!("rows in time order of \"{column}\" (data.time, not a feature)"),
            });
        }
        for t in &self.time {
            let names: Vec<String> = t
                .parts
                .iter()
                .flat_map(|p| p.suffixes().iter().map(|s| s.to_string()))
                .collect();
            parts.push(match names.is_empty() {
                true => format!(
                    "\"{}\" read as time (no calendar features: the initial windows span less than a day)",
                    t.column
                ),
                false => format!(
                    "\"{}\" read as time (calendar features {})",
                    t.column,
                    names.join(", ")
                ),
            });
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Model outputs: the number of classes for classification, 1 for regression.
    pub fn n_outputs(&self) -> usize {
        match self.task {
            Task::Classification => self.classes.len(),
            Task::Regression => 1,
        }
    }
}

/// `1 day`, `3 days`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
