//! `relearn`: keep a neural model current as data drifts.
//!
//! The command line over the library crates: each subcommand is one module under `cmd/`,
//! a few calls into `relearn-train` and `relearn-store`. Errors print with their causes;
//! the exit code says whose fault it was (see [`exit`]).

mod cmd;
mod csv_input;
mod exit;
mod output;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = cmd::Cli::parse();
    init_tracing();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::code_for(&err)
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`relearn log | head`) would panic.
/// Like other Unix tools, let the pipe's end stop the process quietly instead. A `run` cut off
/// this way is like any other interrupted run: the store stays whole and a rerun resumes.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; it only resets a
    // signal disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr; `RUST_LOG` picks the level (default: warnings only, and the server's
/// events, such as a swap to a newly promoted checkpoint, at info).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // perpetual logs advice for its own callers ("Reached the configured iteration
        // cap ..."), which relearn's tree cap sets on purpose: errors only.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,relearn_serve=info,perpetual=error")
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
