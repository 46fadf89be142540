//! The [`Store`]: its folder layout, opening and creating it, and removing an unused one.
//! Its methods live in submodules by concern: `locks`, `objects`, `commit`, `manifests`,
//! `refs`, `tags` and `resolve` (REF resolution); `gc` and `verify` are crate modules of
//! their own.

mod commit;
mod locks;
mod manifests;
mod objects;
mod refs;
mod resolve;
mod tags;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::fsutil::{
    crash_point, ensure_dir, is_temp_name, list_dir, remove_file_if_exists, sync_dir,
};

pub use locks::RunLock;
use locks::STORE_LOCK;
pub(crate) use locks::StoreGuard;
pub(crate) use manifests::{MANIFEST_EDITED, parse_manifest_unchecked};
pub use resolve::{MIN_PREFIX_LEN, find_by_prefix};

/// A checkpoint store in a folder (see the crate docs for the layout).
///
/// A `Store` is a cheap handle (just the root path); all state is on disk, so several
/// processes can use one store at once. Writers of one run are kept apart by
/// [`Store::lock_run`].
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens an existing store for reading.
    ///
    /// Fails with [`StoreError::NotAStore`] (a user error) if `root` has no `objects/` or
    /// `manifests/` folder.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        if !store.objects_dir().is_dir() || !store.manifests_dir().is_dir() {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
            });
        }
        Ok(store)
    }

    /// Opens a store for writing, creating the layout if missing, and removes temporary files
    /// left by crashed writers (only when no other process is writing at the moment).
    pub fn open_for_write(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in [
            store.objects_dir(),
            store.manifests_dir(),
            store.runs_dir(),
            store.tags_dir(),
            store.locks_dir(),
            store.tmp_dir(),
        ] {
            ensure_dir(&dir)?;
        }
        if let Some(_guard) = store.try_exclusive_guard()? {
            store.remove_temp_files()?;
        } else {
            tracing::debug!("another process is writing to the store; temp files left alone");
        }
        Ok(store)
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub(crate) fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    pub(crate) fn runs_dir(&self) -> PathBuf {
        self.root.join("refs").join("runs")
    }

    pub(crate) fn tags_dir(&self) -> PathBuf {
        self.root.join("refs").join("tags")
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The folder of the runs' ref logs (see [`Store::move_run_head`]).
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The file recording the moves of `run`'s ref (see [`Store::move_run_head`]).
    pub fn ref_log_path(&self, run: &str) -> PathBuf {
        self.logs_dir().join(run)
    }

    /// The file listing ids that `gc` removed (see [`Store::gc`]).
    pub(crate) fn pruned_path(&self) -> PathBuf {
        self.root.join("pruned")
    }

    /// The path of a checkpoint's manifest file.
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.manifests_dir().join(format!("{id}.json"))
    }

    /// The path of an object: `objects/<first 2 hex digits>/<the rest>`.
    pub fn object_path(&self, hash: &str) -> PathBuf {
        if hash.len() > 2 && hash.is_char_boundary(2) {
            let (dir, rest) = hash.split_at(2);
            self.objects_dir().join(dir).join(rest)
        } else {
            self.objects_dir().join(hash)
        }
    }

    /// Removes this store's folder when nothing was ever written to it: for a `run` that
    /// created the store and then stopped before its first commit (bad input, a diverged
    /// initial training), so that nothing is left behind, not even the empty folders and
    /// the lock files. Only when the store holds no object, manifest, ref, log or temp file
    /// and no run lock is held (another `run` that created the same new store at the same
    /// time keeps it); a store that cannot be checked is left as it is.
    pub fn remove_if_unused(&self) {
        let is_empty =
            |dir: PathBuf| fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
        let skeleton = [
            self.objects_dir(),
            self.manifests_dir(),
            self.runs_dir(),
            self.tags_dir(),
            self.tmp_dir(),
        ];
        if !skeleton.into_iter().all(is_empty) || self.logs_dir().exists() {
            return;
        }
        let Ok(locks) = fs::read_dir(self.locks_dir()) else {
            return;
        };
        // Take every run lock in turn (without waiting): a held one means a run is writing.
        let mut held = Vec::new();
        for entry in locks {
            let Ok(entry) = entry else { return };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == STORE_LOCK {
                continue;
            }
            let Some(run) = name.strip_suffix(".lock").filter(|r| !r.is_empty()) else {
                return;
            };
            match self.lock_run(run) {
                Ok(lock) => held.push(lock),
                Err(_) => return,
            }
        }
        let Ok(top) = fs::read_dir(&self.root) else {
            return;
        };
        let expected = ["objects", "manifests", "refs", "locks", "tmp"];
        if top
            .filter_map(std::result::Result::ok)
            .any(|e| !expected.iter().any(|x| e.file_name() == *x))
        {
            return;
        }
        // The locks are held while the folder goes, and released after.
        if let Err(e) = fs::remove_dir_all(&self.root) {
            tracing::warn!(
                "could not remove the unused store {}: {e}",
                self.root.display()
            );
        }
        drop(held);
    }

    // ----------------------------------------------------------------------------------
    // Temp files

    /// Removes `.tmp-*` files in every store folder and everything under `tmp/`. The caller
    /// holds the exclusive store lock, so no write is in progress.
    fn remove_temp_files(&self) -> Result<()> {
        let mut dirs = vec![
            self.root.clone(),
            self.root.join("refs"),
            self.objects_dir(),
            self.manifests_dir(),
            self.runs_dir(),
            self.tags_dir(),
        ];
        for name in list_dir(&self.objects_dir())? {
            let path = self.objects_dir().join(&name);
            if !is_temp_name(&name) && path.is_dir() {
                dirs.push(path);
            }
        }
        let mut removed = 0usize;
        for dir in dirs {
            let mut removed_here = false;
            for name in list_dir(&dir)? {
                if is_temp_name(&name) {
                    let path = dir.join(&name);
                    if path.is_dir() {
                        fs::remove_dir_all(&path)
                            .map_err(|e| StoreError::io("remove", &path, e))?;
                    } else {
                        remove_file_if_exists(&path)?;
                    }
                    removed += 1;
                    removed_here = true;
                    crash_point("cleanup");
                }
            }
            if removed_here {
                sync_dir(&dir)?;
            }
        }
        let tmp = self.tmp_dir();
        for name in list_dir(&tmp)? {
            let path = tmp.join(&name);
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(|e| StoreError::io("remove", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "removed stale temporary files from the store");
        }
        Ok(())
    }
}
