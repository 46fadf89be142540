//! Refs: the runs' heads (`refs/runs/<run>`), their moves (`logs/<run>`), and what ref
//! files have in common with tags.

use std::fs;
use std::io;
use std::path::Path;

use super::Store;
use crate::error::{Result, StoreError};
use crate::fsutil::{
    crash_point, ensure_dir, is_full_id, is_temp_name, list_dir, now_rfc3339, read_text_if_exists,
    validate_name, write_atomic,
};
use crate::model::{CheckpointId, Manifest, RefMove};

impl Store {
    /// Reads a ref file: `None` if absent, [`StoreError::CorruptRef`] if it does not hold an id.
    pub(crate) fn read_ref(&self, path: &Path) -> Result<Option<CheckpointId>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(StoreError::CorruptRef {
                    path: path.to_path_buf(),
                    content: "(not UTF-8)".to_string(),
                });
            }
            Err(e) => return Err(StoreError::io("read", path, e)),
        };
        let id = text.trim();
        if !is_full_id(id) {
            return Err(StoreError::CorruptRef {
                path: path.to_path_buf(),
                content: id.chars().take(80).collect(),
            });
        }
        Ok(Some(CheckpointId(id.to_string())))
    }

    /// Writes `dir/name` = `id` atomically. The caller holds a store guard.
    pub(super) fn write_ref(&self, dir: &Path, name: &str, id: &str) -> Result<()> {
        ensure_dir(dir)?;
        write_atomic(&dir.join(name), ref_file_text(id).as_bytes(), false)
    }

    /// Valid ref names in `dir` (temp files and stray names skipped), sorted.
    pub(super) fn ref_names(dir: &Path) -> Result<Vec<String>> {
        Ok(list_dir(dir)?
            .into_iter()
            .filter(|name| !is_temp_name(name) && validate_name("ref", name).is_ok())
            .collect())
    }

    /// The names under `refs/runs`, sorted.
    pub fn runs(&self) -> Result<Vec<String>> {
        Self::ref_names(&self.runs_dir())
    }

    /// The run's latest checkpoint (`refs/runs/<run>`), `None` if the run has none.
    pub fn run_head(&self, run: &str) -> Result<Option<CheckpointId>> {
        validate_name("run", run)?;
        self.read_ref(&self.runs_dir().join(run))
    }

    /// The manifest of the run's latest checkpoint, `None` if the run has none.
    ///
    /// A head whose manifest is missing is [`StoreError::DanglingRef`] (a damaged store, not
    /// an unknown REF).
    pub fn head_manifest(&self, run: &str) -> Result<Option<Manifest>> {
        validate_name("run", run)?;
        let path = self.runs_dir().join(run);
        match self.read_ref(&path)? {
            Some(id) => {
                let id = self.present(&path, id)?;
                self.manifest(&id).map(Some)
            }
            None => Ok(None),
        }
    }

    /// `id`, read from the ref file `ref_path`, if its manifest is in the store; else the
    /// store is damaged ([`StoreError::DanglingRef`]).
    pub(super) fn present(&self, ref_path: &Path, id: CheckpointId) -> Result<CheckpointId> {
        let manifest = self.manifest_path(&id);
        if manifest.is_file() {
            return Ok(id);
        }
        Err(StoreError::DanglingRef {
            ref_path: ref_path.to_path_buf(),
            id: id.into(),
            manifest,
        })
    }

    /// Points the run's ref at checkpoint `id` (atomically), e.g. for a rollback.
    ///
    /// `id` must be a full id of a checkpoint in the store.
    pub fn set_run_head(&self, run: &str, id: &str) -> Result<()> {
        validate_name("run", run)?;
        self.require_manifest(id)?;
        let _guard = self.shared_guard()?;
        self.write_ref(&self.runs_dir(), run, id)
    }

    /// Moves the run's ref to checkpoint `to` (a full id of a checkpoint of `run`) and records
    /// the move in `logs/<run>` as `action` (e.g. "rollback"). Returns the record.
    ///
    /// The caller holds the run's lock ([`Store::lock_run`]). The record is written (whole
    /// file, atomically) before the ref moves, so a crash leaves either nothing changed, or a
    /// record whose `to` is not the head yet (the move did not land; repeating it completes
    /// it), or both: never a moved ref without its record.
    pub fn move_run_head(&self, run: &str, to: &str, action: &str) -> Result<RefMove> {
        validate_name("run", run)?;
        self.require_manifest(to)?;
        let _guard = self.shared_guard()?;
        let record = RefMove {
            at: now_rfc3339(),
            action: action.to_string(),
            from: self.run_head(run)?,
            to: CheckpointId(to.to_string()),
        };
        let path = self.ref_log_path(run);
        let mut text = read_text_if_exists(&path)?.unwrap_or_default();
        text.push_str(&serde_json::to_string(&record).expect("a ref move serialises"));
        text.push('\n');
        ensure_dir(&self.logs_dir())?;
        write_atomic(&path, text.as_bytes(), false)?;
        crash_point("move-head:record");
        self.write_ref(&self.runs_dir(), run, to)?;
        Ok(record)
    }

    /// The recorded moves of a run's ref (see [`Store::move_run_head`]), oldest first.
    pub fn ref_moves(&self, run: &str) -> Result<Vec<RefMove>> {
        validate_name("run", run)?;
        let path = self.ref_log_path(run);
        let text = read_text_if_exists(&path)?.unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| StoreError::CorruptRefLog {
                    path: path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Checks that `id` is a full id of a checkpoint in the store: [`StoreError::InvalidHash`]
    /// if it is not a full id, [`StoreError::UnknownRef`] if there is no such checkpoint.
    pub(super) fn require_manifest(&self, id: &str) -> Result<()> {
        if !is_full_id(id) {
            return Err(StoreError::InvalidHash {
                value: id.to_string(),
            });
        }
        if !self.manifest_path(id).is_file() {
            return Err(self.unknown_ref(id, None));
        }
        Ok(())
    }
}

/// The content of a ref file (run or tag) pointing at `id`.
pub(super) fn ref_file_text(id: &str) -> String {
    format!("{id}\n")
}
