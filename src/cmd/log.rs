//! `relearn log`: checkpoints in creation order.

use std::io::Write;
use std::process::ExitCode;

use super::{StoreArg, print_json, write_stdout};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn log`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this run's checkpoints.
    #[arg(long, value_name = "NAME")]
    run: Option<String>,
    /// Print a JSON array of checkpoints instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let (manifests, unreadable) = match &args.run {
        Some(run) => {
            if store.run_head(run)?.is_none() {
                let runs = store.runs()?;
                return Err(UsageError(format!(
                    "no run named '{run}' in {}; runs: {}",
                    store.root().display(),
                    render::list(&runs)
                ))
                .into());
            }
            let (mut chains, unreadable) = store.readable_run_chains(&[run])?;
            (chains.pop().unwrap_or_default(), unreadable)
        }
        None => store.readable_manifests()?,
    };
    if args.json {
        print_json(&manifests)?;
    } else {
        write_stdout(|out| {
            manifests
                .iter()
                .try_for_each(|m| writeln!(out, "{}", render::log_line(m)))
        })?;
    }
    super::listed_past(&unreadable)
}
