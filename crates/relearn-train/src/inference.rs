//! A checkpoint ready to predict: load it from the store, encode raw rows with its own
//! preprocessing, run its model, and give outputs in the target's units. Shared by `eval`,
//! `predict`, `compare` (which scores each checkpoint on the previous concept) and a server.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use relearn_data::{Batch, CsvRows, DataError, Scaling, Task};
use relearn_model::{Backend, Mlp};
use relearn_store::{Manifest, Store, StoreError};

use crate::{CheckpointExtra, LoadedCheckpoint, StoredModel, TrainError};

/// Why a checkpoint cannot predict, or a file cannot be run through it.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The store failed, or the reference names no checkpoint.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A part of the checkpoint does not decode.
    #[error(transparent)]
    Load(#[from] TrainError),
    /// The checkpoint's record of its model cannot be built (another version wrote it).
    #[error("checkpoint {id:.12} cannot be loaded: {message}")]
    Unloadable {
        /// The checkpoint.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The file is missing or malformed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A row's output is NaN or infinite: the message names the row and the likely feature.
    #[error("{0}")]
    NonFinite(String),
}

impl InferenceError {
    /// Whether the error is the user's input (exit code 2) rather than a failure of the work.
    pub fn is_user_error(&self) -> bool {
        match self {
            InferenceError::Store(e) => e.is_user_error(),
            InferenceError::Load(e) => e.is_user_error(),
            InferenceError::Data(e) => e.is_user_error(),
            InferenceError::Unloadable { .. } => false,
            InferenceError::NonFinite(_) => true,
        }
    }
}

/// What [`Inference::for_each_chunk`] read of a file.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    /// Rows read (with a target, when one was asked for).
    pub rows: usize,
    /// The file's data records, rows whose target is missing included.
    pub records: usize,
}

/// Rows `predict` and `eval` read, encode and score at a time: memory stays flat whatever
/// the file's size (a 1 GB CSV used to take about 7 GB).
pub const CHUNK_ROWS: usize = 8192;

/// The target column the run trained on (`extra.target` of the manifest).
pub fn recorded_target(manifest: &Manifest) -> Option<String> {
    Some(CheckpointExtra::of(manifest).ok()?.target)
}

/// The columns a checkpoint's run read that are not features: its target, `data.time` and
/// `data.id` (requests and files to score may carry them).
pub fn recorded_non_features(manifest: &Manifest) -> Vec<String> {
    let Ok(extra) = CheckpointExtra::of(manifest) else {
        return Vec::new();
    };
    [Some(extra.target), extra.time_column, extra.id_column]
        .into_iter()
        .flatten()
        .collect()
}

/// The `data.id` column of a checkpoint's run, if it had one.
pub fn recorded_id_column(manifest: &Manifest) -> Option<String> {
    CheckpointExtra::of(manifest).ok()?.id_column
}

/// A checkpoint ready to score or predict: its state, and its model on a plain (inference)
/// device of the backend it was trained on. Shared by `eval`, `predict` and
/// `compare` (which scores each checkpoint on the previous concept with it).
pub struct Inference {
    /// Manifest, weights, preprocessing, architecture.
    pub checkpoint: LoadedCheckpoint,
    /// The model, ready to run.
    pub predictor: Predictor,
}

/// A checkpoint's model, ready to run on encoded rows.
pub enum Predictor {
    /// An MLP holding the checkpoint's weights, on a plain device of the backend it was
    /// trained on.
    Mlp {
        /// The model.
        model: Mlp,
        /// Its device.
        device: Device,
    },
    /// Gradient-boosted trees.
    Trees(Arc<relearn_trees::Forest>),
}

impl Predictor {
    /// Raw outputs for encoded `inputs`, row-major: logits, or standardised values.
    pub fn raw_outputs(&self, inputs: &Batch) -> Vec<f32> {
        match self {
            Predictor::Mlp { model, device } => relearn_fit::outputs(model, inputs, device),
            Predictor::Trees(forest) => forest.outputs(relearn_trees::Rows::new(
                &inputs.features,
                inputs.n_features,
            )),
        }
    }
}

impl Inference {
    /// Resolves `reference` and loads the checkpoint (verifying its objects' hashes).
    pub fn load(store: &Store, reference: &str) -> Result<Inference, InferenceError> {
        let id = store.resolve(reference)?;
        Inference::of(store, store.manifest(&id)?)
    }

    /// Loads the checkpoint of `manifest` (verifying its objects' hashes).
    pub fn of(store: &Store, manifest: Manifest) -> Result<Inference, InferenceError> {
        let id = manifest.id.to_string();
        let checkpoint = LoadedCheckpoint::load(store, manifest)?;
        let bad = |message: String| InferenceError::Unloadable {
            id: id.clone(),
            message,
        };
        let predictor = match &checkpoint.model {
            StoredModel::Trees(forest) => Predictor::Trees(forest.clone()),
            StoredModel::Mlp(weights) => {
                let backend = Backend::parse(&checkpoint.info.backend)
                    .ok_or_else(|| bad(format!("unknown backend {:?}", checkpoint.info.backend)))?;
                let device = backend.device();
                let config = checkpoint.info.mlp_config().map_err(bad)?;
                let model = config
                    .init_with(weights, &device)
                    .map_err(|e| bad(e.to_string()))?;
                Predictor::Mlp { model, device }
            }
        };
        Ok(Inference {
            checkpoint,
            predictor,
        })
    }

    /// The checkpoint's task.
    pub fn task(&self) -> Task {
        self.checkpoint.preprocessor.task
    }

    /// Reads `path` with the checkpoint's features (and `target`, if given: rows whose
    /// target is missing are skipped) [`CHUNK_ROWS`] rows at a time, so a file of any size
    /// goes through in flat memory: encodes each chunk with the checkpoint's preprocessing
    /// and hands `each` its targets as written and the model's outputs
    /// ([`Inference::outputs`]). Returns how many rows it read, and how many data records
    /// the file has (those whose target is missing included).
    pub fn for_each_chunk<E: From<InferenceError>>(
        &self,
        path: &Path,
        target: Option<&str>,
        mut each: impl FnMut(&[f32], Vec<f32>) -> Result<(), E>,
    ) -> Result<Read, E> {
        let pre = &self.checkpoint.preprocessor;
        let mut reader = CsvRows::open(path, pre, target).map_err(InferenceError::from)?;
        let mut rows = 0;
        while let Some((batch, _, records)) = reader
            .next_chunk(CHUNK_ROWS)
            .map_err(InferenceError::from)?
        {
            let inputs = pre.inputs(&batch);
            let outputs = self.outputs(path, &inputs, &records)?;
            rows += batch.len();
            each(&batch.targets, outputs)?;
        }
        Ok(Read {
            rows,
            records: reader.records_read(),
        })
    }

    /// The model's outputs (row-major; regression values in the target's units) for
    /// `batch`, read from `path` by
    /// [`Inference::for_each_chunk`]. A row whose output is not finite (a feature far beyond what
    /// the model was trained on, like `3e38` written as a "missing" marker, overflows it) is
    /// bad input (exit code 2), naming the row, rather than a NaN prediction or score.
    pub fn outputs(
        &self,
        path: &Path,
        batch: &Batch,
        records: &[usize],
    ) -> Result<Vec<f32>, InferenceError> {
        let mut outputs = self.predictor.raw_outputs(batch);
        let width = (outputs.len() / batch.len().max(1)).max(1);
        match first_non_finite(&outputs, width) {
            None => {
                // Regression: in the target's units.
                self.checkpoint
                    .preprocessor
                    .outputs_to_target_units(&mut outputs);
                Ok(outputs)
            }
            Some(row) => {
                let nan = outputs[row * width..(row + 1) * width]
                    .iter()
                    .any(|v| v.is_nan());
                let record = records.get(row).copied().unwrap_or(row);
                Err(InferenceError::NonFinite(
                    self.non_finite(path, batch, row, record, nan),
                ))
            }
        }
    }

    /// The metrics (in the target's units) of the model on raw labelled rows, encoded with
    /// the checkpoint's preprocessing (`compare` scores each checkpoint on the previous
    /// concept with it).
    pub fn metrics_of_rows(&self, raw: &Batch, task: Task) -> BTreeMap<String, f64> {
        let pre = &self.checkpoint.preprocessor;
        let outputs = self.predictor.raw_outputs(&pre.transform(raw));
        crate::score::metrics_in_target_units(pre, outputs, &raw.targets, task)
    }

    /// The model's outputs (row-major; regression values in the target's units) for raw
    /// rows, as [`relearn_data::RowReader`] reads them: encoded with the checkpoint's
    /// preprocessing, then run through the model. `Err` holds the first row (0-based) whose
    /// output is NaN or infinite.
    pub fn outputs_of_rows(&self, raw: &Batch) -> Result<Vec<f32>, usize> {
        let inputs = self.checkpoint.preprocessor.inputs(raw);
        let mut outputs = self.predictor.raw_outputs(&inputs);
        let width = (outputs.len() / inputs.len().max(1)).max(1);
        if let Some(row) = first_non_finite(&outputs, width) {
            return Err(row);
        }
        self.checkpoint
            .preprocessor
            .outputs_to_target_units(&mut outputs);
        // A finite output can overflow once brought back to the target's units.
        if let Some(row) = first_non_finite(&outputs, width) {
            return Err(row);
        }
        Ok(outputs)
    }

    /// The error for data row `row` (0-based) of `path`, whose output is NaN (`nan`) or
    /// infinite: where it is, and the feature that most likely caused it.
    fn non_finite(
        &self,
        path: &Path,
        batch: &Batch,
        row: usize,
        data_row: usize,
        nan: bool,
    ) -> String {
        let pre = &self.checkpoint.preprocessor;
        let record = csv_record(path, data_row);
        // Rows as the data crate names them in its errors: 1-based lines of the file, the
        // header being row 1 (blank lines count).
        let line = record
            .as_ref()
            .map_or(data_row as u64 + 2, |(line, _)| *line)
            .to_string();
        let mut message = format!(
            "{}: row {line} (data row {}; the header is row 1): the model's output for this row is {}",
            path.display(),
            data_row + 1,
            if nan { "NaN" } else { "infinite" }
        );
        // The feature farthest from what the model saw in training, after scaling.
        let scaled = batch.row(row);
        let worst = scaled
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .filter(|(_, v)| !v.is_finite() || v.abs() >= LARGE_SCALED);
        match worst {
            Some((i, &value)) => {
                let name = pre.feature_names.get(i).map_or("?", String::as_str);
                let cell = record
                    .as_ref()
                    .and_then(|(_, cells)| cells.get(name).cloned())
                    .unwrap_or_else(|| "a huge value".to_string());
                let scaling = if pre.scaler.mode == Scaling::None || pre.scaler.count == 0 {
                    String::new()
                } else if value.is_finite() {
                    format!(" (after the checkpoint's scaling: {value:e})")
                } else {
                    " (the checkpoint's scaling makes it infinite)".to_string()
                };
                message.push_str(&format!(
                    ". Feature \"{name}\" is {cell}{scaling}: far beyond the values the model \
                     was trained on, too large for its arithmetic, which overflows. A huge \
                     value like this is often a marker for missing data (3e38, 1e30): remove \
                     or impute such cells before running the checkpoint on them"
                ));
            }
            None => message.push_str(
                ". None of its features is far from the training data; check the row's values, \
                 and run `relearn verify` to check the checkpoint",
            ),
        }
        message
    }
}

/// The first row (0-based) of `outputs` (row-major, `width` a row) with a NaN or infinite
/// value.
fn first_non_finite(outputs: &[f32], width: usize) -> Option<usize> {
    outputs
        .chunks(width)
        .position(|row| row.iter().any(|v| !v.is_finite()))
}

/// A scaled feature this far from 0 (standard deviations, when the checkpoint scales) is
/// named as the likely cause of a non-finite output.
const LARGE_SCALED: f32 = 1e4;

/// Data record `index` (0-based) of the CSV at `path`, read as `read_labelled_csv` reads it
/// (header first; blank lines skipped): its 1-based line in the file (the header is line
/// 1, blank lines counted) and its cells by header name. `None` if it cannot be read.
fn csv_record(path: &Path, index: usize) -> Option<(u64, HashMap<String, String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(relearn_data::sniff_delimiter(path))
        .from_path(path)
        .ok()?;
    let header: Vec<String> = reader
        .byte_headers()
        .ok()?
        .iter()
        .map(|f| String::from_utf8_lossy(f.trim_ascii()).into_owned())
        .collect();
    let record = reader.byte_records().nth(index)?.ok()?;
    let start = record.position()?.byte();
    let cells = header
        .into_iter()
        .zip(record.iter())
        .map(|(h, c)| (h, String::from_utf8_lossy(c.trim_ascii()).into_owned()))
        .collect();
    Some((line_at(path, start)?, cells))
}

/// The 1-based line of the record the csv parser reports at byte `start`: 1 + the line
/// ends (`\n`, `\r\n` or a lone `\r`) before it, plus those of the blank lines right after
/// `start` (the parser's position points before the blank lines it skips). As the data
/// crate counts rows in its errors.
fn line_at(path: &Path, start: u64) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let (mut lines, mut prev_cr) = (1u64, false);
    for (offset, &b) in bytes.iter().enumerate() {
        let ends_line = b == b'\n' || b == b'\r';
        if offset as u64 >= start && !ends_line {
            return Some(lines);
        }
        if b == b'\r' || (b == b'\n' && !prev_cr) {
            lines += 1;
        }
        prev_cr = b == b'\r';
    }
    Some(lines)
}

/// One row's prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Classification: the argmax class and the softmax probabilities (class order),
    /// computed in f64 from the f32 logits.
    Class {
        /// The predicted class (an index into the checkpoint's classes).
        index: usize,
        /// Every class's probability.
        probs: Vec<f64>,
    },
    /// Regression: the predicted value, in the target's units.
    Value(f32),
}

impl Prediction {
    /// The prediction as JSON, as `predict --json` and the server write it:
    /// `{"prediction": class, "probabilities": {class: p, ...}}` or `{"prediction": value}`.
    pub fn to_json(&self, classes: &[String]) -> serde_json::Value {
        match self {
            Prediction::Class { index, probs } => {
                let probabilities: serde_json::Map<String, serde_json::Value> = classes
                    .iter()
                    .zip(probs)
                    .map(|(c, &p)| (c.clone(), serde_json::json!(p)))
                    .collect();
                serde_json::json!({"prediction": classes[*index], "probabilities": probabilities})
            }
            Prediction::Value(v) => serde_json::json!({ "prediction": v }),
        }
    }

    /// The predicted class's name, or the value, as JSON.
    pub fn label(&self, classes: &[String]) -> serde_json::Value {
        match self {
            Prediction::Class { index, .. } => serde_json::json!(classes[*index]),
            Prediction::Value(v) => serde_json::json!(v),
        }
    }
}

/// Turns raw model outputs (row-major, regression values in the target's units) into
/// predictions.
pub fn predictions(task: Task, classes: &[String], outputs: &[f32]) -> Vec<Prediction> {
    match task {
        Task::Regression => outputs.iter().map(|&v| Prediction::Value(v)).collect(),
        Task::Classification => outputs
            .chunks_exact(classes.len().max(1))
            .map(|logits| {
                let (index, max) = relearn_fit::argmax(logits);
                let exp: Vec<f64> = logits
                    .iter()
                    .map(|&v| (f64::from(v) - f64::from(max)).exp())
                    .collect();
                let sum: f64 = exp.iter().sum();
                let probs = exp.iter().map(|&e| e / sum).collect();
                Prediction::Class { index, probs }
            })
            .collect(),
    }
}
