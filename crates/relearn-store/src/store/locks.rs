//! Locks: the per-run [`RunLock`] that keeps writers of one run apart, and the store-wide
//! [`StoreGuard`] (shared while writing, exclusive for `gc` and temp-file cleanup).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use super::Store;
use crate::error::{Result, StoreError};
use crate::fsutil::{ensure_dir, validate_name};

/// Name of the store-wide lock file in `locks/`. Run names cannot start with '.', so it never
/// collides with a run's lock.
pub(super) const STORE_LOCK: &str = ".store.lock";

/// How long [`Store::exclusive_guard`] waits for concurrent commits to finish.
const EXCLUSIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// An exclusive lock on a run, held until dropped (or the process dies).
#[derive(Debug)]
pub struct RunLock {
    run: String,
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// The locked run.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A store-wide lock: shared while something is written, exclusive for `gc` and temp-file
/// cleanup. Released on drop.
#[derive(Debug)]
pub(crate) struct StoreGuard {
    _file: File,
}
impl Store {
    fn open_lock_file(&self, path: &Path) -> Result<File> {
        ensure_dir(&self.locks_dir())?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io("open lock file", path, e))
    }

    fn store_lock_path(&self) -> PathBuf {
        self.locks_dir().join(STORE_LOCK)
    }

    /// Waits for and takes the shared store lock (held while writing).
    pub(crate) fn shared_guard(&self) -> Result<StoreGuard> {
        let path = self.store_lock_path();
        let file = self.open_lock_file(&path)?;
        FileExt::lock_shared(&file).map_err(|e| StoreError::io("lock", &path, e))?;
        Ok(StoreGuard { _file: file })
    }

    /// Takes the exclusive store lock if no one is writing; `None` otherwise.
    pub(crate) fn try_exclusive_guard(&self) -> Result<Option<StoreGuard>> {
        let path = self.store_lock_path();
        let file = self.open_lock_file(&path)?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Some(StoreGuard { _file: file })),
            Ok(false) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(StoreError::io("lock", &path, e)),
        }
    }

    /// Like [`Store::try_exclusive_guard`], but waits up to [`EXCLUSIVE_WAIT`] for writers
    /// to finish their commits (each holds the shared lock for one commit only, so another
    /// run's writing leaves gaps); still busy then is [`StoreError::StoreBusy`].
    pub(crate) fn exclusive_guard(&self) -> Result<StoreGuard> {
        let started = std::time::Instant::now();
        loop {
            if let Some(guard) = self.try_exclusive_guard()? {
                return Ok(guard);
            }
            if started.elapsed() >= EXCLUSIVE_WAIT {
                return Err(StoreError::StoreBusy {
                    path: self.store_lock_path(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Takes the run's exclusive lock (`locks/<run>.lock`) without waiting.
    ///
    /// Fails with [`StoreError::RunLocked`] if another process (or another `RunLock` in this
    /// process) holds it. The lock is released when the returned [`RunLock`] is dropped or
    /// the process dies.
    pub fn lock_run(&self, run: &str) -> Result<RunLock> {
        validate_name("run", run)?;
        let path = self.locks_dir().join(format!("{run}.lock"));
        let file = self.open_lock_file(&path)?;
        let locked = match FileExt::try_lock_exclusive(&file) {
            Ok(locked) => locked,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => return Err(StoreError::io("lock", &path, e)),
        };
        if !locked {
            return Err(StoreError::RunLocked {
                run: run.to_string(),
                path,
            });
        }
        Ok(RunLock {
            run: run.to_string(),
            path,
            _file: file,
        })
    }
}
