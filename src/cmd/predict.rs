//! `relearn predict REF --csv FILE`: one prediction per input row, as CSV on stdout.

use std::io::{self, Seek};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use relearn_train::inference::{Inference, Prediction, predictions};

use super::{StoreArg, print_json, write_stdout};
use crate::csv_input::CsvInput;

/// Arguments of `relearn predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    #[arg(value_name = "REF")]
    reference: String,
    /// CSV with a header row holding every feature column the checkpoint was trained on
    /// (any order; other columns, a target column included, are ignored); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Print `{"id", "predictions": [...]}` as JSON instead of CSV.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let inference = Inference::load(&store, &args.reference)?;
    let input = CsvInput::open(&args.csv)?;
    let classes = &inference.checkpoint.preprocessor.classes;
    if !args.json {
        // The file is read a chunk at a time and the predictions go to a temporary file,
        // so memory stays flat; every row is checked before anything is printed, and the
        // temporary file is copied to stdout once the whole input has been read.
        let mut spool = csv::Writer::from_writer(tempfile::tempfile()?);
        let mut header = vec!["prediction".to_string()];
        header.extend(classes.iter().map(|c| format!("p_{c}")));
        spool.write_record(&header)?;
        // A file with a header (naming the checkpoint's features) and no rows has no
        // predictions: an empty answer (the header line alone, or an empty list).
        input.within(|path| {
            inference.for_each_chunk(path, None, |_, outputs| {
                let rows = predictions(inference.task(), classes, &outputs);
                write_rows(&mut spool, classes, &rows)?;
                Ok(())
            })
        })?;
        let mut file = spool.into_inner().map_err(|e| e.into_error())?;
        file.seek(io::SeekFrom::Start(0))?;
        write_stdout(|out| io::copy(&mut file, out).map(|_| ()))?;
        return Ok(ExitCode::SUCCESS);
    }
    // JSON: one document, so the predictions are held until it is printed.
    let mut outputs = Vec::new();
    input.within(|path| {
        inference.for_each_chunk(path, None, |_, chunk| {
            outputs.extend(chunk);
            Ok(())
        })
    })?;
    let rows = predictions(inference.task(), classes, &outputs);
    let predictions: Vec<Value> = rows.iter().map(|row| row.to_json(classes)).collect();
    print_json(&json!({
        "id": inference.checkpoint.manifest.id,
        "predictions": predictions,
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the CSV rows of `rows` (the header is written once, before the first chunk): a
/// `prediction` column (class name or value), and for classification one `p_<class>`
/// column per class.
fn write_rows<W: io::Write>(
    out: &mut csv::Writer<W>,
    classes: &[String],
    rows: &[Prediction],
) -> csv::Result<()> {
    let mut record: Vec<String> = Vec::with_capacity(classes.len() + 1);
    for row in rows {
        record.clear();
        match row {
            Prediction::Class { index, probs } => {
                record.push(classes[*index].clone());
                record.extend(probs.iter().map(|&p| probability(p as f32)));
            }
            Prediction::Value(v) => record.push(v.to_string()),
        }
        out.write_record(&record)?;
    }
    Ok(())
}

/// A probability in the shortest text that reads back to the same `f32`; scientific
/// notation below 1e-4 (`1.0338064e-12`, not `0.0000000000010338064`).
fn probability(p: f32) -> String {
    if p != 0.0 && p < 1e-4 {
        format!("{p:e}")
    } else {
        p.to_string()
    }
}
