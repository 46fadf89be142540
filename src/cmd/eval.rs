//! `relearn eval REF --csv FILE`: scores a checkpoint on labelled data, with the
//! checkpoint's own preprocessing and the same metrics as its manifest.

use std::path::PathBuf;

use std::process::ExitCode;

use relearn_train::inference::{Inference, Read, recorded_target};
use relearn_train::score;
use serde::Serialize;

use super::{StoreArg, outln, print_json};
use crate::csv_input::CsvInput;
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    #[arg(value_name = "REF")]
    reference: String,
    /// Labelled CSV with a header row: every feature column the checkpoint was trained on
    /// (any order; other columns are ignored) and the target column; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Target column [default: the one the run trained on, recorded in the checkpoint;
    /// `y` for generated streams].
    #[arg(long, value_name = "COL")]
    target: Option<String>,
    /// Print `{"id", "samples", "skipped", "metrics"}` as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `eval --json` (SPEC, plus `skipped`).
#[derive(Debug, Serialize)]
struct EvalJson<'a> {
    id: &'a str,
    samples: usize,
    /// Rows left out because their target cell is missing (`data.missing`).
    skipped: usize,
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
    let input = CsvInput::open(&args.csv)?;
    // Each chunk's scores, weighted by its rows when there are several (one chunk: its
    // scores exactly as `run` computes a window's).
    let mut chunks: Vec<(usize, std::collections::BTreeMap<String, f64>)> = Vec::new();
    let read = input.within(|path| {
        let read = inference.for_each_chunk(path, Some(&target), |targets, outputs| {
            let metrics = score::metrics_from_outputs(&outputs, targets, inference.task());
            chunks.push((targets.len(), metrics));
            Ok::<_, anyhow::Error>(())
        })?;
        match read {
            Read { rows: 0, records: 0 } => Err(relearn_data::DataError::NoRows {
                path: path.to_path_buf(),
            }
            .into()),
            // Every row's target is missing: say so, rather than "no data rows".
            Read { rows: 0, records } => Err(UsageError(format!(
                "{}: every one of its {records} rows has a missing target in column \"{target}\" (a \
                     cell the checkpoint reads as missing: {}); eval needs labelled rows",
                path.display(),
                relearn_data::quoted(&inference.checkpoint.preprocessor.missing_tokens())
            ))
            .into()),
            read => Ok(read),
        }
    })?;
    let samples = read.rows;
    let metrics = pooled_metrics(&chunks);
    let skipped = read.records - read.rows;
    if args.json {
        print_json(&EvalJson {
            id: &manifest.id,
            samples,
            skipped,
            metrics: &metrics,
        })?;
    } else {
        outln!(
            "checkpoint {}  {}",
            render::short(&manifest.id),
            render::run_at(manifest)
        )?;
        let skipped_text = if skipped > 0 {
            format!(
                " ({skipped} of its {} rows skipped: their target is missing)",
                samples + skipped
            )
        } else {
            String::new()
        };
        outln!(
            "data       {}: {} samples, target column \"{target}\"{skipped_text}",
            input.name(),
            samples
        )?;
        for (name, value) in &metrics {
            outln!("{name:<10} {}", render::num(*value, 6))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The scores of a file read in chunks: each metric (a mean over rows) weighted by the
/// chunk's rows; a single chunk's own scores as they are.
fn pooled_metrics(
    chunks: &[(usize, std::collections::BTreeMap<String, f64>)],
) -> std::collections::BTreeMap<String, f64> {
    if let [(_, only)] = chunks {
        return only.clone();
    }
    let total: usize = chunks.iter().map(|(n, _)| n).sum();
    let mut pooled = std::collections::BTreeMap::new();
    for (n, metrics) in chunks {
        for (name, value) in metrics {
            *pooled.entry(name.clone()).or_insert(0.0) += value * *n as f64 / total as f64;
        }
    }
    pooled
}
