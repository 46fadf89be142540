//! `relearn rollback NAME [REF]`: move a run's serving ref back to an earlier checkpoint of
//! the run (by default the one its head replaced), recorded in the store's `logs/NAME`.
//! `--history` lists the recorded moves.

use std::process::ExitCode;

use relearn_store::{Manifest, RefMove, Store};
use serde::Serialize;

use super::{StoreArg, outln, print_json};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn rollback`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  relearn rollback sea            serve the checkpoint the head replaced\n  relearn rollback sea sea@12     serve the run's checkpoint for window 12\n  relearn rollback sea --history  list the run's recorded rollbacks"
)]
pub struct Args {
    /// The run.
    #[arg(value_name = "NAME")]
    run: String,
    /// The checkpoint of the run to serve: id, 6+ hex prefix, NAME~K, NAME@W or tag
    /// [default: the checkpoint the head replaced].
    #[arg(value_name = "REF", conflicts_with = "history")]
    reference: Option<String>,
    /// List the run's recorded ref moves instead.
    #[arg(long)]
    history: bool,
    /// Print JSON: the move made (or, with --history, the moves recorded).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// A move in `rollback --json`.
#[derive(Debug, Serialize)]
struct MoveJson<'a> {
    run: &'a str,
    #[serde(flatten)]
    record: &'a RefMove,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    relearn_store::validate_name("run", &args.run)?;
    let Some(head) = store.run_head(&args.run)? else {
        return Err(UsageError(format!(
            "run '{}' has no checkpoints in {}; `relearn log` lists the runs",
            args.run,
            store.root().display()
        ))
        .into());
    };
    if args.history {
        return history(&store, &args.run, args.json);
    }
    // Bad input is refused before the lock is taken, so that it changes nothing in the
    // store (taking the lock creates `locks/`); then, under the lock, everything is checked
    // again: a run may have moved the head since.
    let head = store.manifest(&head)?;
    plan(&store, &args, head)?;
    // Refuse while a run writes this run's chain: its next commit would move the ref again.
    let _lock = store.lock_run(&args.run)?;
    let head = match store.run_head(&args.run)? {
        Some(id) => store.manifest(&id)?,
        None => {
            return Err(UsageError(format!(
                "run '{}' has no checkpoints in {} any more",
                args.run,
                store.root().display()
            ))
            .into());
        }
    };
    let (head, target) = plan(&store, &args, head)?;
    let record = store.move_run_head(&args.run, &target.id, "rollback")?;
    if args.json {
        print_json(&MoveJson {
            run: &args.run,
            record: &record,
        })?;
    } else {
        outln!(
            "run '{}' now serves {} ({}), rolled back from {} ({}); recorded in {}",
            args.run,
            render::short(&target.id),
            render::run_at(&target),
            render::short(&head.id),
            render::run_at(&head),
            store.ref_log_path(&args.run).display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The move `args` asks for with the run at `head`: `(head, target)`, or why it is bad
/// input.
fn plan(store: &Store, args: &Args, head: Manifest) -> anyhow::Result<(Manifest, Manifest)> {
    let target = match &args.reference {
        Some(reference) => store.resolve(reference)?,
        None => head.replaces.clone().ok_or_else(|| {
            UsageError(format!(
                "run '{}' serves its initial checkpoint {}: there is nothing before it to roll back to",
                args.run,
                render::short(&head.id)
            ))
        })?,
    };
    let target = store.manifest(&target)?;
    if target.run != args.run {
        return Err(UsageError(format!(
            "checkpoint {} belongs to run '{}', not '{}'; a run can only serve its own checkpoints",
            render::short(&target.id),
            target.run,
            args.run
        ))
        .into());
    }
    if target.id == head.id {
        return Err(UsageError(format!(
            "run '{}' already serves {}; name an earlier checkpoint (e.g. {}~1)",
            args.run,
            render::short(&target.id),
            args.run
        ))
        .into());
    }
    if let Some(failed) = render::gate_failures(&target) {
        return Err(UsageError(format!(
            "checkpoint {} was rejected by the promotion gate (it fails {}); roll back to a checkpoint that served",
            render::short(&target.id),
            failed.join(", ")
        ))
        .into());
    }
    Ok((head, target))
}

fn history(store: &Store, run: &str, json: bool) -> anyhow::Result<ExitCode> {
    let moves = store.ref_moves(run)?;
    if json {
        let moves: Vec<MoveJson<'_>> = moves
            .iter()
            .map(|record| MoveJson { run, record })
            .collect();
        print_json(&moves)?;
    } else if moves.is_empty() {
        outln!("run '{run}' has no recorded rollbacks")?;
    } else {
        for m in &moves {
            outln!(
                "{}  {:<8}  {} -> {}",
                m.at,
                m.action,
                m.from.as_deref().map(render::short).unwrap_or("(none)"),
                render::short(&m.to)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
