//! `relearn tag`: names for checkpoints, like `git tag`. `tag REF NAME` creates one,
//! `tag --delete NAME` removes it, `tag` lists them.

use std::process::ExitCode;

use relearn_store::{MIN_PREFIX_LEN, Store};
use serde::Serialize;

use super::{StoreArg, outln, print_json};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn tag`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  relearn tag sea@12 before-drift     tag a checkpoint\n  relearn tag                         list tags\n  relearn tag --delete before-drift   remove a tag"
)]
pub struct Args {
    /// The checkpoint to tag: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    #[arg(value_name = "REF", requires = "name", conflicts_with = "delete")]
    reference: Option<String>,
    /// The tag's name (letters, digits, '.', '_', '-'); REF syntax then resolves it.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Move the tag if it already points at another checkpoint.
    #[arg(long, short)]
    force: bool,
    /// Remove this tag (the checkpoint stays; `gc` may then remove it).
    #[arg(long, short, value_name = "NAME")]
    delete: Option<String>,
    /// List tags as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// One tag in `tag --json`.
#[derive(Debug, Serialize)]
struct TagJson {
    name: String,
    id: relearn_store::CheckpointId,
    /// Null when the checkpoint is missing (see `relearn verify`).
    run: Option<String>,
    window: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    match (&args.reference, &args.name, &args.delete) {
        (Some(reference), Some(name), None) => create(&store, reference, name, args.force),
        (None, None, Some(name)) => delete(&store, name),
        (None, None, None) => list(&store, args.json),
        _ => Err(UsageError(
            "give REF NAME to create a tag, --delete NAME to remove one, or nothing to list them"
                .into(),
        )
        .into()),
    }
}

fn create(store: &Store, reference: &str, name: &str, force: bool) -> anyhow::Result<ExitCode> {
    relearn_store::validate_name("tag", name)?;
    if relearn_spec::gate::is_reserved_tag(name) {
        return Err(UsageError(format!(
            "'{name}' is reserved: the promotion gate tags its rejected candidates `rejected` and `<run>.rejected.<window>`, and a gate must never move a tag you made. Choose another name"
        ))
        .into());
    }
    if store.runs()?.iter().any(|r| r == name) {
        return Err(UsageError(format!(
            "'{name}' is a run name; a tag of that name would hide the run's latest checkpoint from REF syntax. Choose another name"
        ))
        .into());
    }
    if name.len() >= MIN_PREFIX_LEN && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UsageError(format!(
            "'{name}' looks like a checkpoint id prefix; a tag of that name would hide checkpoints from REF syntax. Choose a name with a non-hex letter"
        ))
        .into());
    }
    let id = store.resolve(reference)?;
    let manifest = store.manifest(&id)?;
    let target = format!("{} ({})", render::short(&id), render::run_at(&manifest));
    match store.tags()?.get(name) {
        Some(old) if *old == id => {
            outln!("tag '{name}' already points at {target}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(old) if !force => {
            return Err(UsageError(format!(
                "tag '{name}' already points at {} ({}); pass --force to move it to {target}",
                render::short(old),
                describe(store, old)
            ))
            .into());
        }
        Some(old) => {
            let old = render::short(old).to_string();
            store.set_tag(name, &id)?;
            outln!("moved tag '{name}' from {old} to {target}")?;
        }
        None => {
            store.set_tag(name, &id)?;
            outln!("tagged {target} as '{name}'")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(store: &Store, name: &str) -> anyhow::Result<ExitCode> {
    let tags = store.tags()?;
    let Some(id) = tags.get(name) else {
        let known: Vec<String> = tags.into_keys().collect();
        return Err(UsageError(format!(
            "no tag named '{name}'. Known tags: {}",
            render::list(&known)
        ))
        .into());
    };
    store.remove_tag(name)?;
    outln!(
        "deleted tag '{name}' (was {} {})",
        render::short(id),
        describe(store, id)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn list(store: &Store, json: bool) -> anyhow::Result<ExitCode> {
    let tags = store.tags()?;
    let rows: Vec<TagJson> = tags
        .into_iter()
        .map(|(name, id)| {
            let m = store.manifest(&id).ok();
            TagJson {
                name,
                run: m.as_ref().map(|m| m.run.clone()),
                window: m.as_ref().map(|m| m.window),
                id,
            }
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in &rows {
        let at = match (&t.run, t.window) {
            (Some(run), Some(w)) => format!("{run}@{w}"),
            _ => "(missing checkpoint: run `relearn verify`)".to_string(),
        };
        outln!("{:<24} {}  {at}", t.name, render::short(&t.id))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `run@window` of a checkpoint, or a note that it is missing.
fn describe(store: &Store, id: &str) -> String {
    match store.manifest(id) {
        Ok(m) => render::run_at(&m),
        Err(_) => "a missing checkpoint".to_string(),
    }
}
