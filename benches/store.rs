//! The checkpoint store: committing and loading a checkpoint (model sizes 10 KB to 10 MB),
//! against three ways of writing the same bytes: as one file synced (`write_sync`, the
//! issue's baseline), as one file synced with its folder (`durable_file`: what makes a new
//! file survive a crash), and as the checkpoint's five files each written durably in turn
//! (`file_by_file`: temp file, sync, rename, sync the folder; the textbook recipe applied to
//! SPEC's layout); and `log` (`Store::manifests`) and REF resolution over a store of 10,000
//! checkpoints.
//!
//! A checkpoint of model size S is what a stateful run commits: the weights (S bytes), the
//! Adam moments (2 S) and the preprocessor (a few hundred bytes), plus its manifest.
//!
//! The 10,000-checkpoint store (10 runs of 1,000 fine-tuned checkpoints, with a run loop's
//! manifest fields) is built once under `target/bench-data/store-10k` and reused.
//!
//! Usage: `cargo bench --bench store -- [--skip-commit] [--skip-log] [--checkpoints 10000]`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relearn_store::{CheckpointDraft, Metrics, Relation, Retained, Store, TrainedOn};
use serde_json::json;

fn main() {
    let mut skip_commit = false;
    let mut skip_log = false;
    let mut checkpoints = 10_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip-commit" => skip_commit = true,
            "--skip-log" => skip_log = true,
            "--checkpoints" => {
                checkpoints = it
                    .next()
                    .expect("--checkpoints N")
                    .parse()
                    .expect("a number")
            }
            _ => {}
        }
    }
    if !skip_commit {
        commit_and_load();
    }
    if !skip_log {
        log_and_resolve(checkpoints);
    }
}

fn draft(
    run: &str,
    window: u64,
    parent: Option<relearn_store::CheckpointId>,
    parts: Vec<(String, Vec<u8>)>,
) -> CheckpointDraft {
    let relation = if parent.is_some() {
        Relation::FineTuned
    } else {
        Relation::Initial
    };
    CheckpointDraft {
        run: run.to_string(),
        mode: "stateful".into(),
        window,
        replaces: parent.clone(),
        parent,
        relation,
        samples_trained: 1000,
        samples_skipped: 0,
        retained: Retained::default(),
        metrics: Metrics {
            prequential: Some(
                [("accuracy".to_string(), 0.87), ("loss".to_string(), 0.31)]
                    .into_iter()
                    .collect(),
            ),
            train_loss: Some(0.29),
        },
        train_seconds: 0.05,
        config_fingerprint: "0123456789abcdef".repeat(4),
        trained_on: TrainedOn {
            windows: vec![window],
            samples: 1000,
        },
        extra: json!({
            "model": {"widths": [6, 64, 64, 2], "activation": "relu", "dropout": 0.0, "task": "classification", "backend": "flex"},
            "source": "generator sea (samples 20000, noise 0.1, drift points [5000, 10000, 15000])",
            "target": "y", "scaling": "running", "window_size": 1000, "seed": 0
        }),
        parts,
    }
}

/// Bytes that differ per `salt`, so every commit writes new objects.
fn blob(len: usize, salt: u64) -> Vec<u8> {
    let mut s = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// Syncs a folder, making the names created in it durable.
fn sync_folder(dir: &Path) {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .expect("sync a folder");
}

/// Creates `path` with `bytes` and syncs it (not its folder).
fn write_synced(path: &Path, bytes: &[u8]) {
    let mut f = File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("sync");
}

/// The textbook durable write of one file: a temporary file, synced, renamed into place, and
/// the folder synced.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".tmp-{name}"));
    write_synced(&tmp, bytes);
    fs::rename(&tmp, dir.join(name)).expect("rename");
    sync_folder(dir);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Commit and load at each model size, against the three baselines; one line per size.
fn commit_and_load() {
    for &(label, size) in &[
        ("10KB", 10_000usize),
        ("100KB", 100_000),
        ("1MB", 1_000_000),
        ("10MB", 10_000_000),
    ] {
        let times = time_commits_of_size(size);
        print_commit_line(label, size, times);
    }
}

/// Seconds per repetition of each way of writing a checkpoint, and of loading it back.
#[derive(Default)]
struct CommitTimes {
    /// `Store::commit`.
    commit: Vec<f64>,
    /// One file, synced (`write_sync`).
    write: Vec<f64>,
    /// Loading the three parts back.
    load: Vec<f64>,
    /// One file synced with its folder (`durable_file`).
    durable: Vec<f64>,
    /// The checkpoint's five files, each written durably (`file_by_file`).
    by_file: Vec<f64>,
}

/// Commits and loads checkpoints of model size `size` in a fresh store (7 to 21 times, fewer
/// for larger models), timing each against the three baselines.
fn time_commits_of_size(size: usize) -> CommitTimes {
    let dir = tempfile::tempdir_in(bench_dir()).expect("a temp dir");
    let store = Store::open_for_write(&dir.path().join("store")).expect("a store");
    let reps = if size >= 10_000_000 {
        7
    } else if size >= 1_000_000 {
        11
    } else {
        21
    };
    let mut times = CommitTimes::default();
    let naive = dir.path().join("naive");
    for sub in ["objects", "manifests", "refs"] {
        fs::create_dir_all(naive.join(sub)).expect("a folder");
    }
    let mut parent = None;
    for rep in 0..reps {
        let parts = vec![
            ("model".to_string(), blob(size, 3 * rep as u64)),
            (
                "optimizer".to_string(),
                blob(2 * size + 13, 3 * rep as u64 + 1),
            ),
            ("preprocessor".to_string(), blob(200, 3 * rep as u64 + 2)),
        ];
        time_baselines(dir.path(), rep, &parts, &mut times);
        parent = Some(time_commit_and_load(&store, rep, parent, parts, &mut times));
    }
    times
}

/// Writes the bytes of checkpoint `parts` (plus a manifest's worth) the three baseline ways
/// into `dir`, timing each.
fn time_baselines(dir: &Path, rep: usize, parts: &[(String, Vec<u8>)], times: &mut CommitTimes) {
    let naive = dir.join("naive");
    let total: usize = parts.iter().map(|(_, b)| b.len()).sum();
    // Baseline: the same number of bytes (plus a manifest's worth) as one file, synced.
    let raw = blob(total + 1500, 7_777 + rep as u64);
    let path = dir.join(format!("raw-{rep}"));
    let t = Instant::now();
    write_synced(&path, &raw);
    times.write.push(t.elapsed().as_secs_f64());

    let path = dir.join(format!("durable-{rep}"));
    let t = Instant::now();
    write_synced(&path, &raw);
    sync_folder(dir);
    times.durable.push(t.elapsed().as_secs_f64());

    let t = Instant::now();
    for (i, (_, bytes)) in parts.iter().enumerate() {
        write_durably(&naive.join("objects"), &format!("{rep}-{i}"), bytes);
    }
    write_durably(&naive.join("manifests"), &rep.to_string(), &raw[..1500]);
    write_durably(&naive.join("refs"), "bench", &raw[..65]);
    times.by_file.push(t.elapsed().as_secs_f64());
}

/// Commits `parts` as window `rep` of run `bench` on `parent`, then loads its parts back,
/// timing both; returns the new checkpoint's id.
fn time_commit_and_load(
    store: &Store,
    rep: usize,
    parent: Option<relearn_store::CheckpointId>,
    parts: Vec<(String, Vec<u8>)>,
    times: &mut CommitTimes,
) -> relearn_store::CheckpointId {
    let t = Instant::now();
    let manifest = store
        .commit(draft("bench", rep as u64, parent, parts))
        .expect("commit");
    times.commit.push(t.elapsed().as_secs_f64());

    let t = Instant::now();
    let m = store.manifest(&manifest.id).expect("manifest");
    for part in ["model", "optimizer", "preprocessor"] {
        std::hint::black_box(store.load_part(&m, part).expect("part"));
    }
    times.load.push(t.elapsed().as_secs_f64());
    manifest.id
}

/// The result line of model size `size` (`label`): medians, and commit's ratio to each
/// baseline.
fn print_commit_line(label: &str, size: usize, times: CommitTimes) {
    let (c, w, l) = (
        median(times.commit),
        median(times.write),
        median(times.load),
    );
    let (d, f) = (median(times.durable), median(times.by_file));
    println!(
        "store commit model={label} checkpoint_bytes={} commit_ms={:.3} write_sync_ms={:.3} ratio={:.2} durable_file_ms={:.3} ratio={:.2} file_by_file_ms={:.3} ratio={:.2} load_ms={:.3} (target: ratio to write_sync <= 1.20)",
        3 * size + 213,
        c * 1e3,
        w * 1e3,
        c / w,
        d * 1e3,
        c / d,
        f * 1e3,
        c / f,
        l * 1e3
    );
}

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-data");
    fs::create_dir_all(&dir).expect("create target/bench-data");
    dir
}

/// The 10,000-checkpoint store: built once (takes a while: every commit is synced).
fn big_store(checkpoints: usize) -> PathBuf {
    let root = bench_dir().join(format!("store-{}k", checkpoints / 1000));
    let done = root.join("bench-complete");
    if done.is_file() {
        return root;
    }
    let _ = fs::remove_dir_all(&root);
    let store = Store::open_for_write(&root).expect("a store");
    let runs = 10usize;
    let per_run = checkpoints.div_ceil(runs);
    let t = Instant::now();
    eprintln!(
        "building a store of {checkpoints} checkpoints in {} (once) ...",
        root.display()
    );
    for r in 0..runs {
        let run = format!("run-{r}");
        let mut parent = None;
        for w in 0..per_run {
            let parts = vec![("model".to_string(), blob(64, (r * per_run + w) as u64))];
            let m = store
                .commit(draft(&run, w as u64, parent.clone(), parts))
                .expect("commit");
            parent = Some(m.id);
        }
    }
    store
        .set_tag("best", &store.resolve("run-3@500").expect("run-3@500"))
        .expect("tag");
    File::create(&done).expect("marker");
    eprintln!("built in {:.1} s", t.elapsed().as_secs_f64());
    root
}

fn time_it(min: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < min || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    median(times)
}

fn log_and_resolve(checkpoints: usize) {
    let root = big_store(checkpoints);
    let store = Store::open(&root).expect("open the store");
    let n = store.manifests().expect("manifests").len();
    let log = time_it(Duration::from_secs(3), || {
        let store = Store::open(&root).expect("open the store");
        std::hint::black_box(store.manifests().expect("manifests"));
    });
    println!(
        "store log checkpoints={n} ms={:.1} (target < 200)",
        log * 1e3
    );
    let head = store.resolve("run-7").expect("run-7");
    let refs = [
        ("tag", "best".to_string()),
        ("run", "run-7".to_string()),
        ("full-id", head.to_string()),
        ("prefix", head[..8].to_string()),
        ("name~k", "run-7~10".to_string()),
        ("name@w", "run-7@500".to_string()),
    ];
    for (kind, reference) in refs {
        let t = time_it(Duration::from_secs(1), || {
            std::hint::black_box(store.resolve(&reference).expect("resolves"));
        });
        println!(
            "store resolve kind={kind} checkpoints={n} ms={:.3}",
            t * 1e3
        );
    }
}
