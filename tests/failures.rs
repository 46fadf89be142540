//! When the work fails (exit 1) the store keeps what it had: corrupt checkpoints are never
//! loaded, a diverging update is not committed, a full disk or a read-only store leaves
//! nothing half-written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Sandbox, sea_config, stderr, temp_files};

fn manifest(sb: &Sandbox, id: &str) -> Value {
    let text =
        std::fs::read_to_string(sb.store().join("manifests").join(format!("{id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn object_path(sb: &Sandbox, hash: &str) -> PathBuf {
    sb.store().join("objects").join(&hash[..2]).join(&hash[2..])
}

/// The object hash of part `part` of checkpoint `id`.
fn part(sb: &Sandbox, id: &str, part: &str) -> String {
    manifest(sb, id)["parts"][part]["object"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Rewrites a store file (objects are read-only: make it writable first, then restore).
fn rewrite(path: &Path, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, edit(bytes)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------
// Corruption

/// Damages a checkpoint of the sandbox's run: takes the sandbox and the head's id, returns
/// the name of the file it damaged.
type Damage = fn(&Sandbox, &str) -> String;

/// Five ways to damage a head checkpoint, each with what it does.
fn damages() -> [(&'static str, Damage); 5] {
    [
        ("a flipped byte in the weights", |sb, head| {
            let hash = part(sb, head, "model");
            rewrite(&object_path(sb, &hash), |mut b| {
                let mid = b.len() / 2;
                b[mid] ^= 0x01;
                b
            });
            hash
        }),
        ("truncated optimizer state", |sb, head| {
            let hash = part(sb, head, "optimizer");
            rewrite(&object_path(sb, &hash), |mut b| {
                b.truncate(b.len() / 3);
                b
            });
            hash
        }),
        ("a deleted preprocessor", |sb, head| {
            let hash = part(sb, head, "preprocessor");
            std::fs::remove_file(object_path(sb, &hash)).unwrap();
            hash
        }),
        ("weights replaced by another valid object", |sb, head| {
            // A swap that keeps the size: the object's name no longer matches its content.
            let hash = part(sb, head, "model");
            let other = part(sb, manifest(sb, head)["parent"].as_str().unwrap(), "model");
            let bytes = std::fs::read(object_path(sb, &other)).unwrap();
            rewrite(&object_path(sb, &hash), |_| bytes);
            hash
        }),
        (
            "a manifest edited to load its parent's weights",
            |sb, head| {
                let path = sb.store().join("manifests").join(format!("{head}.json"));
                let own = part(sb, head, "model");
                let other = part(sb, manifest(sb, head)["parent"].as_str().unwrap(), "model");
                rewrite(&path, |b| {
                    String::from_utf8(b)
                        .unwrap()
                        .replace(&own, &other)
                        .into_bytes()
                });
                format!("{head}.json")
            },
        ),
    ]
}

#[test]
fn a_corrupt_checkpoint_is_never_loaded_and_nothing_new_is_written() {
    for (what, damage) in damages() {
        assert_damaged_head_is_never_loaded(what, damage);
    }
}

/// A run `c` of three windows whose head `damage` damages: `run`, `export` and `verify` each
/// exit 1 naming the damaged file, and the store is left as it was.
fn assert_damaged_head_is_never_loaded(what: &str, damage: Damage) {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("c", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "3"]);
    let head_before = sb.head("c").unwrap();
    let named = damage(&sb, &head_before);
    let before = sb.snapshot();

    // `run` would fine-tune from the damaged head: it stops, names it, points to verify.
    let out = sb.relearn(&["run", "--config", cfg]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(
        err.contains(&named[2..]),
        "{what}: the message does not name {named}: {err}"
    );
    assert!(err.contains("relearn verify"), "{what}: {err}");
    assert_eq!(before, sb.snapshot(), "{what}: the store changed");

    // Nor does anything else load it.
    let out = sb.relearn(&[
        "export",
        "c",
        "--format",
        "safetensors",
        "--out",
        "w.safetensors",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: export: {}",
        stderr(&out)
    );
    assert!(
        !sb.path("w.safetensors").exists(),
        "{what}: export wrote a file"
    );

    // `verify` names the damaged file.
    let out = sb.relearn(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{what}: verify passed");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&named[2..]),
        "{what}: verify does not name {named}: {report}"
    );
    assert_eq!(before, sb.snapshot(), "{what}: the store changed");
}

// ---------------------------------------------------------------------------------------
// Divergence

/// A deep, unscaled regression model whose fine-tuning at the largest learning rate the
/// config accepts (10) overflows: the loss is infinite in the first epoch of window 1.
fn diverging_config(stateful_lr: f64, train_lr: f64) -> String {
    format!(
        r#"[run]
name = "boom"
mode = "stateful"
seed = 7

[data]
generator = "friedman"
samples = 1500
scaling = "none"

[window]
size = 250

[model]
hidden = [64, 64, 64, 64, 64, 64, 64, 64]

[train]
epochs = 3
# Exactly 3 epochs: the initial model just fitted, so that a large `stateful.lr` diverges.
min_steps = 0
lr = {train_lr}

[stateful]
epochs = 3
lr = {stateful_lr}
"#
    )
}

#[test]
fn a_diverging_update_is_not_committed_and_the_last_good_checkpoint_stays_latest() {
    let sb = Sandbox::new();
    let cfg = sb.write("boom.toml", &diverging_config(10.0, 0.001));
    let cfg = cfg.to_str().unwrap();
    let out = sb.relearn(&["run", "--config", cfg]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("training diverged at window 1"), "{err}");
    assert!(err.contains("not a finite number"), "{err}");
    assert!(err.contains("Lower `stateful.lr` (now 10)"), "{err}");
    assert!(err.contains("latest checkpoint is unchanged"), "{err}");

    // Only the initial model was committed, and it is the run's latest.
    let log = sb.log("boom");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["relation"], "initial");
    assert_eq!(sb.head("boom").as_deref(), log[0]["id"].as_str());
    assert!(temp_files(&sb.store()).is_empty());
    sb.ok(&["verify"]);

    // Running again diverges again and writes nothing.
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("training diverged at window 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, sb.snapshot());
}

#[test]
fn a_diverging_initial_model_commits_nothing() {
    let sb = Sandbox::new();
    let cfg = sb.write("boom.toml", &diverging_config(0.001, 10.0));
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("training diverged at window 0"), "{err}");
    assert!(err.contains("Lower `train.lr` (now 10)"), "{err}");
    // Nothing was committed, so the store this run created is not left behind.
    assert!(
        !sb.store().exists(),
        "{:?}",
        crate::common::entries_under(&sb.store())
    );
    // Into an existing store: no manifest, no ref.
    let other = sb.write("ok.toml", &crate::common::sea_config("ok", "stateful", ""));
    sb.ok(&["run", "--config", other.to_str().unwrap(), "--windows", "2"]);
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(sb.store().join("manifests"))
            .unwrap()
            .count(),
        2
    );
    assert_eq!(sb.head("boom"), None);
    sb.ok(&["verify"]);
}

#[test]
fn an_anchored_fine_tune_that_diverges_names_the_anchor_strength() {
    let sb = Sandbox::new();
    let cfg = diverging_config(10.0, 0.001) + "anchor = \"l2-init\"\n";
    let cfg = sb.write("boom.toml", &cfg);
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("training diverged at window 1"), "{err}");
    assert!(
        err.contains("`stateful.anchor_strength = 0.1`): lower `stateful.anchor_strength`"),
        "{err}"
    );
    assert!(err.contains("or `stateful.lr` (now 10)"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Disk full, read-only store

/// A mount that is undone (lazily) on drop.
struct Mount(PathBuf);

impl Mount {
    /// Mounts `args` on `dir`; `None` (after printing why) where mounting is not allowed.
    fn new(args: &[&str], dir: &Path) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(args).arg(dir).output();
        match out {
            Ok(out) if out.status.success() => Some(Mount(dir.to_path_buf())),
            Ok(out) => {
                eprintln!(
                    "cannot mount ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("cannot run mount: {e}");
                None
            }
        }
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", options])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_the_run_resumes_once_there_is_room() {
    let sb = Sandbox::new();
    // 8 checkpoints need about 45 files of 4 KiB pages: 96 KiB fills up half-way.
    let Some(disk) = Mount::new(
        &["-t", "tmpfs", "-o", "size=96k", "tmpfs"],
        &sb.path("disk"),
    ) else {
        eprintln!(
            "SKIPPED a_full_disk_fails_cleanly: mounting a small tmpfs needs root (CAP_SYS_ADMIN)"
        );
        return;
    };
    let store = sb.path("disk/store");
    let store = store.to_str().unwrap();
    let cfg = sb.write("c.toml", &sea_config("full", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str]| crate::common::relearn(args, sb.dir.path());

    let out = run(&["run", "--config", cfg, "--store", store]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("the disk is full"), "{err}");
    assert!(
        temp_files(Path::new(store)).is_empty(),
        "{:?}",
        temp_files(Path::new(store))
    );
    let out = run(&["verify", "--store", store]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["log", "--json", "--store", store]);
    let committed = serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .len();
    assert!((1..8).contains(&committed), "{committed} checkpoints fit");

    // With room again, the run resumes to the ids of an uninterrupted run.
    disk.remount("remount,size=16m");
    let out = run(&["run", "--config", cfg, "--store", store]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resuming run 'full'"));
    let resumed = std::fs::read_to_string(sb.path("disk/store/refs/runs/full")).unwrap();

    let alone = Sandbox::new();
    let cfg = alone.write("c.toml", &sea_config("full", "stateful", ""));
    alone.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(resumed.trim(), alone.head("full").unwrap());
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn set_writable(root: &Path, writable: bool) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        let mode = meta.permissions().mode();
        let mode = if writable {
            mode | 0o200
        } else {
            mode & !0o222
        };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

#[test]
fn a_read_only_store_is_refused_and_left_as_it_was() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("ro", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "3"]);
    let head_before = sb.head("ro");

    // Root ignores permission bits, so as root the store is bind-mounted read-only (EROFS);
    // otherwise its files and folders lose their write bits (EACCES).
    let store = sb.store();
    let (mount, expected) = if is_root() {
        let Some(mount) = Mount::new(&["--bind", store.to_str().unwrap()], &store) else {
            eprintln!("SKIPPED a_read_only_store: running as root and cannot bind-mount");
            return;
        };
        mount.remount("remount,bind,ro");
        (Some(mount), "read-only file system")
    } else {
        set_writable(&store, false);
        (None, "permission denied")
    };
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", cfg]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains(expected), "{err}");
    assert!(
        err.contains(store.to_str().unwrap()),
        "the message does not name the store: {err}"
    );
    assert_eq!(before, sb.snapshot());
    // Reading a read-only store works.
    sb.ok(&["verify"]);
    assert_eq!(sb.log("ro").len(), 3);

    drop(mount);
    if !is_root() {
        set_writable(&store, true);
    }
    assert_eq!(sb.head("ro"), head_before);
    sb.ok(&["run", "--config", cfg]);
    assert_eq!(sb.log("ro").len(), 8);
}
