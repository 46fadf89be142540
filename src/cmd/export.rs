//! `relearn export REF --format safetensors --out FILE`: a checkpoint's weights for other
//! tools, under the names a PyTorch `nn.Sequential` of `nn.Linear` layers would give them,
//! with the preprocessing state as metadata.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use relearn_data::{Preprocessor, Scaling};
use relearn_model::MlpWeights;
use relearn_store::Manifest;
use relearn_train::{LoadedCheckpoint, ModelInfo, StoredModel};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{StoreArg, outln, print_json};
use crate::exit::UsageError;
use crate::output::{check_output_path, write_atomic};
use crate::render;

/// Arguments of `relearn export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    #[arg(value_name = "REF")]
    reference: String,
    /// Output format: `safetensors` for an MLP (PyTorch's `nn.Linear` names), `perpetual`
    /// for trees (each stage in perpetual's own JSON).
    #[arg(long, default_value = "safetensors", value_parser = ["safetensors", "perpetual"])]
    format: String,
    /// The file to write (replaced atomically if it exists).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Print a JSON summary of what was written.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// One tensor of the export.
#[derive(Debug, Clone, Serialize)]
pub struct Tensor {
    /// `layers.{i}.weight` or `layers.{i}.bias`.
    pub name: String,
    /// PyTorch layout: `[out, in]` for weights, `[out]` for biases.
    pub shape: Vec<usize>,
    /// Values, row-major.
    #[serde(skip)]
    pub values: Vec<f32>,
}

/// `export --json`.
#[derive(Debug, Serialize)]
struct ExportJson<'a> {
    id: &'a str,
    out: &'a Path,
    format: &'a str,
    bytes: usize,
    tensors: &'a [Tensor],
    metadata: &'a Map<String, Value>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    check_output_path(&args.out)?;
    let id = store.resolve(&args.reference)?;
    let checkpoint = LoadedCheckpoint::load(&store, store.manifest(&id)?)?;
    let weights = match (&checkpoint.model, args.format.as_str()) {
        (StoredModel::Mlp(w), "safetensors") => w,
        (StoredModel::Trees(forest), "perpetual") => {
            return export_trees(&args, &checkpoint, forest);
        }
        (StoredModel::Trees(_), _) => {
            return Err(UsageError(format!(
                "checkpoint {} is a gbdt (tree) model: export it with `--format perpetual`",
                render::short(&checkpoint.manifest.id)
            ))
            .into());
        }
        (StoredModel::Mlp(_), _) => {
            return Err(UsageError(format!(
                "checkpoint {} is an MLP: export it with `--format safetensors`",
                render::short(&checkpoint.manifest.id)
            ))
            .into());
        }
    };
    let tensors = pytorch_tensors(weights);
    let metadata = metadata(
        &checkpoint.manifest,
        &checkpoint.info,
        &checkpoint.preprocessor,
    );
    let bytes = safetensors_bytes(&tensors, &metadata);
    write_atomic(&args.out, |w| Ok(w.write_all(&bytes)?))?;
    let m = &checkpoint.manifest;
    if args.json {
        print_json(&ExportJson {
            id: &m.id,
            out: &args.out,
            format: &args.format,
            bytes: bytes.len(),
            tensors: &tensors,
            metadata: &metadata,
        })?;
    } else {
        outln!(
            "exported checkpoint {} ({}) to {} ({}, {} parameters)",
            render::short(&m.id),
            render::run_at(m),
            args.out.display(),
            render::bytes(bytes.len() as u64),
            weights.num_params()
        )?;
        for t in &tensors {
            outln!("  {:<18} f32 {:?}", t.name, t.shape)?;
        }
        let keys: Vec<String> = metadata.keys().cloned().collect();
        outln!("  metadata: {}", keys.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The weights as PyTorch names them: `layers.{i}.weight` in `nn.Linear`'s `[out, in]`
/// layout (ours are `[in, out]`, so transposed) and `layers.{i}.bias`.
pub fn pytorch_tensors(weights: &MlpWeights) -> Vec<Tensor> {
    let mut tensors = Vec::with_capacity(2 * weights.layers.len());
    for (i, layer) in weights.layers.iter().enumerate() {
        let (d_in, d_out) = (layer.d_input, layer.d_output);
        let mut transposed = vec![0.0f32; d_in * d_out];
        for r in 0..d_in {
            for c in 0..d_out {
                transposed[c * d_in + r] = layer.weight[r * d_out + c];
            }
        }
        tensors.push(Tensor {
            name: format!("layers.{i}.weight"),
            shape: vec![d_out, d_in],
            values: transposed,
        });
        tensors.push(Tensor {
            name: format!("layers.{i}.bias"),
            shape: vec![d_out],
            values: layer.bias.clone(),
        });
    }
    tensors
}

/// `export --format perpetual`: the forest as one JSON document: the checkpoint's
/// preprocessing (the metadata a safetensors export carries) and, per output, its constant
/// and its stages, each a booster in perpetual's own JSON (`PerpetualBooster.from_json` in
/// Python); an output's value is its constant plus the sum of its stages' predictions on
/// the preprocessed inputs.
fn export_trees(
    args: &Args,
    checkpoint: &LoadedCheckpoint,
    forest: &relearn_trees::Forest,
) -> anyhow::Result<ExitCode> {
    let m = &checkpoint.manifest;
    let metadata = metadata(m, &checkpoint.info, &checkpoint.preprocessor);
    let python = [("n_features_", forest.inputs().to_string())];
    let outputs: Vec<Value> = (0..forest.output_count())
        .map(|k| {
            let (constant, stages) = forest
                .output_json(k, &python)
                .expect("k is below the output count");
            let stages: Vec<Value> = stages
                .iter()
                .map(|s| serde_json::from_str(s).expect("a booster's JSON parses"))
                .collect();
            json!({ "constant": constant, "stages": stages })
        })
        .collect();
    let doc = json!({
        "format": "relearn-gbdt-export",
        "classes": forest.width(),
        "binary_logits": "two classes: the one output is class 1's log-odds against class 0",
        "metadata": metadata,
        "outputs": outputs,
    });
    let bytes = serde_json::to_vec(&doc)?;
    write_atomic(&args.out, |w| Ok(w.write_all(&bytes)?))?;
    let size = forest.size();
    if args.json {
        print_json(&json!({
            "id": m.id,
            "out": args.out,
            "format": args.format,
            "bytes": bytes.len(),
            "trees": size,
            "metadata": metadata,
        }))?;
    } else {
        outln!(
            "exported checkpoint {} ({}) to {} ({}, {} boosters, {} trees, {} nodes)",
            render::short(&m.id),
            render::run_at(m),
            args.out.display(),
            render::bytes(bytes.len() as u64),
            size.boosters,
            size.trees,
            size.nodes
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `__metadata__` string map: where the weights come from and everything needed to
/// reproduce the checkpoint's predictions (JSON text for lists).
pub fn metadata(manifest: &Manifest, info: &ModelInfo, pre: &Preprocessor) -> Map<String, Value> {
    let scaler = &pre.scaler;
    // The transform `Scaler::transform` applies: identity when scaling is off or unfitted.
    let (mean, std) = if scaler.mode == Scaling::None || scaler.count == 0 {
        (
            vec![0.0; scaler.n_features()],
            vec![1.0; scaler.n_features()],
        )
    } else {
        (scaler.mean.clone(), scaler.std())
    };
    let target = relearn_train::inference::recorded_target(manifest).unwrap_or_default();
    let entries = [
        ("format", "pt".to_string()),
        (
            "exported_by",
            format!("relearn {}", env!("CARGO_PKG_VERSION")),
        ),
        ("checkpoint_id", manifest.id.to_string()),
        ("run", manifest.run.clone()),
        ("mode", manifest.mode.clone()),
        ("window", manifest.window.to_string()),
        ("relation", manifest.relation.as_str().to_string()),
        ("task", pre.task.name().to_string()),
        ("widths", json!(info.widths).to_string()),
        ("activation", info.activation.clone()),
        (
            "layout",
            "nn.Linear: y = x @ weight.T + bias; the activation follows every layer but the last"
                .to_string(),
        ),
        ("feature_names", json!(pre.feature_names).to_string()),
        ("classes", json!(pre.classes).to_string()),
        ("target", target),
        ("scaler_mode", scaler.mode.name().to_string()),
        ("scaler_mean", json!(mean).to_string()),
        ("scaler_std", json!(std).to_string()),
        // Standardised inputs are clipped to ±clip (`data.clip`); "inf" when never.
        ("scaler_clip", scaler.clip.to_string()),
        // The exact preprocessing state (scaler statistics, label map, target scaling), so
        // that `model.init` of this file reproduces the checkpoint (docs/import.md).
        (
            "preprocessor",
            String::from_utf8(pre.to_bytes()).expect("the preprocessing state is JSON"),
        ),
    ];
    // Regression: the model's output is the standardised target.
    let target_scaling = pre.target.map(|t| {
        [
            ("target_mean", json!(t.mean).to_string()),
            ("target_std", json!(t.std).to_string()),
        ]
    });
    // A table with categorical columns or missing cells: how a raw row becomes the inputs
    // after the scaled numeric features (docs/export-python.md shows the Python).
    let encoders = pre
        .encoders
        .as_ref()
        .map(|e| ("encoders", json!(e).to_string()));
    entries
        .into_iter()
        .chain(target_scaling.into_iter().flatten())
        .chain(encoders)
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect()
}

/// A safetensors file: an 8-byte little-endian header length, the JSON header (tensor
/// dtypes, shapes and byte ranges, plus `__metadata__`) padded with spaces to a multiple of
/// 8 bytes, then the tensors' little-endian bytes in order. Deterministic: the same
/// checkpoint always gives the same bytes.
pub fn safetensors_bytes(tensors: &[Tensor], metadata: &Map<String, Value>) -> Vec<u8> {
    let mut header = Map::new();
    header.insert("__metadata__".into(), Value::Object(metadata.clone()));
    let mut offset = 0usize;
    for t in tensors {
        let end = offset + 4 * t.values.len();
        header.insert(
            t.name.clone(),
            json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut header = serde_json::to_vec(&Value::Object(header)).expect("header serializes");
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for t in tensors {
        for v in &t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
