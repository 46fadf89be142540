//! `relearn shadow-report --run NAME`: the served model against the shadow challenger on the
//! same rows, from the prediction log of `relearn serve` (and labels, when they have come).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use relearn_serve::report::{LabelFile, Report, report};

use super::{StoreArg, print_json, write_stdout};

/// Arguments of `relearn shadow-report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run whose prediction log is read (STORE/predictions/NAME).
    #[arg(long, value_name = "NAME")]
    run: String,
    /// Read the log from this folder instead (the server's --log-dir).
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Labels that arrived later, joined to the log's row ids: a CSV or Parquet file, a
    /// folder or a glob.
    #[arg(long, value_name = "PATH")]
    labels: Option<PathBuf>,
    /// The labels' id column (the server's --id-column) [default: the run's data.id, else
    /// "id"].
    #[arg(long, value_name = "COLUMN")]
    id_column: Option<String>,
    /// The labels' label column [default: the run's data.target].
    #[arg(long, value_name = "COLUMN")]
    label_column: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    relearn_store::validate_name("run", &args.run)?;
    let dir = args
        .log_dir
        .unwrap_or_else(|| args.store.path().join("predictions").join(&args.run));
    let labels = match args.labels {
        Some(path) => {
            let (id, target) = recorded_columns(&args.store, &args.run);
            let label_column = args.label_column.or(target).ok_or_else(|| {
                anyhow::Error::new(crate::exit::UsageError(format!(
                    "--labels needs --label-column: run '{}' has no checkpoint that names its target",
                    args.run
                )))
            })?;
            Some(LabelFile {
                path,
                id_column: args.id_column.or(id).unwrap_or_else(|| "id".to_string()),
                label_column,
            })
        }
        None => None,
    };
    let report = report(&dir, labels.as_ref())?;
    if args.json {
        print_json(&serde_json::to_value(&report)?)?;
    } else {
        write_stdout(|out| out.write_all(render(&report).as_bytes()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The run's `data.id` and target, as its head checkpoint recorded them (`None` when the
/// store or run has none).
fn recorded_columns(store: &StoreArg, run: &str) -> (Option<String>, Option<String>) {
    let Ok(store) = relearn_store::Store::open(&store.path()) else {
        return (None, None);
    };
    let Some(manifest) = store.head_manifest(run).ok().flatten() else {
        return (None, None);
    };
    (
        relearn_train::inference::recorded_id_column(&manifest),
        relearn_train::inference::recorded_target(&manifest),
    )
}

/// The report as text.
fn render(report: &Report) -> String {
    let mut text = format!(
        "prediction log {} ({} file{})\n",
        report.log_dir.display(),
        report.files,
        if report.files == 1 { "" } else { "s" }
    );
    for (model, rows) in &report.served {
        text.push_str(&format!("  served by {model:.12}: {rows} rows\n"));
    }
    text.push_str(&format!("  shadowed: {} rows\n", report.shadowed));
    if report.ambiguous_requests > 0 {
        text.push_str(&format!(
            "  left out: {} request id(s) given to more than one request (their shadow rows \
             cannot be matched to the right answer)\n",
            report.ambiguous_requests
        ));
    }
    for s in &report.scores {
        text.push_str(&format!(
            "  {:.12} on its {} labelled rows, {}: {:.4}\n",
            s.model, s.labelled, s.metric, s.score
        ));
    }
    if report.labels.is_some() && report.scores.is_empty() {
        text.push_str("  no labelled rows yet (no label matches a logged row id)\n");
    }
    if report.pairs.is_empty() {
        text.push_str(
            "no shadow predictions in the log (start `relearn serve` with --shadow REF)\n",
        );
    }
    for p in &report.pairs {
        text.push_str(&format!(
            "\n{:.12} (served) vs {:.12} (shadow): {} rows\n",
            p.model, p.shadow_model, p.rows
        ));
        if let Some(a) = p.agreement {
            text.push_str(&format!("  agreement: {:.2}%\n", a * 100.0));
        }
        if let Some(d) = p.mean_abs_diff {
            text.push_str(&format!("  mean |difference|: {d:.6}\n"));
        }
        match (p.metric, p.model_score, p.shadow_score) {
            (Some(metric), Some(ours), Some(theirs)) => text.push_str(&format!(
                "  on {} labelled rows, {metric}: served {ours:.4}, shadow {theirs:.4}\n",
                p.labelled
            )),
            _ if report.labels.is_some() => {
                text.push_str("  no labelled rows yet (no label matches a logged row id)\n")
            }
            _ => {}
        }
    }
    text
}
