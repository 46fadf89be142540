//! `relearn compare`: run a config under several update policies (by default the two book
//! modes, stateless and stateful), side by side, and say which to use.
//!
//! Each policy runs in a child process of this binary (`compare --worker MODE`, hidden), one
//! after the other, so that each has its own peak memory (Linux `VmHWM`, read by the child
//! just before it exits) and its own training time without the other competing for the
//! cores. The children stream their progress to the parent as JSON lines on stdout; the
//! parent draws one progress bar per mode on stderr (hidden when stderr is not a terminal).
//! Once both are done, the parent reads the two runs back from the store (the same
//! manifests `relearn log --json` prints), and prints the table, writes `compare.json`,
//! `compare.svg` and `compare.png`, and ends with the recommendation.
//!
//! The runs are `NAME-<policy>` (`NAME-stateless`, `NAME-stateful`, ...) in the config's
//! store; the runner resumes them, so checkpoints already stored are reused and a second
//! `compare` only reads. A config's `[gate]` does not apply: a comparison measures every
//! window.

mod plot;
mod prose;
mod table;

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use relearn_data::{Stream, Task};
use relearn_spec::ModelKind;
use relearn_store::Store;
use relearn_train::compare::{
    Choice, Inputs, Invocation, Measured, PeakMemory, Report, RunInput, Setup, StreamSummary,
    run_name, stats,
};
use relearn_train::{Policy, RunEvent, RunOptions, RunSpec};
use serde::{Deserialize, Serialize};

use super::{ConfigStoreArg, write_stdout};
use crate::output::{output_target, write_atomic};
use crate::render;
use relearn_train::inference::Inference;

/// Arguments of `relearn compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TOML config; its `run.mode` is ignored (every policy in --policies runs).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The update policies to compare, comma separated: modes (`stateful`), or a fine-tuning
    /// mode with an anchor (`stateful+ewc`, `replay+l2-init`, `drift+none`).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = book_policies(),
        value_enum
    )]
    policies: Vec<Policy>,
    /// The model families to compare, comma separated: `mlp`, `gbdt` [default: the
    /// config's `model.kind`]. Each policy of --policies runs once per family (the tree
    /// family has no anchors: `stateful+ewc` runs for the MLP only); a policy named with its
    /// family (`gbdt-stateful`) runs once.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_enum)]
    models: Vec<ModelKind>,
    /// Folder for compare.json, compare.svg and compare.png [default: compare-out/NAME,
    /// NAME being the config's run.name].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Compare only the first N windows of the stream (initial windows included).
    #[arg(long, value_name = "N")]
    windows: Option<usize>,
    #[command(flatten)]
    store: ConfigStoreArg,
    /// Internal: train one mode and report progress as JSON lines (used by `compare`
    /// itself, one child process per mode).
    #[arg(long, hide = true, value_enum)]
    worker: Option<Policy>,
}

/// Policies as `--policies` lists them: `stateless,stateful`.
fn policy_list(modes: &[Policy]) -> String {
    modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(",")
}

/// `--policies`'s default: the book modes.
fn book_policies() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| policy_list(&Policy::BOOK))
}

/// One line of a worker's stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum WorkerEvent {
    /// The store holds the run already; it continues after `window`.
    Resuming {
        window: u64,
        id: relearn_store::CheckpointId,
        next_window: usize,
    },
    /// `todo` checkpoints to train now.
    Planned { todo: usize },
    /// One checkpoint committed: `run`'s line for it.
    Committed { window: u64, line: String },
    /// The run is done; the worker's memory.
    Done {
        trained: usize,
        start_kib: Option<u64>,
        peak_kib: Option<u64>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = RunSpec::load(&args.config)?;
    let store_path = args.store.path(&spec)?;
    if let Some(mode) = args.worker {
        return worker(spec, &store_path, mode, args.windows);
    }
    let policies = chosen_policies(&args, spec.model.kind)?;
    // Open (and so validate) the stream before training anything: a bad CSV is the
    // user's input and changes nothing.
    let stream = Stream::open(&spec.source, spec.window_size, spec.initial_windows)?;
    check_windows(args.windows, &spec)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("compare-out").join(&spec.name));
    check_out_folder(&out)?;
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    let setup = Setup::new(
        &spec,
        &stream,
        args.windows,
        &args.config.display().to_string(),
        &store_path.display().to_string(),
    )?;
    let invocations = match train_each(&args, &store_path, &policies, &spec.name, &out)? {
        Ok(invocations) => invocations,
        Err(code) => return Ok(code),
    };

    let store = super::open_existing(&store_path)?;
    let names: Vec<String> = policies.iter().map(|&m| run_name(&spec.name, m)).collect();
    let chains = store.run_chains(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    let concepts = ConceptWindows::read(&stream, &setup.stream)?;
    let runs = run_inputs(
        &policies,
        &chains,
        invocations,
        &concepts,
        &store,
        spec.task(),
    )?;
    let mut report = relearn_train::compare::build(Inputs { setup, runs });
    carry_over_peak_memory(&mut report, &out.join("compare.json"));
    let recommended = relearn_train::compare::recommend(&report);
    let out_of_range = out_of_range_by_window(&chains);
    let recommendation =
        prose::recommendation(&report, recommended, &|w| out_of_range.get(&w).cloned());
    write_report(&report, recommended.policy, &recommendation, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// The runs to compare: each policy of `--policies` for each family of `--models` (the
/// config's `kind` by default), a policy named with its family once; each at most once.
fn chosen_policies(args: &Args, kind: ModelKind) -> anyhow::Result<Vec<Policy>> {
    let families = match args.models.as_slice() {
        [] => vec![kind],
        listed => listed.to_vec(),
    };
    if let Some(twice) = families
        .iter()
        .enumerate()
        .find_map(|(i, f)| families[..i].contains(f).then_some(f))
    {
        return Err(crate::exit::UsageError(format!(
            "--models names {twice} twice; list each family once, e.g. mlp,gbdt"
        ))
        .into());
    }
    let mut policies: Vec<Policy> = Vec::new();
    for &listed in &args.policies {
        if args.policies.iter().filter(|&&p| p == listed).count() > 1 {
            return Err(crate::exit::UsageError(format!(
                "--policies names {listed} twice; list each policy once, e.g. {}",
                policy_list(&Policy::all()[..relearn_spec::Mode::ALL.len()])
            ))
            .into());
        }
        let for_each: Vec<Policy> = match listed.family {
            ModelKind::Gbdt => vec![listed],
            ModelKind::Mlp => families
                .iter()
                .filter(|&&f| f == ModelKind::Mlp || listed.anchor.is_none())
                .map(|&f| listed.for_family(f))
                .collect(),
        };
        for p in for_each {
            if !policies.contains(&p) {
                policies.push(p);
            }
        }
    }
    if policies.is_empty() {
        return Err(crate::exit::UsageError(
            "no run to compare: anchored policies (stateful+ewc, ...) are the MLP's; add mlp to --models or list plain modes".to_string(),
        )
        .into());
    }
    Ok(policies)
}

/// Refuses a `--windows` that leaves no window to compare after the initial ones.
fn check_windows(windows: Option<usize>, spec: &RunSpec) -> anyhow::Result<()> {
    if let Some(n) = windows
        && n <= spec.initial_windows
    {
        return Err(crate::exit::UsageError(format!(
            "--windows {n} leaves no window to compare: the first {} are the initial training set; ask for at least {}",
            spec.initial_windows,
            spec.initial_windows + 1
        ))
        .into());
    }
    Ok(())
}

/// One progress bar per policy, drawn on stderr when it is a terminal (hidden otherwise).
fn progress_bars(policies: &[Policy], name: &str) -> (MultiProgress, Vec<ProgressBar>) {
    let multi = MultiProgress::with_draw_target(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:<24} [{bar:30}] {pos}/{len} checkpoints  {elapsed_precise}  {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = policies
        .iter()
        .map(|&mode| {
            let bar = multi.add(ProgressBar::new(0));
            bar.set_style(style.clone());
            bar.set_prefix(run_name(name, mode));
            bar.set_message("waiting");
            bar
        })
        .collect();
    (multi, bars)
}

/// Trains each policy in its child process, one after the other, with a progress bar each.
/// `Ok(Err(code))` when one failed: it said why, and nothing more runs or is written.
fn train_each(
    args: &Args,
    store_path: &Path,
    policies: &[Policy],
    name: &str,
    out: &Path,
) -> anyhow::Result<Result<Vec<Invocation>, ExitCode>> {
    let (multi, bars) = progress_bars(policies, name);
    let mut invocations = Vec::new();
    for (&mode, bar) in policies.iter().zip(&bars) {
        match spawn_worker(args, store_path, mode, name, bar, &multi)? {
            Ok(invocation) => invocations.push(invocation),
            Err(code) => {
                multi.clear().ok();
                eprintln!(
                    "error: the {} run failed (exit code {code}; its message is above); nothing was written to {}",
                    run_name(name, mode),
                    out.display()
                );
                return Ok(Err(ExitCode::from(code)));
            }
        }
    }
    multi.clear().ok();
    Ok(Ok(invocations))
}

/// Each policy's run as the report reads it: its checkpoints (`chains`, in `policies`'
/// order), what this invocation did, and its checkpoints' scores on the previous concept.
fn run_inputs<'a>(
    policies: &[Policy],
    chains: &'a [Vec<relearn_store::Manifest>],
    invocations: Vec<Invocation>,
    concepts: &ConceptWindows,
    store: &Store,
    task: Task,
) -> anyhow::Result<Vec<RunInput<'a>>> {
    let mut runs = Vec::new();
    for ((&mode, chain), now) in policies.iter().zip(chains).zip(invocations) {
        runs.push(RunInput {
            mode,
            chain,
            now,
            previous_concept: concepts.score_each(store, chain, task)?,
        });
    }
    Ok(runs)
}

/// The windows whose inputs were out of range when they were scored, each with its note
/// (`out of range: ...`): the first policy's record that has any, as every policy scored
/// the same rows.
fn out_of_range_by_window(
    chains: &[Vec<relearn_store::Manifest>],
) -> std::collections::BTreeMap<u64, String> {
    let mut out_of_range: std::collections::BTreeMap<u64, String> = Default::default();
    for m in chains.iter().flatten() {
        let notes = crate::render::out_of_range_notes(m);
        if !notes.is_empty() {
            out_of_range
                .entry(m.window)
                .or_insert_with(|| format!("out of range: {}", notes.join(", ")));
        }
    }
    out_of_range
}

/// Writes `compare.json`, `compare.svg` and `compare.png` into `out`, then prints the
/// text report and where the files are.
fn write_report(
    report: &Report,
    recommended: Choice,
    recommendation: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let json_path = out.join("compare.json");
    let json = serde_json::to_string_pretty(&Written {
        report,
        recommended,
        recommendation,
    })?;
    write_atomic(&json_path, |w| Ok(writeln!(w, "{json}")?))?;
    plot::write(report, out)?;

    let text = table::render(report, recommendation);
    write_stdout(|stdout| {
        write!(stdout, "{text}")?;
        writeln!(
            stdout,
            "\nwrote {}, compare.svg and compare.png in {}",
            json_path.file_name().unwrap_or_default().to_string_lossy(),
            out.display()
        )
    })
}

/// `compare.json`: the report, then the policy the numbers favour (`either` when the two
/// book modes tie on everything) and the recommendation in plain words.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(flatten)]
    report: &'a Report,
    recommended: Choice,
    recommendation: &'a str,
}

/// Refuses an `--out` that cannot be the report's folder (bad input, exit code 2) before
/// anything is trained: a path that exists and is not a folder, or, in an existing folder,
/// a `compare.*` file that is not a regular file (see [`output_target`]).
fn check_out_folder(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(crate::exit::UsageError(format!(
            "--out {} is not a folder (it is a file); compare writes compare.json, compare.svg \
             and compare.png into a folder: give a folder's path (created if missing)",
            out.display()
        ))
        .into());
    }
    if out.is_dir() {
        for name in ["compare.json", "compare.svg", "compare.png"] {
            output_target(&out.join(name))?;
        }
    }
    Ok(())
}

/// Runs one mode in a child process, following its progress. `Ok(Err(code))` when the
/// child failed (it printed its own message on stderr).
fn spawn_worker(
    args: &Args,
    store: &Path,
    mode: Policy,
    name: &str,
    bar: &ProgressBar,
    multi: &MultiProgress,
) -> anyhow::Result<Result<Invocation, u8>> {
    let exe =
        std::env::current_exe().context("cannot find the relearn executable to run each mode")?;
    let mut command = Command::new(exe);
    command
        .arg("compare")
        .arg("--config")
        .arg(&args.config)
        .arg("--store")
        .arg(store)
        .arg("--worker")
        .arg(mode.name());
    if let Some(n) = args.windows {
        command.arg("--windows").arg(n.to_string());
    }
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a child process for the comparison")?;
    bar.set_message("starting");
    bar.reset_elapsed();
    let run = run_name(name, mode);
    let mut done = None;
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.context("cannot read a child's progress")?;
        match serde_json::from_str::<WorkerEvent>(&line) {
            Ok(WorkerEvent::Resuming { window, id, next_window }) => multi.suspend(|| {
                eprintln!(
                    "{run}: reusing stored checkpoints up to window {window} ({}); next window {next_window}",
                    render::short(&id)
                )
            }),
            Ok(WorkerEvent::Planned { todo }) => {
                bar.set_length(todo as u64);
                bar.set_message(if todo == 0 { "up to date" } else { "training" });
            }
            Ok(WorkerEvent::Committed { line, .. }) => {
                multi.println(format!("{run}: {line}")).ok();
                bar.inc(1);
            }
            Ok(WorkerEvent::Done { trained, start_kib, peak_kib }) => done = Some((trained, start_kib, peak_kib)),
            Err(_) => multi.suspend(|| eprintln!("{line}")),
        }
    }
    let status = child.wait().context("cannot wait for a child process")?;
    let wall_seconds = started.elapsed().as_secs_f64();
    bar.finish_with_message("done");
    if !status.success() {
        return Ok(Err(status.code().map_or(1, |c| c.clamp(1, 255) as u8)));
    }
    let (trained, start_kib, peak_kib) =
        done.ok_or_else(|| anyhow::anyhow!("the {run} child process ended without reporting"))?;
    Ok(Ok(Invocation {
        trained_now: trained,
        wall_seconds,
        peak_memory: peak_memory(trained, start_kib, peak_kib),
    }))
}

/// A child's peak memory as it reported it (KiB at its start and at its peak), measured
/// now; `None` when it trained nothing (no meaningful peak) or could not read it.
fn peak_memory(
    trained: usize,
    start_kib: Option<u64>,
    peak_kib: Option<u64>,
) -> Option<PeakMemory> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    match peak_kib {
        Some(peak) if trained > 0 => Some(PeakMemory {
            mib: mib(peak),
            start_mib: start_kib.map(mib),
            windows_trained: trained,
            measured: Measured::Now,
        }),
        _ => None,
    }
}

/// A mode that trained nothing now has no meaningful peak; when the `compare.json` already
/// in the output folder measured the same checkpoints (same head), its number stands,
/// marked `earlier`.
fn carry_over_peak_memory(report: &mut Report, previous: &Path) {
    let Ok(text) = std::fs::read_to_string(previous) else {
        return;
    };
    let Ok(old) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    for new in &mut report.modes.0 {
        if new.peak_memory.is_some() || new.trained_now > 0 {
            continue;
        }
        let old_mode = &old["modes"][new.mode.name()];
        if old_mode["head"].as_str() != new.head.as_deref() || new.head.is_none() {
            continue;
        }
        let p = &old_mode["peak_memory"];
        if let (Some(mib), Some(trained)) = (p["mib"].as_f64(), p["windows_trained"].as_u64()) {
            new.peak_memory = Some(PeakMemory {
                mib,
                start_mib: p["start_mib"].as_f64(),
                windows_trained: trained as usize,
                measured: Measured::Earlier,
            });
        }
    }
}

/// The child: trains one mode of the config into the store, reporting JSON lines.
fn worker(
    spec: RunSpec,
    store_path: &Path,
    mode: Policy,
    max_windows: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let start_kib = proc_status_kib("VmRSS");
    let name = run_name(&spec.name, mode);
    let spec = mode.apply(spec).with_name(name).with_gate(None);
    let store = Store::open_for_write(store_path)?;
    let task = spec.task();
    let stdout = std::io::stdout();
    let emit = |event: &WorkerEvent| {
        let mut out = stdout.lock();
        // The parent reads until the pipe closes; if it is gone, there is no one to tell.
        let _ = serde_json::to_writer(&mut out, event)
            .map(|_| writeln!(out))
            .map(|_| out.flush());
    };
    let mut trained = 0;
    let mut on_event = |event: &RunEvent| match event {
        RunEvent::Resuming { head, next_window } => emit(&WorkerEvent::Resuming {
            window: head.window,
            id: head.id.clone(),
            next_window: *next_window,
        }),
        RunEvent::Planned { todo, .. } => emit(&WorkerEvent::Planned { todo: *todo }),
        RunEvent::Committed(m) => {
            trained += 1;
            emit(&WorkerEvent::Committed {
                window: m.window,
                line: render::window_line(m, task),
            });
        }
        // Without a gate nothing is rejected.
        RunEvent::Rejected { .. } => {}
    };
    relearn_train::run(&spec, &store, &RunOptions { max_windows }, &mut on_event)?;
    emit(&WorkerEvent::Done {
        trained,
        start_kib,
        peak_kib: proc_status_kib("VmHWM"),
    });
    Ok(ExitCode::SUCCESS)
}

/// The stream's windows that lie wholly inside a concept (between declared drift points),
/// read once, to score checkpoints on the concept before their own (forgetting).
struct ConceptWindows {
    /// The concept of each compared window.
    concept_of: Vec<usize>,
    /// Per concept, its whole windows' samples in one batch (empty when it has none).
    batches: Vec<relearn_data::Batch>,
}

impl ConceptWindows {
    /// Reads the concepts' windows; none when the stream declares no drift points.
    fn read(stream: &Stream, summary: &StreamSummary) -> anyhow::Result<ConceptWindows> {
        if summary.drift_points.is_empty() {
            return Ok(ConceptWindows {
                concept_of: Vec::new(),
                batches: Vec::new(),
            });
        }
        let (concept_of, whole) = stats::concepts(summary);
        let mut batches = vec![stream.info().empty_batch(); whole.len()];
        for window in stream.windows()?.take(summary.windows) {
            let window = window?;
            if let Some(c) = whole
                .iter()
                .position(|r| r.contains(&(window.index as u64)))
            {
                batches[c].extend(&window.batch);
            }
        }
        Ok(ConceptWindows {
            concept_of,
            batches,
        })
    }

    /// Each update checkpoint of `chain` in a concept after the first, scored (its metric
    /// for `task`) on the previous concept's windows, with its own preprocessing.
    fn score_each(
        &self,
        store: &Store,
        chain: &[relearn_store::Manifest],
        task: Task,
    ) -> anyhow::Result<std::collections::BTreeMap<relearn_store::CheckpointId, f64>> {
        let mut scores = std::collections::BTreeMap::new();
        let (metric, _) = relearn_train::compare::metric_of(task);
        for m in chain {
            let Some(&concept) = self.concept_of.get(m.window as usize) else {
                continue;
            };
            if concept == 0
                || m.metrics.prequential.is_none()
                || self.batches[concept - 1].is_empty()
            {
                continue;
            }
            let inference = Inference::of(store, m.clone())?;
            let metrics = inference.metrics_of_rows(&self.batches[concept - 1], task);
            scores.insert(m.id.clone(), metrics[metric]);
        }
        Ok(scores)
    }
}

/// A `kB` field of `/proc/self/status` (Linux); `None` elsewhere.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}
