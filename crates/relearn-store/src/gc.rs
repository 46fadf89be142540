//! `Store::gc`: retention of checkpoints and removal of unreferenced objects, and the
//! `pruned` list of the checkpoints it removed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::fsutil::{
    is_full_id, is_lower_hex, is_temp_name, list_dir, read_text_if_exists, remove_file_if_exists,
    sync_dir, validate_name, write_atomic,
};
use crate::model::{CheckpointId, Manifest, Relation};
use crate::store::{RunLock, Store, StoreGuard};

/// What [`Store::gc`] removed (or, with `dry_run`, would remove).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GcReport {
    /// The removed checkpoints, in creation order.
    pub removed_checkpoints: Vec<CheckpointId>,
    /// Number of removed objects (blobs no remaining checkpoint references).
    pub removed_objects: usize,
    /// Bytes freed: the removed objects plus the removed manifest files.
    pub freed_bytes: u64,
    /// True if nothing was actually deleted.
    pub dry_run: bool,
}

/// The files gc deletes.
struct Garbage {
    /// The manifest files of the removed checkpoints.
    manifests: Vec<PathBuf>,
    /// The objects no remaining checkpoint references: hash and size.
    objects: Vec<(String, u64)>,
}

impl Store {
    /// Retention: for each selected run (`run`, or every run), keeps the last `keep_last`
    /// checkpoints of its chain (creation order), its head, every tagged checkpoint, and the
    /// parent of every kept retrained checkpoint (transitively, so a stateless run keeps its
    /// initial model); a fine-tuned checkpoint's parent is not needed (its weights are
    /// self-contained). Checkpoints of other runs are untouched. Then removes every object no
    /// remaining checkpoint references.
    ///
    /// Crash safety: the removed ids are first recorded in `<root>/pruned` (so `verify`
    /// accepts the `parent` / `replaces` links of kept checkpoints that point at them), then
    /// the manifests are deleted, then the objects.
    ///
    /// Unless `dry_run`, takes the lock of every selected run ([`StoreError::RunLocked`] if
    /// one is being written) and the exclusive store lock, waiting for other runs' commits
    /// ([`StoreError::StoreBusy`] if they never pause). Then it checks the whole store as
    /// [`Store::verify`] does and deletes nothing in a damaged one ([`StoreError::Damaged`]).
    /// An unknown `run` is [`StoreError::UnknownRun`].
    pub fn gc(&self, keep_last: usize, run: Option<&str>, dry_run: bool) -> Result<GcReport> {
        let ref_runs = self.runs()?;
        if let Some(run) = run {
            validate_name("run", run)?;
            // Refuse an unknown run before taking any lock: a lock file is a change.
            if !ref_runs.iter().any(|r| r == run) && !self.manifests()?.iter().any(|m| m.run == run)
            {
                return Err(self.unknown_run(run));
            }
        }
        let (mut locks, guard) = self.lock_for_gc(run, &ref_runs, dry_run)?;
        self.require_healthy()?;
        let all = self.manifests()?;
        let selected = self.gc_selection(run, &ref_runs, &all)?;
        if !dry_run {
            // Runs that have manifests but no ref yet (a crashed first commit).
            for name in &selected {
                if !locks.iter().any(|l| l.run() == *name) {
                    locks.push(self.lock_run(name)?);
                }
            }
        }
        let (report, garbage) = self.collect_garbage(&all, &selected, keep_last, dry_run)?;
        if !dry_run {
            self.delete_garbage(&report.removed_checkpoints, &garbage)?;
        }
        drop(guard);
        drop(locks);
        tracing::info!(
            removed_checkpoints = report.removed_checkpoints.len(),
            removed_objects = report.removed_objects,
            freed_bytes = report.freed_bytes,
            dry_run,
            "gc finished"
        );
        Ok(report)
    }

    /// Unless `dry_run`, takes the lock of each run gc works on that has a ref (`run`, or
    /// every run in `ref_runs`), then the exclusive store lock (see [`Store::gc`]).
    fn lock_for_gc(
        &self,
        run: Option<&str>,
        ref_runs: &[String],
        dry_run: bool,
    ) -> Result<(Vec<RunLock>, Option<StoreGuard>)> {
        if dry_run {
            return Ok((Vec::new(), None));
        }
        let to_lock: Vec<&str> = match run {
            Some(run) => vec![run],
            None => ref_runs.iter().map(String::as_str).collect(),
        };
        let mut locks = Vec::new();
        for name in to_lock {
            locks.push(self.lock_run(name)?);
        }
        Ok((locks, Some(self.exclusive_guard()?)))
    }

    /// Fails with [`StoreError::Damaged`] unless [`Store::verify`] finds no problem: a
    /// damaged store (say, a run's head whose manifest is gone) would make what it still
    /// needs look unreferenced, so gc deletes nothing until `verify` passes.
    fn require_healthy(&self) -> Result<()> {
        let health = self.verify()?;
        if let Some(first) = health.problems.first() {
            return Err(StoreError::Damaged {
                path: self.root().to_path_buf(),
                count: health.problems.len(),
                first: first.message.clone(),
            });
        }
        Ok(())
    }

    /// The runs gc works on: `run` ([`StoreError::UnknownRun`] if it has neither a ref nor a
    /// checkpoint in `all`), or every run with a ref or a checkpoint.
    fn gc_selection<'a>(
        &self,
        run: Option<&'a str>,
        ref_runs: &'a [String],
        all: &'a [Manifest],
    ) -> Result<BTreeSet<&'a str>> {
        match run {
            Some(run) => {
                if !ref_runs.iter().any(|r| r == run) && !all.iter().any(|m| m.run == run) {
                    return Err(self.unknown_run(run));
                }
                Ok(BTreeSet::from([run]))
            }
            None => Ok(ref_runs
                .iter()
                .map(String::as_str)
                .chain(all.iter().map(|m| m.run.as_str()))
                .collect()),
        }
    }

    /// What gc removes from the `selected` runs keeping `keep_last` (see [`Store::gc`]): the
    /// report (its bytes freed counted from the files as they are now), and the files.
    fn collect_garbage(
        &self,
        all: &[Manifest],
        selected: &BTreeSet<&str>,
        keep_last: usize,
        dry_run: bool,
    ) -> Result<(GcReport, Garbage)> {
        let keep = self.checkpoints_to_keep(all, selected, keep_last)?;
        let removed: Vec<&Manifest> = all
            .iter()
            .filter(|m| selected.contains(m.run.as_str()) && !keep.contains(m.id.as_str()))
            .collect();
        let referenced: HashSet<&str> = all
            .iter()
            .filter(|m| keep.contains(m.id.as_str()) || !selected.contains(m.run.as_str()))
            .flat_map(|m| m.parts.values().map(|p| p.object.as_str()))
            .collect();

        let mut report = GcReport {
            removed_checkpoints: removed.iter().map(|m| m.id.clone()).collect(),
            dry_run,
            ..GcReport::default()
        };
        let mut manifests = Vec::new();
        for m in &removed {
            let path = self.manifest_path(&m.id);
            report.freed_bytes += fs::metadata(&path).map(|md| md.len()).unwrap_or(0);
            manifests.push(path);
        }
        let objects = self.unreferenced_objects(&referenced)?;
        report.removed_objects = objects.len();
        report.freed_bytes += objects.iter().map(|(_, size)| size).sum::<u64>();
        Ok((report, Garbage { manifests, objects }))
    }

    /// Deletes `garbage`: records the `removed` checkpoints in `pruned` first (so `verify`
    /// accepts links to them), then deletes their manifests, then the objects.
    fn delete_garbage(&self, removed: &[CheckpointId], garbage: &Garbage) -> Result<()> {
        if !removed.is_empty() {
            self.add_pruned(removed)?;
            for path in &garbage.manifests {
                remove_file_if_exists(path)?;
            }
            sync_dir(&self.manifests_dir())?;
        }
        self.remove_objects(&garbage.objects)
    }

    /// The ids gc must keep (see [`Store::gc`]).
    fn checkpoints_to_keep<'a>(
        &self,
        all: &'a [Manifest],
        selected: &BTreeSet<&str>,
        keep_last: usize,
    ) -> Result<HashSet<&'a str>> {
        let by_id: HashMap<&str, &Manifest> = all.iter().map(|m| (m.id.as_str(), m)).collect();
        let mut roots: Vec<&str> = Vec::new();
        // Other runs are untouched.
        roots.extend(
            all.iter()
                .filter(|m| !selected.contains(m.run.as_str()))
                .map(|m| m.id.as_str()),
        );
        // Heads of every run and every tagged checkpoint.
        let mut pinned: Vec<CheckpointId> = self.tags()?.into_values().collect();
        for run in self.runs()? {
            pinned.extend(self.run_head(&run)?);
        }
        roots.extend(
            pinned
                .iter()
                .filter_map(|id| by_id.get_key_value(id.as_str()).map(|(k, _)| *k)),
        );
        // The last `keep_last` checkpoints that served each selected run: its head and the
        // checkpoints it replaced, in turn. A candidate a promotion gate rejected never
        // served, nor did checkpoints past a rollback's target: they are kept only when
        // tagged (rejected candidates are).
        for run in selected {
            let mut next = self.run_head(run)?;
            for _ in 0..keep_last {
                let Some((id, m)) = next
                    .as_deref()
                    .and_then(|id| by_id.get_key_value(id))
                    .filter(|(_, m)| m.run == *run)
                else {
                    break;
                };
                roots.push(id);
                next = m.replaces.clone();
            }
        }
        // What kept checkpoints need: a retrained checkpoint's parent (transitively).
        let mut keep: HashSet<&str> = HashSet::new();
        while let Some(id) = roots.pop() {
            if !keep.insert(id) {
                continue;
            }
            if let Some(m) = by_id.get(id)
                && m.relation == Relation::Retrained
                && let Some(parent) = &m.parent
                && let Some((parent, _)) = by_id.get_key_value(parent.as_str())
            {
                roots.push(parent);
            }
        }
        Ok(keep)
    }

    /// Every object file not in `referenced`, with its size.
    fn unreferenced_objects(&self, referenced: &HashSet<&str>) -> Result<Vec<(String, u64)>> {
        let mut garbage = Vec::new();
        let objects_dir = self.objects_dir();
        for dir_name in list_dir(&objects_dir)? {
            if dir_name.len() != 2 || !is_lower_hex(&dir_name) {
                continue;
            }
            let dir = objects_dir.join(&dir_name);
            for name in list_dir(&dir)? {
                if is_temp_name(&name) {
                    continue;
                }
                let hash = format!("{dir_name}{name}");
                if !is_full_id(&hash) || referenced.contains(hash.as_str()) {
                    continue;
                }
                let path = dir.join(&name);
                let size = fs::metadata(&path)
                    .map_err(|e| StoreError::io("stat", &path, e))?
                    .len();
                garbage.push((hash, size));
            }
        }
        Ok(garbage)
    }

    /// Deletes objects, syncs their folders and removes folders left empty.
    fn remove_objects(&self, objects: &[(String, u64)]) -> Result<()> {
        let mut dirs = BTreeSet::new();
        for (hash, _) in objects {
            let path = self.object_path(hash);
            remove_file_if_exists(&path)?;
            if let Some(dir) = path.parent() {
                dirs.insert(dir.to_path_buf());
            }
        }
        for dir in &dirs {
            if list_dir(dir)?.is_empty() {
                // Best effort: a folder that cannot be removed is harmless.
                let _ = fs::remove_dir(dir);
            } else {
                sync_dir(dir)?;
            }
        }
        if !dirs.is_empty() {
            sync_dir(&self.objects_dir())?;
        }
        Ok(())
    }

    /// The ids that `gc` removed.
    pub(crate) fn pruned_ids(&self) -> Result<BTreeSet<CheckpointId>> {
        let text = read_text_if_exists(&self.pruned_path())?.unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|l| CheckpointId::parse(l.trim()))
            .collect())
    }

    /// Adds ids to the `pruned` file (rewritten atomically). The caller holds a store guard.
    pub(crate) fn add_pruned(&self, ids: &[CheckpointId]) -> Result<()> {
        let mut all = self.pruned_ids()?;
        all.extend(ids.iter().cloned());
        let mut text = String::with_capacity(all.len() * 65);
        for id in &all {
            text.push_str(id);
            text.push('\n');
        }
        write_atomic(&self.pruned_path(), text.as_bytes(), false)
    }
}
