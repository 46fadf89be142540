//! `relearn generate --config FILE --out FILE.csv`: writes a config's stream (a built-in
//! generator, or the windows of its CSV source) as CSV, so that `eval` and `predict` can be
//! run on exactly the windows a run saw.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use relearn_data::{Stream, StreamSource, Task};
use relearn_train::RunSpec;

use super::{outln, write_stdout_with};
use crate::exit::UsageError;
use crate::output::{check_output_path, write_atomic};

/// Arguments of `relearn generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML config (its `[data]` and `[window]` sections are used).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The CSV file to write (replaced atomically), or `-` for stdout.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Stop after window N-1, i.e. N windows from the start of the stream (as `run
    /// --windows N`) [default: every full window].
    #[arg(long, value_name = "N")]
    windows: Option<usize>,
    /// Start at window W (rows of earlier windows are not written).
    #[arg(long, value_name = "W", default_value_t = 0)]
    from: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = RunSpec::load(&args.config)?;
    let to_stdout = args.out.as_os_str() == "-";
    if !to_stdout {
        check_output_path(&args.out)?;
    }
    let stream = Stream::open(&spec.source, spec.window_size, spec.initial_windows)?;
    let end = args.windows.unwrap_or(usize::MAX).min(stream.n_windows());
    if args.from >= end {
        return Err(UsageError(format!(
            "no windows to write: --from {} is not below {end} (the stream has {} windows of {} samples{})",
            args.from,
            stream.n_windows(),
            spec.window_size,
            args.windows
                .map(|n| format!(", and --windows {n} stops before"))
                .unwrap_or_default()
        ))
        .into());
    }
    let target = match &spec.source {
        StreamSource::Csv(csv) => csv.target.clone(),
        StreamSource::Generator(_) => "y".to_string(),
    };
    let write = |w: &mut dyn Write| write_windows(&stream, &target, args.from, end, w);
    let rows = if to_stdout {
        match write_stdout_with(write)? {
            Some(rows) => rows,
            // The reader went away (`| head`): it has what it wanted.
            None => return Ok(ExitCode::SUCCESS),
        }
    } else {
        let mut rows = 0;
        write_atomic(&args.out, |w| {
            rows = write(w)?;
            Ok(())
        })?;
        rows
    };
    let info = stream.info();
    let message = format!(
        "wrote {rows} rows (windows {}..={} of {} samples) of {} to {}",
        args.from,
        end - 1,
        spec.window_size,
        info.source,
        if to_stdout {
            "stdout".to_string()
        } else {
            args.out.display().to_string()
        }
    );
    if to_stdout {
        eprintln!("{message}");
    } else {
        outln!("{message}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes windows `from..end`: a header (the numeric feature names, then the categorical
/// columns', then the target column), then one row per sample; classes by name (those first
/// seen after the initial windows included), numbers in the shortest form that reads back to
/// the same `f32`, text cells as read, and a missing cell as the stream's first spelling of
/// a missing value (blank when `data.missing` holds the empty cell, as by default), so that
/// `eval` and `predict` read the file back as the run read its source. Returns the number of
/// rows.
fn write_windows(
    stream: &Stream,
    target: &str,
    from: usize,
    end: usize,
    w: &mut dyn Write,
) -> anyhow::Result<usize> {
    let info = stream.info();
    let classes = info.all_classes();
    let missing = missing_cell(&info.missing);
    let mut out = csv::Writer::from_writer(w);
    let mut header = info.feature_names.clone();
    header.extend(info.categorical.iter().map(|c| c.name.clone()));
    header.push(target.to_string());
    out.write_record(&header)?;
    let mut rows = 0;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for window in stream.windows_from(from)? {
        let window = window?;
        if window.index >= end {
            break;
        }
        let batch = &window.batch;
        for i in 0..batch.len() {
            record.clear();
            record.extend(batch.row(i).iter().map(|x| {
                if x.is_nan() {
                    missing.to_string()
                } else {
                    x.to_string()
                }
            }));
            record.extend(batch.categories_of(i).iter().map(|c| {
                if c.is_empty() {
                    missing.to_string()
                } else {
                    c.clone()
                }
            }));
            let t = batch.targets[i];
            record.push(match info.task {
                Task::Classification => match classes.get(t as usize) {
                    Some(label) => label.clone(),
                    None => anyhow::bail!(
                        "window {}: sample {i} has class id {t}, but the stream knows {} classes; \
                         this is a bug in relearn, please report it",
                        window.index,
                        classes.len()
                    ),
                },
                Task::Regression => t.to_string(),
            });
            out.write_record(&record)?;
            rows += 1;
        }
    }
    out.flush()?;
    Ok(rows)
}

/// How a missing cell is written: blank when `missing` (the stream's `data.missing`,
/// trimmed) holds the empty cell or is empty, else its first spelling (`?` for `missing =
/// ["?"]`), which the stream and a checkpoint made from it read back as missing.
fn missing_cell(missing: &[String]) -> &str {
    if missing.iter().any(String::is_empty) {
        ""
    } else {
        missing.first().map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cell_is_written_as_the_stream_reads_it() {
        let v = |s: &[&str]| s.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(missing_cell(&v(&["", "NA", "NaN"])), "");
        assert_eq!(missing_cell(&v(&["?", "n/a"])), "?");
        assert_eq!(missing_cell(&v(&["NA", ""])), "");
        assert_eq!(missing_cell(&[]), "");
    }
}
