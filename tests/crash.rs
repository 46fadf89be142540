//! Crash safety: `relearn run` is killed at many instants, and every time `relearn verify`
//! passes on what it left, and a rerun resumes to exactly the store an uninterrupted run
//! makes (the same files, the same final id).
//!
//! Two kinds of crash:
//! - `SIGKILL` from outside at delays spread from 0 to the length of an uninterrupted run
//!   (where it lands is up to the scheduler, so the test reports what it hit);
//! - an abort at a named point inside the store's commit, through the `RELEARN_CRASH_AT`
//!   hook of `relearn-store` (`<point>[:<n>]`: abort the n-th time the point is reached),
//!   which lands exactly where asked: mid-way through writing a temp file, after its sync,
//!   after its rename, between the objects, the manifest and the ref of a commit, and in the
//!   middle of the start-up cleanup of stale temp files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{Sandbox, entries_under, stderr, temp_files};

/// Name of the crash-test hook's environment variable (see `relearn-store`'s `fsutil.rs`).
const CRASH_AT: &str = "RELEARN_CRASH_AT";

/// A small run: 6 windows of 200 samples (an initial model and 5 updates), a tiny model,
/// so that one uninterrupted run takes a fraction of a second. The replay run keeps a
/// reservoir of 300 samples; the drift run, on the feature-drift stream with a touchy
/// detector, resets at windows 1, 2, 4 and 5 and fine-tunes at window 3. `gbdt` is the
/// stateful policy of the tree family (`model.kind = "gbdt"`).
fn config(mode: &str) -> String {
    if mode == "gbdt" {
        return config("stateful").replace("[model]\n", "[model]\nkind = \"gbdt\"\n");
    }
    let (generator, policy) = match mode {
        "drift" => (
            "feature-drift",
            "[policy.drift]\nthreshold = 2\ndelta = 0.005\n",
        ),
        _ => ("sea", "[policy.replay]\nsamples = 300\n"),
    };
    format!(
        r#"[run]
name = "crash"
mode = "{mode}"
seed = 3

[data]
generator = "{generator}"
samples = 1200
drift_points = [600]

[window]
size = 200
initial = 1

[model]
hidden = [8]

[train]
epochs = 2
batch_size = 50

[stateful]
epochs = 1

[stateless]
recent_windows = 2

{policy}"#
    )
}

/// What an uninterrupted run leaves: every file of the store (relative paths) and the run's
/// final checkpoint id.
struct Reference {
    files: BTreeSet<String>,
    head: String,
    checkpoints: usize,
    /// Wall time of `relearn run`, from spawn to exit.
    duration: Duration,
}

fn reference(mode: &str) -> &'static Reference {
    static STATEFUL: OnceLock<Reference> = OnceLock::new();
    static STATELESS: OnceLock<Reference> = OnceLock::new();
    static REPLAY: OnceLock<Reference> = OnceLock::new();
    static DRIFT: OnceLock<Reference> = OnceLock::new();
    static GBDT: OnceLock<Reference> = OnceLock::new();
    let cell = match mode {
        "stateful" => &STATEFUL,
        "stateless" => &STATELESS,
        "replay" => &REPLAY,
        "drift" => &DRIFT,
        "gbdt" => &GBDT,
        other => panic!("no crash config for mode {other}"),
    };
    cell.get_or_init(|| {
        let case = Case::new(mode);
        // Warm the page cache once, then time a run into a fresh store.
        assert!(case.run(None).status.success(), "reference run failed");
        let case = Case::new(mode);
        let started = Instant::now();
        let out = case.run(None);
        let duration = started.elapsed();
        assert!(
            out.status.success(),
            "reference run failed: {}",
            stderr(&out)
        );
        case.verify("the reference run");
        Reference {
            files: case.files(),
            head: case.head().expect("the reference run has a head"),
            checkpoints: case.manifest_count(),
            duration,
        }
    })
}

/// One sandbox with the config and a store.
struct Case {
    sb: Sandbox,
    config: PathBuf,
}

impl Case {
    fn new(mode: &str) -> Case {
        let sb = Sandbox::new();
        let config = sb.write("crash.toml", &config(mode));
        Case { sb, config }
    }

    fn command(&self, crash_at: Option<&str>) -> Command {
        let mut cmd = self
            .sb
            .command(&["run", "--config", self.config.to_str().unwrap()]);
        cmd.env_remove(CRASH_AT);
        if let Some(point) = crash_at {
            cmd.env(CRASH_AT, point);
        }
        cmd
    }

    /// `relearn run`, to its end (or its crash).
    fn run(&self, crash_at: Option<&str>) -> Output {
        self.command(crash_at).output().expect("run relearn")
    }

    /// Asserts that `relearn verify` passes.
    fn verify(&self, when: &str) {
        let out = self.sb.relearn(&["verify"]);
        assert!(
            out.status.success(),
            "verify failed {when}:\nstdout: {}\nstderr: {}\nfiles: {:#?}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out),
            self.files()
        );
    }

    /// Every file under the store, relative to it, `/`-separated.
    fn files(&self) -> BTreeSet<String> {
        let root = self.sb.store();
        entries_under(&root)
            .into_iter()
            .filter(|p| !p.is_dir())
            .map(|p| relative(&root, &p))
            .collect()
    }

    /// Temporary files and folders (see [`temp_files`]), `/`-separated.
    fn temp_files(&self) -> Vec<String> {
        let root = self.sb.store();
        temp_files(&root)
            .iter()
            .map(|rel| relative(Path::new(""), rel))
            .collect()
    }

    /// Manifest files (not temp files) in the store.
    fn manifest_count(&self) -> usize {
        self.files()
            .iter()
            .filter(|f| {
                f.starts_with("manifests/") && f.ends_with(".json") && !f.contains("/.tmp-")
            })
            .count()
    }

    /// The run's latest checkpoint, from its ref file.
    fn head(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.sb.store().join("refs/runs/crash")).ok()?;
        Some(text.trim().to_string())
    }

    /// What the store looks like after a crash: it verifies, `log` lists exactly the
    /// manifest files (never a temp file), and the ref names one of them.
    fn check_after_crash(&self, what: &str) {
        if !self.sb.store().join("manifests").is_dir() {
            return; // killed before the store was laid out
        }
        self.verify(&format!("after {what}"));
        let out = self.sb.relearn(&["log", "--json"]);
        assert!(
            out.status.success(),
            "log failed after {what}: {}",
            stderr(&out)
        );
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            listed.len(),
            self.manifest_count(),
            "after {what}: log lists other than the manifests"
        );
        if let Some(head) = self.head() {
            assert!(
                listed.iter().any(|m| m["id"] == head.as_str()),
                "after {what}: the run's ref {head} is not a listed checkpoint"
            );
        }
    }

    /// Reruns to the end and asserts the store is exactly the uninterrupted run's.
    fn resume_and_compare(&self, reference: &Reference, what: &str) {
        let out = self.run(None);
        assert!(
            out.status.success(),
            "rerun after {what} failed: {}",
            stderr(&out)
        );
        self.verify(&format!("after resuming from {what}"));
        assert_eq!(
            self.head().as_deref(),
            Some(reference.head.as_str()),
            "after {what}, the resumed run ends at another checkpoint"
        );
        let files = self.files();
        assert!(
            self.temp_files().is_empty(),
            "after {what}, temp files remain: {:?}",
            self.temp_files()
        );
        assert_eq!(
            files,
            reference.files,
            "after {what}, the resumed store differs from an uninterrupted run's\n only here: {:?}\n only there: {:?}",
            files.difference(&reference.files).collect::<Vec<_>>(),
            reference.files.difference(&files).collect::<Vec<_>>()
        );
    }
}

/// Where a kill landed, for the report.
#[derive(Debug, Default)]
struct Tally {
    before_first_checkpoint: usize,
    mid_run: usize,
    with_temp_files: usize,
    after_exit: usize,
}

fn kill_at_delays(mode: &str, kills: usize) -> Tally {
    let reference = reference(mode);
    let mut tally = Tally::default();
    // Delays from 0 to 110 % of an uninterrupted run, in equal steps.
    let span = reference.duration.mul_f64(1.1);
    for i in 0..kills {
        let delay = span.mul_f64(i as f64 / (kills - 1) as f64);
        let case = Case::new(mode);
        let mut child = case
            .command(None)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relearn");
        std::thread::sleep(delay);
        let exited = child.try_wait().expect("try_wait").is_some();
        child.kill().expect("kill"); // SIGKILL on Unix
        child.wait().expect("wait");
        let what = format!("SIGKILL after {delay:?} ({mode})");
        let (done, temps) = (case.manifest_count(), case.temp_files().len());
        if exited {
            tally.after_exit += 1;
        } else if done == 0 {
            tally.before_first_checkpoint += 1;
        } else {
            tally.mid_run += 1;
        }
        if temps > 0 {
            tally.with_temp_files += 1;
        }
        case.check_after_crash(&what);
        case.resume_and_compare(reference, &what);
    }
    tally
}

#[test]
fn sigkill_at_many_instants_then_resume_to_the_same_ids() {
    let started = Instant::now();
    let mut total = 0;
    let mut mid_run = 0;
    for (mode, kills) in [
        ("stateful", 24),
        ("stateless", 10),
        ("replay", 8),
        ("drift", 8),
        ("gbdt", 8),
    ] {
        let reference = reference(mode);
        let tally = kill_at_delays(mode, kills);
        eprintln!(
            "{mode}: {kills} SIGKILLs over {:?} (an uninterrupted run of {} checkpoints): {tally:?}",
            reference.duration, reference.checkpoints
        );
        total += kills;
        mid_run += tally.mid_run;
    }
    eprintln!("{total} kills in {:?}", started.elapsed());
    // Where a kill lands depends on the scheduler; enough of them must land mid-run for the
    // test to mean something.
    assert!(
        mid_run >= 8,
        "only {mid_run} of {total} kills landed mid-run"
    );
}

/// Aborts at `point` and checks the store, then resumes. Returns whether the abort happened
/// (false if the run ended before reaching the point that many times).
fn abort_at(mode: &str, point: &str) -> bool {
    let reference = reference(mode);
    let case = Case::new(mode);
    let out = case.run(Some(point));
    let err = stderr(&out);
    if out.status.success() {
        assert!(!err.contains("aborting at"), "{err}");
        return false;
    }
    assert!(
        err.contains(&format!("{CRASH_AT}: aborting at")),
        "{point}: not the hook's abort: {err}"
    );
    let what = format!("an abort at {point} ({mode})");
    if point.starts_with("write:partial") || point.starts_with("write:synced") {
        assert!(
            !case.temp_files().is_empty(),
            "{what} left no temp file to clean up"
        );
    }
    case.check_after_crash(&what);
    case.resume_and_compare(reference, &what);
    true
}

#[test]
fn abort_inside_each_step_of_a_commit_then_resume_to_the_same_ids() {
    let started = Instant::now();
    let mut aborted = 0;
    for mode in ["stateful", "stateless", "replay", "drift", "gbdt"] {
        let commits = reference(mode).checkpoints;
        // Hits of the commit points: the initial model, an update, the last update.
        for point in ["commit:objects", "commit:manifest", "commit:ref"] {
            for n in [1, 2, commits] {
                assert!(
                    abort_at(mode, &format!("{point}:{n}")),
                    "{point}:{n} never reached"
                );
                aborted += 1;
            }
        }
        // Every atomic write (objects, manifest, ref of each commit) goes through these; the
        // hits are spread over the writes of the first, a middle and the last commit. (The
        // replay, drift and tree runs write through the same commit: their commit points above
        // suffice.)
        if mode == "replay" || mode == "drift" || mode == "gbdt" {
            continue;
        }
        for point in ["write:partial", "write:synced", "write:renamed"] {
            for n in [1, 3, 4, 5, 9, 14, 17] {
                if abort_at(mode, &format!("{point}:{n}")) {
                    aborted += 1;
                }
            }
        }
    }
    eprintln!("{aborted} aborts in {:?}", started.elapsed());
    assert!(aborted >= 40, "only {aborted} aborts happened");
}

#[test]
fn crash_during_temp_file_cleanup_and_repeated_crashes_still_converge() {
    let mode = "stateful";
    let reference = reference(mode);

    // A crash leaves a temp file; the next run crashes while cleaning it up; the one after
    // that finishes the cleanup and the run.
    let case = Case::new(mode);
    assert!(!case.run(Some("write:synced:6")).status.success());
    assert!(!case.temp_files().is_empty());
    let out = case.run(Some("cleanup:1"));
    assert!(
        stderr(&out).contains("aborting at cleanup"),
        "{}",
        stderr(&out)
    );
    case.check_after_crash("an abort during the temp-file cleanup");
    case.resume_and_compare(reference, "an abort during the temp-file cleanup");

    // Crash at the 3rd rename into place of every attempt until the run gets through: each
    // attempt keeps what the last one finished (objects are content-addressed, manifests
    // are reused), so it converges to the same store. (Renames, not temp-file writes: a
    // commit stages all its files at once, so a crash at its k-th staged file would leave
    // nothing of it, every time.)
    let case = Case::new(mode);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 100, "no progress after 100 attempts");
        let out = case.run(Some("write:renamed:3"));
        if out.status.success() {
            break;
        }
        case.check_after_crash(&format!(
            "crash {attempts} of a run crashing at every 3rd rename"
        ));
    }
    eprintln!("a run that crashes at every 3rd rename got through after {attempts} attempts");
    assert!(attempts > 5, "{attempts}");
    assert!(case.temp_files().is_empty(), "{:?}", case.temp_files());
    assert_eq!(case.head().as_deref(), Some(reference.head.as_str()));
    assert_eq!(case.files(), reference.files);
}

/// `path` relative to `root`, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap();
    rel.to_string_lossy().replace('\\', "/")
}
