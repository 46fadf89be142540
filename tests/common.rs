//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temporary folder holding configs, CSVs and a store.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write fixture");
        p
    }

    /// `relearn ARGS --store <sandbox store>`, to run in the sandbox (see [`command`]).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = command(args, self.dir.path());
        cmd.arg("--store").arg(self.store());
        cmd
    }

    /// Runs `relearn ARGS --store <sandbox store>`.
    pub fn relearn(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run relearn")
    }

    /// Runs a command that must succeed, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.relearn(args);
        assert!(
            out.status.success(),
            "relearn {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// The run's latest checkpoint, from its ref file (`None` if the run has none).
    pub fn head(&self, run: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.store().join("refs/runs").join(run)).ok()?;
        Some(text.trim().to_string())
    }

    /// `log --json` of a run, parsed.
    pub fn log(&self, run: &str) -> Vec<Value> {
        let out = self.ok(&["log", "--run", run, "--json"]);
        serde_json::from_str::<Vec<Value>>(&out).expect("log --json is a JSON array")
    }

    /// A listing of every file under the store with its size and contents hash, to show a
    /// command changed nothing.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(&self.store())
    }
}

/// The binary with `args`, to run in `cwd`, without the caller's `RUST_LOG`.
pub fn command(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relearn"));
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    cmd
}

/// Runs the binary with `args` in `cwd`.
pub fn relearn(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd).output().expect("run relearn")
}

/// Every file and folder below `root`, sorted (an empty list if `root` does not exist).
pub fn entries_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            found.push(p);
        }
    }
    found.sort();
    found
}

/// Every file under `root` with its bytes, sorted by path.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    entries_under(root)
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The store's temporary files and folders, relative to `root`: anything under `tmp/`, or
/// with a `.tmp-` name anywhere.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    entries_under(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
        .filter(|rel| {
            let mut parts = rel.iter().map(|c| c.to_string_lossy());
            let first_is_tmp = rel.starts_with("tmp") && rel != Path::new("tmp");
            first_is_tmp || parts.any(|c| c.starts_with(".tmp-"))
        })
        .collect()
}

/// A small, fast SEA config: 8 windows of 250 samples, a small model.
pub fn sea_config(name: &str, mode: &str, extra: &str) -> String {
    format!(
        r#"[run]
name = "{name}"
mode = "{mode}"
seed = 7

[data]
generator = "sea"
samples = 2000
drift_points = [1000]

[window]
size = 250
initial = 1

[model]
hidden = [16]

[train]
epochs = 3
batch_size = 32
{extra}"#
    )
}

/// The ids of `log --json` checkpoints, in order.
pub fn ids(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that a command failed with exit code `code` and said `says` on stderr.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "stderr lacks {says:?}: {err}");
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
