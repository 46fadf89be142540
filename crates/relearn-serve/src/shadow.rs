//! The shadow challenger: a sample of requests is also answered by a second checkpoint
//! (`--shadow REF`), off the response path: after the served model has answered, on one
//! blocking thread at most, under a timeout. Its predictions go to the prediction log under
//! the same request id and row; its failure, slowness or absence never touches the served
//! answer. `relearn shadow-report` then compares the two on the same rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use relearn_data::Task;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::Rows;
use crate::log::{Appender, Record};
use crate::metrics::Metrics;
use crate::watch::Followed;

/// The challenger and how it is sampled.
pub struct Shadow {
    /// The challenger, following its REF.
    pub followed: Arc<Followed>,
    /// The share of requests it also answers, in `[0, 1]`.
    pub fraction: f64,
    /// How long its answer may take; a later one is dropped.
    pub timeout: Duration,
    /// One challenger job at a time: a request sampled while one runs is skipped ("busy").
    pub busy: Arc<Semaphore>,
    /// Where its predictions go.
    pub log: Appender,
    /// Where its outcomes are counted.
    pub metrics: Metrics,
    /// The id column logged with each row.
    pub id_column: Option<String>,
}

impl Shadow {
    /// Whether this request is sampled.
    pub fn sampled(&self) -> bool {
        self.fraction >= 1.0 || (self.fraction > 0.0 && rand::random::<f64>() < self.fraction)
    }

    /// Answers `rows` with the challenger in the background and logs its predictions next
    /// to the served ones (`served`: their labels, for agreement).
    pub fn spawn(self: &Arc<Self>, request_id: String, rows: Arc<Rows>, served: Arc<Vec<Value>>) {
        let Ok(permit) = self.busy.clone().try_acquire_owned() else {
            self.metrics.shadow("busy");
            return;
        };
        let shadow = self.clone();
        tokio::spawn(async move { shadow.answer(permit, request_id, rows, served).await });
    }

    /// Runs the challenger on `rows` (holding `permit`, on a blocking thread) under the
    /// timeout, then logs and counts the outcome.
    async fn answer(
        &self,
        permit: OwnedSemaphorePermit,
        request_id: String,
        rows: Arc<Rows>,
        served: Arc<Vec<Value>>,
    ) {
        let model = self.followed.model.load_full();
        let started = Instant::now();
        let (job_model, job_rows) = (model.clone(), rows.clone());
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job_model.predict(&job_rows, true)
        });
        let predictions = match tokio::time::timeout(self.timeout, job).await {
            Err(_) => return self.metrics.shadow("timeout"),
            Ok(Err(_)) => return self.metrics.shadow("error"),
            Ok(Ok(Err(e))) => {
                tracing::debug!(
                    "shadow {:.12} failed on request {request_id}: {}",
                    model.id,
                    e.message
                );
                return self.metrics.shadow("error");
            }
            // An answer past the deadline is as late as none (and 0 ms drops every one).
            Ok(Ok(Ok(_))) if started.elapsed() > self.timeout => {
                return self.metrics.shadow("timeout");
            }
            Ok(Ok(Ok(predictions))) => predictions,
        };
        self.metrics.shadow("answered");
        if model.task() == Task::Classification {
            let agreed = predictions
                .iter()
                .zip(served.iter())
                .filter(|(p, served)| p.label(model.classes()) == **served)
                .count();
            self.metrics
                .shadow_compared(predictions.len() as u64, agreed as u64);
        }
        let record = Record {
            request_id: &request_id,
            model: &model,
            predictions: &predictions,
            rows: &rows,
            id_column: self.id_column.as_deref(),
        };
        self.log
            .append(record.shadow_line(), predictions.len() as u64);
    }
}
