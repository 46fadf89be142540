//! `relearn gc --keep-last N`: retention, like `git gc`. Removes a run's older checkpoints
//! and the objects no remaining checkpoint references; never a tagged checkpoint, the
//! latest of a run, or what a kept checkpoint's lineage needs.

use std::collections::HashMap;
use std::process::ExitCode;

use relearn_store::{GcReport, Manifest};
use serde::Serialize;

use super::{StoreArg, outln, print_json};
use crate::render;

/// Arguments of `relearn gc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the last N checkpoints of each run (besides tagged checkpoints and what kept
    /// ones need: a retrained checkpoint's initial model).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep_last: u64,
    /// Only this run (other runs are untouched).
    #[arg(long, value_name = "NAME")]
    run: Option<String>,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// `gc --json`: the store's report plus what is left.
#[derive(Debug, Serialize)]
struct GcJson<'a> {
    #[serde(flatten)]
    report: &'a GcReport,
    /// Checkpoints left in the store (all runs).
    remaining_checkpoints: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let before = store.manifests()?;
    let keep_last = usize::try_from(args.keep_last).unwrap_or(usize::MAX);
    let report = store.gc(keep_last, args.run.as_deref(), args.dry_run)?;
    let remaining = before.len() - report.removed_checkpoints.len();
    if args.json {
        print_json(&GcJson {
            report: &report,
            remaining_checkpoints: remaining,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let by_id: HashMap<&str, &Manifest> = before.iter().map(|m| (m.id.as_str(), m)).collect();
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let n = report.removed_checkpoints.len();
    if n == 0 && report.removed_objects == 0 {
        outln!(
            "nothing to remove: {remaining} checkpoint{} kept",
            plural(remaining)
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{verb} {n} checkpoint{}:", plural(n))?;
    for id in &report.removed_checkpoints {
        match by_id.get(id.as_str()) {
            Some(m) => outln!(
                "  {}  {:<24} {}",
                render::short(id),
                render::run_at(m),
                m.relation.as_str()
            )?,
            None => outln!("  {}", render::short(id))?,
        }
    }
    outln!(
        "{verb} {} object{}, {} freed ({} bytes); {remaining} checkpoint{} {}",
        report.removed_objects,
        plural(report.removed_objects),
        render::bytes(report.freed_bytes),
        report.freed_bytes,
        plural(remaining),
        if args.dry_run {
            "would remain"
        } else {
            "remain"
        }
    )?;
    if args.dry_run {
        outln!("(dry run: nothing was removed)")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
