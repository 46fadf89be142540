//! `relearn verify`: re-hashes every object and manifest and checks every link, like
//! `git fsck`.

use std::process::ExitCode;

use super::{StoreArg, outln, print_json};
use crate::exit::WorkFailed;

/// Arguments of `relearn verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report (`objects_checked`, `manifests_checked`, `problems`) as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let report = store.verify()?;
    if args.json {
        print_json(&report)?;
    } else {
        for p in &report.problems {
            outln!("{}: {} ({})", p.path.display(), p.message, p.kind)?;
        }
    }
    let root = store.root().display();
    if report.is_ok() {
        if !args.json {
            outln!(
                "store {root} is sound: {} objects and {} manifests checked, refs and lineage consistent",
                report.objects_checked,
                report.manifests_checked
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let n = report.problems.len();
    Err(WorkFailed(format!(
        "store {root} has {n} problem{} ({} objects and {} manifests checked), each listed on stdout; checkpoints that need a damaged file cannot be loaded",
        if n == 1 { "" } else { "s" },
        report.objects_checked,
        report.manifests_checked
    ))
    .into())
}
