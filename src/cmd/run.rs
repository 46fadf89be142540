//! `relearn run`: train a config's run, resuming where the store ends.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use relearn_store::{Manifest, Store};
use relearn_train::{Gate, Mode, RunEvent, RunOptions, RunSpec, Verdict};

use super::{ConfigStoreArg, print_text};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML config.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Override `run.mode` (the update policy).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(relearn_spec::Mode::ALL.map(relearn_spec::Mode::name)))]
    mode: Option<String>,
    /// Promotion gate, overriding `[gate] require`: conditions like "accuracy>=0.9" (comma
    /// separated) that each new checkpoint must meet on the newest window it trained on to
    /// become the run's head. A candidate that fails is stored and tagged
    /// `<run>.rejected.<window>` and `rejected`, the head stays, and the run stops with exit
    /// code 1.
    #[arg(long, value_name = "CONDITIONS")]
    gate: Option<String>,
    /// Stop after N windows of the stream in total (initial windows included).
    #[arg(long, value_name = "N")]
    windows: Option<usize>,
    #[command(flatten)]
    store: ConfigStoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = RunSpec::load(&args.config)?;
    if let Some(mode) = args.mode.as_deref().and_then(Mode::parse) {
        spec = spec.with_mode(mode);
    }
    if let Some(text) = &args.gate {
        let gate =
            Gate::parse(text, spec.task()).map_err(|e| UsageError(format!("--gate: {e}")))?;
        spec = spec.with_gate(Some(gate));
    }
    let store_path = args.store.path(&spec)?;
    let new_store = std::fs::symlink_metadata(&store_path).is_err();
    let store = Store::open_for_write(&store_path)?;
    let options = RunOptions {
        max_windows: args.windows,
    };
    let summary = match train(&spec, &store, &options) {
        Ok(summary) => summary,
        Err(e) => {
            if new_store {
                store.remove_if_unused();
            }
            return Err(e);
        }
    };
    if summary.rejected.is_some() {
        // `train` printed why; the store holds the candidate, the head is unchanged.
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `spec` into `store`, printing one line per checkpoint and a progress bar on a
/// terminal.
///
/// A write to stdout that fails (`run > /dev/full`) does not stop the training (the runner
/// offers no way to stop between windows, and what it commits is whole); the lines after
/// it are not printed, and the error is returned once the run is done.
pub fn train(
    spec: &RunSpec,
    store: &Store,
    options: &RunOptions,
) -> anyhow::Result<relearn_train::RunSummary> {
    let bar = progress_bar(&spec.name);
    let task = spec.task();
    // The first failed write to stdout; nothing more is printed after it.
    let stdout_failed: RefCell<Option<anyhow::Error>> = RefCell::new(None);
    let say = |text: String| {
        let mut failed = stdout_failed.borrow_mut();
        if failed.is_none()
            && let Err(e) = print_text(&(text + "\n"))
        {
            *failed = Some(e);
        }
    };
    // What the stream leaves out, said at the end.
    let dropped: RefCell<Option<String>> = RefCell::new(None);
    let mut on_event = |event: &RunEvent| match event {
        RunEvent::Resuming { head, next_window } => bar.suspend(|| {
            say(format!(
                "resuming run '{}' after window {} (checkpoint {}); next window {next_window}",
                spec.name,
                head.window,
                render::short(&head.id)
            ))
        }),
        RunEvent::Planned {
            info,
            stream_windows,
            todo,
        } => {
            tracing::info!(source = %info.source, samples = info.n_samples, stream_windows, todo, "planned");
            *dropped.borrow_mut() = info.dropped_rows_note();
            for note in planned_notes(spec, info, *todo) {
                bar.suspend(|| say(note));
            }
            bar.set_length(*todo as u64);
        }
        RunEvent::Committed(m) => {
            bar.suspend(|| say(render::window_line(m, task)));
            bar.inc(1);
        }
        RunEvent::Rejected {
            candidate,
            verdict,
            tag,
        } => bar.suspend(|| {
            say(format!(
                "{}  REJECTED",
                render::window_line(candidate, task)
            ));
            eprintln!("{}", rejection(&spec.name, candidate, verdict, tag));
        }),
    };
    let summary = relearn_train::run(spec, store, options, &mut on_event)?;
    bar.finish_and_clear();
    if let Some(note) = dropped.into_inner() {
        say(note);
    }
    if let Some(e) = stdout_failed.into_inner() {
        return Err(e);
    }
    Ok(summary)
}

/// The run's progress bar, named `name`: drawn on stderr when it is a terminal, else hidden.
fn progress_bar(name: &str) -> ProgressBar {
    let bar = ProgressBar::hidden();
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} windows  {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// What `run` says on stderr when the promotion gate rejects `candidate`.
fn rejection(run: &str, candidate: &Manifest, verdict: &Verdict, tag: &str) -> String {
    let scores: Vec<String> = verdict
        .scores
        .iter()
        .map(|(k, &v)| format!("{k} {}", render::num(v, 4)))
        .collect();
    format!(
        "error: the promotion gate rejected the candidate for window {} ({}): it fails {} on \
         the newest window it trained on. It is stored as tags '{tag}' and 'rejected'; run \
         '{run}' still serves its previous head, and the run stopped here.",
        candidate.window,
        scores.join(", "),
        verdict.failed.join(", "),
    )
}

/// What `run` says before its first window: a label delay, the columns read as time, or
/// that there is nothing to train.
fn planned_notes(spec: &RunSpec, info: &relearn_data::StreamInfo, todo: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if spec.label_delay > 0 && todo > 0 {
        notes.push(format!(
            "labels arrive {} window(s) after their rows (window.label_delay): each window is \
             scored by the model serving when its rows arrived",
            spec.label_delay
        ));
    }
    notes.extend(info.time_note());
    if todo == 0 {
        notes.push(format!(
            "run '{}' is up to date: nothing to train",
            spec.name
        ));
    }
    notes
}
