//! `relearn show REF`: one checkpoint in full.

use std::process::ExitCode;

use super::{StoreArg, print_json, print_text};
use crate::render;

/// Arguments of `relearn show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    reference: String,
    /// Print the checkpoint as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let id = store.resolve(&args.reference)?;
    let manifest = store.manifest(&id)?;
    if args.json {
        print_json(&manifest)?;
    } else {
        print_text(&render::show(&store, &manifest)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
