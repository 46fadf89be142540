//! [`StreamInfo`]: what a stream holds, known once it is opened. Its own module so that
//! preprocessing (which is made for a stream) and the CSV reader (which preprocesses rows for
//! `eval` and `predict`) need not reach back into the stream module that reads the CSV.

use serde::{Deserialize, Serialize};

use crate::source::Task;

/// What a stream holds, known once it is opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// `csv:<path>` or `generator:<name>` (e.g. `generator:sea`).
    pub source: String,
    /// Feature names in model order: CSV column names, or `x0, x1, ...` for generators.
    pub feature_names: Vec<String>,
    /// Classification or regression.
    pub task: Task,
    /// Classification: class labels, index = class id (at least 2). Regression: empty.
    pub classes: Vec<String>,
    /// Samples in the stream, including a trailing partial window that is not used.
    pub n_samples: usize,
    /// Declared drift points (sample indices) of a generator; empty for CSV.
    pub drift_points: Vec<usize>,
}

impl StreamInfo {
    /// Features per sample.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Model outputs: the number of classes for classification, 1 for regression.
    pub fn n_outputs(&self) -> usize {
        match self.task {
            Task::Classification => self.classes.len(),
            Task::Regression => 1,
        }
    }
}
