//! `relearn eval REF --csv FILE`: scores a checkpoint on labelled data, with the
//! checkpoint's own preprocessing and the same metrics as its manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Device;
use relearn_data::{Batch, Task, read_labelled_csv};
use relearn_model::{Backend, Mlp};
use relearn_store::{Manifest, Store};
use relearn_train::{LoadedCheckpoint, fit};
use serde::Serialize;

use super::{StoreArg, outln, print_json};
use crate::exit::{UsageError, WorkFailed};
use crate::render;

/// Arguments of `relearn eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    #[arg(value_name = "REF")]
    reference: String,
    /// Labelled CSV with a header row: every feature column the checkpoint was trained on
    /// (any order; other columns are ignored) and the target column.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Target column [default: the one the run trained on, recorded in the checkpoint;
    /// `y` for generated streams].
    #[arg(long, value_name = "COL")]
    target: Option<String>,
    /// Print `{"id", "samples", "metrics"}` as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `eval --json` (SPEC).
#[derive(Debug, Serialize)]
struct EvalJson<'a> {
    id: &'a str,
    samples: usize,
    metrics: &'a std::collections::BTreeMap<String, f64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let inference = Inference::load(&store, &args.reference)?;
    let manifest = &inference.checkpoint.manifest;
    let target = match args.target {
        Some(t) => t,
        None => recorded_target(manifest).ok_or_else(|| {
            UsageError(format!(
                "checkpoint {} does not record its target column; pass --target COL",
                render::short(&manifest.id)
            ))
        })?,
    };
    let batch = inference.read_csv(&args.csv, Some(&target))?;
    let metrics = fit::score(
        &inference.model,
        &batch,
        inference.task(),
        &inference.device,
    );
    if args.json {
        print_json(&EvalJson {
            id: &manifest.id,
            samples: batch.len(),
            metrics: &metrics,
        })?;
    } else {
        outln!(
            "checkpoint {}  {}",
            render::short(&manifest.id),
            render::run_at(manifest)
        )?;
        outln!(
            "data       {}: {} samples, target column \"{target}\"",
            args.csv.display(),
            batch.len()
        )?;
        for (name, value) in &metrics {
            outln!("{name:<10} {value:.6}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The target column the run trained on (`extra.target` of the manifest).
pub fn recorded_target(manifest: &Manifest) -> Option<String> {
    manifest
        .extra
        .get("target")
        .and_then(|t| t.as_str())
        .map(str::to_string)
}

/// A checkpoint ready to score or predict: its state, and its model on a plain (inference)
/// device of the backend it was trained on. Shared by `eval` and `predict`.
pub struct Inference {
    /// Manifest, weights, preprocessing, architecture.
    pub checkpoint: LoadedCheckpoint,
    /// The model holding the checkpoint's weights.
    pub model: Mlp,
    /// The device the model lives on.
    pub device: Device,
}

impl Inference {
    /// Resolves `reference` and loads the checkpoint (verifying its objects' hashes).
    pub fn load(store: &Store, reference: &str) -> anyhow::Result<Inference> {
        let id = store.resolve(reference)?;
        Inference::of(store, store.manifest(&id)?)
    }

    /// Loads the checkpoint of `manifest` (verifying its objects' hashes).
    pub fn of(store: &Store, manifest: Manifest) -> anyhow::Result<Inference> {
        let id = manifest.id.clone();
        let checkpoint = LoadedCheckpoint::load(store, manifest)?;
        let bad = |message: String| {
            WorkFailed(format!(
                "checkpoint {} cannot be loaded: {message}",
                render::short(&id)
            ))
        };
        let backend = Backend::parse(&checkpoint.info.backend)
            .ok_or_else(|| bad(format!("unknown backend {:?}", checkpoint.info.backend)))?;
        let device = backend.device();
        let config = checkpoint.info.mlp_config().map_err(bad)?;
        let model = config
            .init_with(&checkpoint.weights, &device)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Inference {
            checkpoint,
            model,
            device,
        })
    }

    /// The checkpoint's task.
    pub fn task(&self) -> Task {
        self.checkpoint.preprocessor.task
    }

    /// Reads `path` with the checkpoint's features (and `target`, if given) and scales it
    /// with the checkpoint's scaler: model-ready inputs.
    pub fn read_csv(&self, path: &Path, target: Option<&str>) -> anyhow::Result<Batch> {
        let pre = &self.checkpoint.preprocessor;
        let (batch, _) = read_labelled_csv(path, pre, target)?;
        Ok(pre.scaler.transform(&batch))
    }
}
