//! `relearn eval REF --csv FILE`: scores a checkpoint on labelled data, with the
//! checkpoint's own preprocessing and the same metrics as its manifest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::process::ExitCode;

use burn::tensor::Device;
use relearn_data::{Batch, CsvRows, Scaling, Task};
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
            let metrics = fit::metrics_from_outputs(&outputs, targets, inference.task());
            chunks.push((targets.len(), metrics));
            Ok(())
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
                quoted(&inference.checkpoint.preprocessor.missing_tokens())
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

/// `"", "NA", "?"`: cells as a message quotes them.
fn quoted(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--csv FILE` of `eval` and `predict`: a file, or `-` for stdin, which is first copied to
/// a temporary file (removed when done) so that it is read as a file is, and messages name
/// it `stdin`.
pub struct CsvInput {
    path: PathBuf,
    stdin: Option<tempfile::NamedTempFile>,
}

impl CsvInput {
    /// Opens `--csv`: `-` copies stdin.
    pub fn open(arg: &Path) -> anyhow::Result<CsvInput> {
        if arg.as_os_str() != "-" {
            return Ok(CsvInput {
                path: arg.to_path_buf(),
                stdin: None,
            });
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".relearn-stdin-")
            .suffix(".csv")
            .tempfile()
            .context("cannot make a temporary file to hold stdin")?;
        std::io::copy(&mut std::io::stdin().lock(), tmp.as_file_mut())
            .context("cannot read the CSV from stdin")?;
        Ok(CsvInput {
            path: tmp.path().to_path_buf(),
            stdin: Some(tmp),
        })
    }

    /// The input as messages name it: the path, or `stdin`.
    pub fn name(&self) -> String {
        match self.stdin {
            Some(_) => "stdin".to_string(),
            None => self.path.display().to_string(),
        }
    }

    /// Runs `read` on the file; for stdin, its errors name `stdin` instead of the temporary
    /// file (with the same exit code).
    pub fn within<T>(&self, read: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let result = read(&self.path);
        match (&self.stdin, result) {
            (Some(_), Err(e)) => {
                let message = format!("{e:#}").replace(&self.path.display().to_string(), "stdin");
                Err(match crate::exit::is_user_error(&e) {
                    true => UsageError(message).into(),
                    false => WorkFailed(message).into(),
                })
            }
            (_, result) => result,
        }
    }
}

/// The target column the run trained on (`extra.target` of the manifest).
pub fn recorded_target(manifest: &Manifest) -> Option<String> {
    Some(relearn_train::CheckpointExtra::of(manifest).ok()?.target)
}

/// A checkpoint ready to score or predict: its state, and its model on a plain (inference)
/// device of the backend it was trained on. Shared by `eval`, `predict` and
/// `compare` (which scores each checkpoint on the previous concept with it).
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

    /// Reads `path` with the checkpoint's features (and `target`, if given: rows whose
    /// target is missing are skipped) [`CHUNK_ROWS`] rows at a time, so a file of any size
    /// goes through in flat memory: encodes each chunk with the checkpoint's preprocessing
    /// and hands `each` its targets as written and the model's outputs
    /// ([`Inference::outputs`]). Returns how many rows it read, and how many data records
    /// the file has (those whose target is missing included).
    pub fn for_each_chunk(
        &self,
        path: &Path,
        target: Option<&str>,
        mut each: impl FnMut(&[f32], Vec<f32>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Read> {
        let pre = &self.checkpoint.preprocessor;
        let mut reader = CsvRows::open(path, pre, target)?;
        let mut rows = 0;
        while let Some((batch, _, records)) = reader.next_chunk(CHUNK_ROWS)? {
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
    /// [`Inference::read_csv`]. A row whose output is not finite (a feature far beyond what
    /// the model was trained on, like `3e38` written as a "missing" marker, overflows it) is
    /// bad input (exit code 2), naming the row, rather than a NaN prediction or score.
    pub fn outputs(
        &self,
        path: &Path,
        batch: &Batch,
        records: &[usize],
    ) -> anyhow::Result<Vec<f32>> {
        let mut outputs = fit::outputs(&self.model, batch, &self.device);
        let width = (outputs.len() / batch.len().max(1)).max(1);
        let bad = outputs
            .chunks(width)
            .position(|row| row.iter().any(|v| !v.is_finite()));
        match bad {
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
                Err(self.non_finite(path, batch, row, record, nan).into())
            }
        }
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
    ) -> UsageError {
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
        UsageError(message)
    }
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
