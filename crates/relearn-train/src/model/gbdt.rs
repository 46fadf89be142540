//! The tree family (`model.kind = "gbdt"`): gradient-boosted trees from
//! [`relearn_trees`], on the same encoded inputs as the MLP. A fresh fit (the initial model,
//! a stateless retraining, a drift reset) boosts from scratch; a fine-tune continues the
//! serving forest on the new window only, adding stages of trees fitted to half of what it
//! still gets wrong there, so a continued model keeps every tree it had (up to
//! `gbdt.max_trees` per output, beyond which the next update boosts anew on its window).

use std::sync::Arc;

use relearn_data::{Batch, StreamInfo, Task};
use relearn_model::parts;
use relearn_spec::seed::WindowSeeds;
use relearn_spec::{GbdtSpec, ModelKind, RunSpec};
use relearn_store::Manifest;
use relearn_trees::{Forest, Rows, TreeSettings, TreeTask};

use super::{FreshJob, ModelFamily};
use crate::TrainError;
use crate::checkpoint::{LoadedCheckpoint, ModelInfo, StoredModel};

/// The tree family as one run configures it.
pub struct GbdtFamily {
    settings: GbdtSpec,
    task: Task,
}

impl GbdtFamily {
    /// The family of a run of `spec` (with `model.kind = "gbdt"`) on `info`'s stream.
    pub fn new(spec: &RunSpec, info: &StreamInfo) -> GbdtFamily {
        GbdtFamily {
            settings: spec
                .model
                .gbdt
                .expect("model.kind = \"gbdt\" comes with its [gbdt] settings"),
            task: info.task,
        }
    }

    /// The forest's settings for a fit seeded by `seeds`.
    fn tree_settings(&self, seeds: &WindowSeeds) -> TreeSettings {
        TreeSettings {
            budget: self.settings.budget as f32,
            max_trees: self.settings.max_trees,
            memory_limit_gb: self.settings.memory_limit as f32,
            seed: seeds.weights,
        }
    }

    fn tree_task(&self) -> TreeTask {
        match self.task {
            Task::Classification => TreeTask::Classification,
            Task::Regression => TreeTask::Regression,
        }
    }
}

/// `data`'s encoded features as the forest reads them.
fn rows(data: &Batch) -> Rows<'_> {
    Rows::new(&data.features, data.n_features)
}

impl ModelFamily for GbdtFamily {
    type Model = Arc<Forest>;

    fn fit_fresh(&self, job: FreshJob<'_, Arc<Forest>>) -> Result<(Arc<Forest>, f64), TrainError> {
        let classes = match self.task {
            Task::Classification => job.outputs,
            Task::Regression => 1,
        };
        let forest = Forest::fit(
            self.tree_task(),
            classes,
            rows(job.data),
            &job.data.targets,
            &self.tree_settings(job.seeds),
        )
        .map_err(|source| TrainError::Trees {
            window: job.window,
            source,
        })?;
        let loss = training_loss(&forest, job.data, self.task);
        Ok((Arc::new(forest), loss))
    }

    fn fine_tune(
        &self,
        serving: &Arc<Forest>,
        data: &Batch,
        new_classes: usize,
        window: usize,
        seeds: &WindowSeeds,
    ) -> Result<(Arc<Forest>, f64), TrainError> {
        let forest = serving
            .continued(
                serving.width() + new_classes,
                rows(data),
                &data.targets,
                &self.tree_settings(seeds),
            )
            .map_err(|source| TrainError::Trees { window, source })?;
        let loss = training_loss(&forest, data, self.task);
        Ok((Arc::new(forest), loss))
    }

    fn imported(&self, _data: &Batch) -> Arc<Forest> {
        unreachable!("relearn-spec refuses model.init with model.kind = \"gbdt\"")
    }

    fn outputs(&self, model: &Arc<Forest>, data: &Batch) -> Result<Vec<f32>, String> {
        if data.n_features != model.inputs() {
            return Err(format!(
                "the trees read {} inputs, the rows have {}",
                model.inputs(),
                data.n_features
            ));
        }
        Ok(model.outputs(rows(data)))
    }

    fn describe(&self, model: &Arc<Forest>) -> ModelInfo {
        ModelInfo {
            widths: vec![model.inputs(), model.width()],
            activation: "none".to_string(),
            dropout: 0.0,
            task: self.task,
            backend: "perpetual".to_string(),
            kind: ModelKind::Gbdt,
            trees: Some(model.size()),
        }
    }

    fn parts(&self, model: &Arc<Forest>) -> Vec<(String, Vec<u8>)> {
        vec![(parts::MODEL.to_string(), model.to_bytes())]
    }

    fn resume(
        &self,
        head: &Manifest,
        loaded: LoadedCheckpoint,
        _part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Arc<Forest>, TrainError> {
        match loaded.model {
            StoredModel::Trees(forest) => Ok(forest),
            StoredModel::Mlp(_) => Err(TrainError::bad_checkpoint(
                head,
                "it holds an MLP, but the run's `model.kind` is \"gbdt\"",
            )),
        }
    }
}

/// The forest's mean loss on what it was trained on: cross-entropy of its softmax for
/// classification, mean squared error (standardised) for regression.
fn training_loss(forest: &Forest, data: &Batch, task: Task) -> f64 {
    let outputs = forest.outputs(rows(data));
    let width = outputs.len() / data.len().max(1);
    let mut total = 0.0;
    for (row, &target) in outputs.chunks(width.max(1)).zip(&data.targets) {
        total += match task {
            Task::Regression => f64::from((row[0] - target).powi(2)),
            Task::Classification => {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let log_sum = row
                    .iter()
                    .map(|&v| f64::from(v - max).exp())
                    .sum::<f64>()
                    .ln();
                log_sum - f64::from(row[target as usize] - max)
            }
        };
    }
    total / data.len().max(1) as f64
}
