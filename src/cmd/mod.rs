//! One module per subcommand.

mod compare;
mod diff;
mod eval;
mod export;
mod gc;
mod generate;
mod log;
mod predict;
mod rollback;
mod run;
mod serve;
mod shadow_report;
mod show;
mod tag;
mod tree;
mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relearn_store::Store;

/// Keep a neural model current as data drifts: stateless retraining, stateful
/// fine-tuning, replay or drift-triggered resets, every model a checkpoint with its lineage.
#[derive(Debug, Parser)]
#[command(name = "relearn", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the initial model if the run has none, then one update per new window.
    Run(run::Args),
    /// List checkpoints in creation order.
    Log(log::Args),
    /// Show one checkpoint: manifest, lineage, metrics, sizes.
    Show(show::Args),
    /// Draw the lineage of each run as a tree.
    Tree(tree::Args),
    /// Compare two checkpoints: per-layer weight-delta norms and metric deltas.
    Diff(diff::Args),
    /// Re-hash every object and manifest and check every ref and link; exit 1 on problems.
    Verify(verify::Args),
    /// Create (`tag REF NAME`), remove (`--delete NAME`) or list (`tag`) tags.
    Tag(tag::Args),
    /// Move a run's serving ref back to an earlier checkpoint (recorded in the store).
    Rollback(rollback::Args),
    /// Remove older checkpoints of runs and unreferenced objects (retention).
    Gc(gc::Args),
    /// Write a checkpoint's weights and preprocessing for other tools (safetensors).
    Export(export::Args),
    /// Score a checkpoint on labelled CSV data with its own preprocessing.
    Eval(eval::Args),
    /// Predict one value or class per CSV row (CSV on stdout).
    Predict(predict::Args),
    /// Write a config's stream (generator or CSV source) to a CSV file.
    Generate(generate::Args),
    /// Run a config under several update policies (default: both modes) and compare them:
    /// table, plot, JSON and a recommendation.
    Compare(compare::Args),
    /// Serve a run's serving checkpoint over HTTP, swapping in each checkpoint it promotes.
    Serve(serve::Args),
    /// Compare the served model with the shadow challenger from the prediction log.
    ShadowReport(shadow_report::Args),
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Log(args) => log::run(args),
        Command::Show(args) => show::run(args),
        Command::Tree(args) => tree::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Tag(args) => tag::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Export(args) => export::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Serve(args) => serve::run(args),
        Command::ShadowReport(args) => shadow_report::run(args),
    }
}

/// `--store DIR` of the commands without a config.
#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// Checkpoint store folder [default: checkpoints].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    /// The store folder.
    pub fn path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(relearn_spec::defaults::STORE))
    }

    /// Opens an existing store for reading.
    pub fn open(&self) -> anyhow::Result<Store> {
        open_existing(&self.path())
    }
}

/// `--store DIR` of the commands that take a config (`run`, `compare`).
#[derive(Debug, clap::Args)]
pub struct ConfigStoreArg {
    /// Checkpoint store folder [default: the config's `run.store`, else `checkpoints`].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

impl ConfigStoreArg {
    /// The store folder: `--store`, else the config's (checked: see [`check_store_path`]).
    pub fn path(&self, spec: &relearn_train::RunSpec) -> anyhow::Result<PathBuf> {
        let path = self.store.clone().unwrap_or_else(|| spec.store.clone());
        check_store_path(&path)?;
        Ok(path)
    }
}

/// Refuses a store path that exists and is not a folder (bad input, exit code 2), before
/// the store is opened or created.
pub fn check_store_path(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => Err(crate::exit::UsageError(format!(
            "store {} is not a folder (it is a file); a store is a folder of checkpoints: give \
             --store a store's folder (or, to create a store, a path that does not exist yet)",
            path.display()
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Opens an existing store for reading.
pub fn open_existing(path: &Path) -> anyhow::Result<Store> {
    check_store_path(path)?;
    Store::open(path).with_context(|| format!("cannot open store {}", path.display()))
}

/// Locked, buffered stdout, as [`write_stdout`] hands it out. A concrete type, not a
/// `dyn Write`: serde_json writes many small pieces, and each goes through `BufWriter`'s
/// inlined fast path instead of a virtual call (a third of `log --json`'s output time).
pub type Stdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// The error of a failed write to stdout (a full disk, `> /dev/full`): exit code 1, saying
/// `cannot write to stdout: <the OS's reason>`.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("cannot write to stdout")
}

/// Writes to stdout, locked and buffered, through `write`, then flushes. A closed stdout
/// (`relearn log | head`) is not an error: the reader has what it wanted (and with SIGPIPE's
/// default disposition, restored in `main`, the process ends quietly on its own). Any other
/// write error is [`stdout_error`].
pub fn write_stdout(write: impl FnOnce(&mut Stdout) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            // Drop the unwritten rest: `BufWriter`'s drop would try to write it again.
            let _ = out.into_parts();
            Err(stdout_error(e))
        }
        Ok(()) => Ok(()),
    }
}

/// Like [`write_stdout`], for a `write` that can also fail for its own reasons (`generate`
/// reads its stream while writing it): an error of stdout is [`stdout_error`], any other is
/// returned as it is. `Ok(None)` when the reader went away (a closed pipe).
pub fn write_stdout_with<T>(
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let mut out = Trap {
        inner: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        error: None,
    };
    let result = write(&mut out).and_then(|value| {
        out.flush()?;
        Ok(value)
    });
    let (inner, error) = (out.inner, out.error);
    // Drop the unwritten rest: `BufWriter`'s drop would try to write it again.
    let _ = inner.into_parts();
    match error {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(None),
        Some(e) => Err(stdout_error(e)),
        None => result.map(Some),
    }
}

/// A writer that keeps its first error (handing its caller a stand-in), so that a failing
/// stdout can be told apart from the other errors of the code that writes to it.
struct Trap<W> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> Trap<W> {
    fn trap<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.map_err(|e| {
            let stand_in = std::io::Error::new(e.kind(), "cannot write to stdout");
            self.error.get_or_insert(e);
            stand_in
        })
    }
}

impl<W: std::io::Write> std::io::Write for Trap<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Err(std::io::Error::other("stdout failed before"));
        }
        let result = self.inner.write(buf);
        self.trap(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.error.is_some() {
            return Err(std::io::Error::other("stdout failed before"));
        }
        let result = self.inner.flush();
        self.trap(result)
    }
}

/// Writes `text` to stdout (see [`write_stdout`]).
pub fn print_text(text: &str) -> anyhow::Result<()> {
    write_stdout(|out| out.write_all(text.as_bytes()))
}

/// `println!` that returns an error instead of panicking when stdout cannot be written: see
/// [`print_text`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cmd::print_text(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use outln;

/// Prints `value` as pretty JSON on stdout (see [`write_stdout`]); streamed, as `log
/// --json` of a large store is megabytes.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    write_stdout(|out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        writeln!(out)
    })
}

/// The end of a listing (`log`, `tree`) that went on past manifests it could not read: each
/// is named on stderr, and the exit code is 1 (a damaged store) once the rest is printed.
pub fn listed_past(unreadable: &[relearn_store::StoreError]) -> anyhow::Result<ExitCode> {
    if unreadable.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for e in unreadable {
        eprintln!("warning: left out of the listing: {e}");
    }
    Err(crate::exit::WorkFailed(format!(
        "the store is damaged: {} manifest(s) could not be read and were left out (named above); run `relearn verify`",
        unreadable.len()
    ))
    .into())
}
