//! A checkpoint loaded for serving: its model, preprocessing and the facts `GET /v1/model`
//! answers with, and how a request's rows become its predictions.

use std::collections::BTreeSet;

use relearn_data::{RowError, RowReader, Task, quoted};
use relearn_store::{Manifest, Store};
use relearn_train::inference::{
    Inference, InferenceError, Prediction, predictions, recorded_non_features, recorded_target,
};
use serde_json::{Value, json};

use crate::body::Rows;
use crate::error::ApiError;

/// A checkpoint ready to answer requests. Loaded (and its objects' hashes verified) off the
/// request path; shared by the requests that started on it.
pub struct ServedModel {
    /// The model and its preprocessing.
    pub inference: Inference,
    /// The checkpoint's full id.
    pub id: String,
    /// Columns a request may send besides the features: the target the run trained on and
    /// the server's id column.
    pub allowed_extra: BTreeSet<String>,
    /// Each class's name as a JSON string, ready to write.
    class_json: Vec<String>,
}

impl ServedModel {
    /// Loads checkpoint `id` (its manifest and every part, verifying their hashes).
    pub fn load(
        store: &Store,
        id: &str,
        id_column: Option<&str>,
    ) -> Result<ServedModel, InferenceError> {
        let manifest = store.manifest(id)?;
        let mut allowed_extra = BTreeSet::new();
        allowed_extra.extend(recorded_non_features(&manifest));
        allowed_extra.extend(id_column.map(str::to_string));
        let inference = Inference::of(store, manifest)?;
        let class_json = inference
            .checkpoint
            .preprocessor
            .classes
            .iter()
            .map(|c| serde_json::to_string(c).expect("a string serialises"))
            .collect();
        Ok(ServedModel {
            id: inference.checkpoint.manifest.id.to_string(),
            inference,
            allowed_extra,
            class_json,
        })
    }

    /// The checkpoint's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inference.checkpoint.manifest
    }

    /// The checkpoint's classes (empty for regression).
    pub fn classes(&self) -> &[String] {
        &self.inference.checkpoint.preprocessor.classes
    }

    /// The checkpoint's task.
    pub fn task(&self) -> Task {
        self.inference.task()
    }

    /// One prediction per row of `rows`. A column the model does not know (other than the
    /// target and the id column) is refused unless `allow_unknown`; a missing feature, a
    /// cell that is not a number where a number is needed, or a row whose output overflows
    /// is a 422 naming the row and column.
    pub fn predict(&self, rows: &Rows, allow_unknown: bool) -> Result<Vec<Prediction>, ApiError> {
        let pre = &self.inference.checkpoint.preprocessor;
        if !allow_unknown {
            let unknown: Vec<String> = RowReader::unknown_columns(pre, &rows.header)
                .into_iter()
                .filter(|c| !self.allowed_extra.contains(c))
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::unprocessable(format!(
                    "unknown column{} {}: the model's features are {}; remove {}, or start the \
                     server with --allow-unknown-columns to ignore such columns",
                    if unknown.len() == 1 { "" } else { "s" },
                    quoted(&unknown),
                    quoted(&self.feature_columns()),
                    if unknown.len() == 1 { "it" } else { "them" },
                )));
            }
        }
        let reader = RowReader::new(pre, &rows.header).map_err(row_error)?;
        let mut batch = reader.batch(rows.len());
        let mut cells = Vec::with_capacity(rows.header.len());
        for i in 0..rows.len() {
            rows.row_into(i, &mut cells);
            reader.push(&mut batch, i, &cells).map_err(row_error)?;
        }
        let outputs = self.inference.outputs_of_rows(&batch).map_err(|row| {
            ApiError::unprocessable(format!(
                "row {row}: the model's output for this row is not finite: a feature is far \
                 beyond the values the model was trained on (a marker such as 3e38 for a \
                 missing value?); send null for a missing value"
            ))
        })?;
        Ok(predictions(self.task(), self.classes(), &outputs))
    }

    /// Appends a prediction's class (a JSON string) or value (a JSON number).
    pub fn write_label(&self, out: &mut Vec<u8>, prediction: &Prediction) {
        match prediction {
            Prediction::Class { index, .. } => {
                out.extend_from_slice(self.class_json[*index].as_bytes())
            }
            Prediction::Value(v) => {
                out.extend_from_slice(zmij::Buffer::new().format_finite(*v).as_bytes())
            }
        }
    }

    /// Appends a prediction as `predict --json` writes it: `{"prediction": class,
    /// "probabilities": {class: p, ...}}` or `{"prediction": value}`.
    pub fn write_prediction(&self, out: &mut Vec<u8>, prediction: &Prediction) {
        out.extend_from_slice(b"{\"prediction\":");
        self.write_label(out, prediction);
        if let Prediction::Class { probs, .. } = prediction {
            out.extend_from_slice(b",\"probabilities\":{");
            let mut buffer = zmij::Buffer::new();
            for (i, (class, p)) in self.class_json.iter().zip(probs).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(class.as_bytes());
                out.push(b':');
                out.extend_from_slice(buffer.format_finite(*p).as_bytes());
            }
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// Every feature column a request must send: numeric, time, then categorical.
    pub fn feature_columns(&self) -> Vec<String> {
        let pre = &self.inference.checkpoint.preprocessor;
        let mut all = pre.plain_feature_names().to_vec();
        all.extend(pre.time.iter().map(|t| t.column.clone()));
        all.extend(pre.categorical_names());
        all
    }

    /// What `GET /v1/model` says of the checkpoint.
    pub fn describe(&self) -> Value {
        let m = self.manifest();
        json!({
            "id": m.id,
            "run": m.run,
            "mode": m.mode,
            "window": m.window,
            "relation": m.relation,
            "parent": m.parent,
            "replaces": m.replaces,
            "created": m.created_at,
            "scores": m.metrics,
            "task": match self.task() { Task::Classification => "classification", Task::Regression => "regression" },
            "classes": self.classes(),
            "features": self.feature_columns(),
            "target": recorded_target(m),
        })
    }
}

/// A row error as a 422.
fn row_error(e: RowError) -> ApiError {
    ApiError::unprocessable(e.to_string())
}
