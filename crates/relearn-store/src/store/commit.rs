//! Commit: turning a [`CheckpointDraft`] into a stored checkpoint (objects, manifest, ref),
//! written so that a crash at any instant leaves complete checkpoints only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::Store;
use super::objects::part_of;
use super::refs::ref_file_text;
use crate::error::{Result, StoreError};
use crate::fsutil::{
    Staged, crash_point, ensure_dir, is_full_id, now_rfc3339, stage_all, sync_dir, sync_dirs,
    validate_name,
};
use crate::model::{CheckpointDraft, CheckpointId, Manifest, PartRef, Publish, UnhashedManifest};

impl Store {
    /// Commits a checkpoint: writes its parts as objects, then its manifest, then moves
    /// `refs/runs/<run>` to it. Returns the manifest (with tags).
    ///
    /// Committing a draft whose id already exists keeps the existing manifest (and its
    /// `created_at`) and just moves the run's ref, so a resumed run reaches the same state as
    /// an uninterrupted one.
    pub fn commit(&self, draft: CheckpointDraft) -> Result<Manifest> {
        self.commit_to(draft, Publish::RunHead)
    }

    /// [`Store::commit`], publishing the checkpoint where `publish` says: the run's ref, or
    /// only a tag (a candidate that a promotion gate rejected: recorded and findable, but the
    /// run keeps serving its head). Same ordering and crash guarantees either way.
    pub fn commit_to(&self, mut draft: CheckpointDraft, publish: Publish<'_>) -> Result<Manifest> {
        validate_draft(&draft)?;
        if let Publish::Tag(tag) = publish {
            validate_name("tag", tag)?;
        }
        let _guard = self.shared_guard()?;
        self.require_draft_links(&draft)?;
        let part_bytes = std::mem::take(&mut draft.parts);
        let (parts, new_objects) = self.hash_parts(&part_bytes);
        let manifest = read_back(UnhashedManifest::from_draft(draft, parts, now_rfc3339()))?;
        let existing = self.intact_manifest(&manifest.id);
        let manifest_file = existing
            .is_none()
            .then(|| (self.manifest_path(&manifest.id), manifest.to_file_json()));
        let (ref_dir, ref_name) = match publish {
            Publish::RunHead => (self.runs_dir(), manifest.run.clone()),
            Publish::Tag(tag) => (self.tags_dir(), tag.to_string()),
        };
        ensure_dir(&ref_dir)?;
        let new_object_dirs = self.ensure_object_dirs(new_objects.keys().map(String::as_str))?;
        let files = CheckpointFiles {
            objects: &new_objects,
            manifest: manifest_file,
            ref_file: (ref_dir.join(&ref_name), ref_file_text(&manifest.id)),
        };
        let staged = self.stage_checkpoint(&files)?;
        self.make_visible(staged, new_object_dirs, &manifest.id)?;
        let mut manifest = existing.unwrap_or(manifest);
        manifest.tags = self.tags_of(&manifest.id)?;
        tracing::debug!(id = %manifest.id, run = %manifest.run, window = manifest.window, "committed checkpoint");
        Ok(manifest)
    }

    /// Checks that the draft's `parent` and `replaces` checkpoints are in the store.
    fn require_draft_links(&self, draft: &CheckpointDraft) -> Result<()> {
        for (what, id) in [("parent", &draft.parent), ("replaces", &draft.replaces)] {
            if let Some(id) = id
                && !self.manifest_path(id).is_file()
            {
                return Err(StoreError::InvalidDraft {
                    run: draft.run.clone(),
                    reason: format!("its {what} checkpoint {id} is not in the store"),
                });
            }
        }
        Ok(())
    }

    /// The part records of a draft's named part bytes, and the bytes of the objects among
    /// them that the store lacks, by hash.
    fn hash_parts<'a>(
        &self,
        part_bytes: &'a [(String, Vec<u8>)],
    ) -> (BTreeMap<String, PartRef>, BTreeMap<String, &'a [u8]>) {
        let mut parts = BTreeMap::new();
        let mut new_objects: BTreeMap<String, &[u8]> = BTreeMap::new();
        for (name, bytes) in part_bytes {
            let part = part_of(bytes);
            if !self.has_object(&part) {
                new_objects.insert(part.object.clone(), bytes.as_slice());
            }
            parts.insert(name.clone(), part);
        }
        (parts, new_objects)
    }

    /// The stored manifest of checkpoint `id` if it is there and intact (its content hashes
    /// to `id`): committing that checkpoint again keeps it, and its `created_at`.
    fn intact_manifest(&self, id: &CheckpointId) -> Option<Manifest> {
        match self.read_manifest_file(id) {
            Ok(existing) if existing.compute_id() == *id => Some(existing),
            _ => None,
        }
    }

    /// Writes and syncs every file of the checkpoint at once, under temporary names that
    /// readers do not see (see [`Store::make_visible`] for the rest).
    fn stage_checkpoint(&self, files: &CheckpointFiles<'_>) -> Result<StagedCheckpoint> {
        let mut list: Vec<(PathBuf, &[u8], bool)> = files
            .objects
            .iter()
            .map(|(hash, bytes)| (self.object_path(hash), *bytes, true))
            .collect();
        if let Some((path, json)) = &files.manifest {
            list.push((path.clone(), json.as_bytes(), false));
        }
        let (ref_path, ref_text) = &files.ref_file;
        list.push((ref_path.clone(), ref_text.as_bytes(), false));
        let mut staged = stage_all(&list)?;
        let ref_file = staged.pop().expect("the run ref is staged last");
        let manifest = match files.manifest {
            Some(_) => staged.pop(),
            None => None,
        };
        Ok(StagedCheckpoint {
            objects: staged,
            manifest,
            ref_file,
        })
    }

    /// Makes a staged checkpoint visible in dependency order, each step durable before the
    /// next: objects, then the manifest that names them, then the ref that names the
    /// manifest. A crash anywhere leaves complete checkpoints only; four sequential sync
    /// latencies a commit instead of one per file and folder. New `objects/ab/` folders
    /// (`new_object_dirs`) are made durable with the objects' renames (`objects/` is synced
    /// with their folders), as both must be before the manifest is published.
    fn make_visible(
        &self,
        staged: StagedCheckpoint,
        new_object_dirs: bool,
        id: &CheckpointId,
    ) -> Result<()> {
        let mut object_dirs: Vec<PathBuf> = staged
            .objects
            .iter()
            .map(|o| o.dir().to_path_buf())
            .collect();
        if new_object_dirs {
            object_dirs.push(self.objects_dir());
        }
        for object in staged.objects {
            object.rename()?;
        }
        sync_dirs(object_dirs.iter().map(PathBuf::as_path))?;
        crash_point("commit:objects");
        match staged.manifest {
            Some(staged_manifest) => {
                staged_manifest.rename()?;
                sync_dir(&self.manifests_dir())?;
            }
            None => tracing::debug!(id = %id, "checkpoint already in the store"),
        }
        crash_point("commit:manifest");
        let ref_dir = staged.ref_file.dir().to_path_buf();
        staged.ref_file.rename()?;
        sync_dir(&ref_dir)?;
        crash_point("commit:ref");
        Ok(())
    }
}

/// The files a commit writes: the objects the store lacks, the manifest unless the store has
/// the checkpoint already, and the ref (a run's or a tag's) that publishes it.
struct CheckpointFiles<'a> {
    /// The new objects' bytes by hash.
    objects: &'a BTreeMap<String, &'a [u8]>,
    /// The manifest file's path and text; `None` if the store has an intact one.
    manifest: Option<(PathBuf, String)>,
    /// The ref file's path and text.
    ref_file: (PathBuf, String),
}

/// [`CheckpointFiles`] written and synced under temporary names, not visible yet (dropped,
/// they remove their temporary files).
struct StagedCheckpoint {
    /// The new objects.
    objects: Vec<Staged>,
    /// The manifest, if it is written.
    manifest: Option<Staged>,
    /// The ref.
    ref_file: Staged,
}

/// The manifest of `unhashed` as a reader will parse it back from its file, with its id
/// computed from exactly that (a float, say, is hashed as it reads back).
fn read_back(unhashed: UnhashedManifest) -> Result<Manifest> {
    let parsed: UnhashedManifest =
        serde_json::from_str(&unhashed.to_file_json()).map_err(|e| StoreError::InvalidDraft {
            run: unhashed.run.clone(),
            reason: format!("its manifest does not survive a JSON round trip: {e}"),
        })?;
    Ok(parsed.into_manifest())
}

/// Checks what a draft must be before anything is written: valid run and part names (each
/// once), full ids for `parent` and `replaces`, and finite numbers only.
fn validate_draft(draft: &CheckpointDraft) -> Result<()> {
    validate_name("run", &draft.run)?;
    let invalid = |reason: String| StoreError::InvalidDraft {
        run: draft.run.clone(),
        reason,
    };
    for (what, id) in [("parent", &draft.parent), ("replaces", &draft.replaces)] {
        if let Some(id) = id
            && !is_full_id(id)
        {
            return Err(invalid(format!(
                "its {what} {id:?} is not a full checkpoint id"
            )));
        }
    }
    let mut names = BTreeSet::new();
    for (name, _) in &draft.parts {
        validate_name("part", name)?;
        if !names.insert(name.as_str()) {
            return Err(invalid(format!("part '{name}' is given twice")));
        }
    }
    let mut floats = vec![("train_seconds", draft.train_seconds)];
    if let Some(loss) = draft.metrics.train_loss {
        floats.push(("metrics.train_loss", loss));
    }
    if let Some(prequential) = &draft.metrics.prequential {
        floats.extend(prequential.values().map(|v| ("metrics.prequential", *v)));
    }
    if let Some((what, value)) = floats.into_iter().find(|(_, v)| !v.is_finite()) {
        return Err(invalid(format!(
            "{what} is {value}; only finite numbers can be stored (did training diverge?)"
        )));
    }
    Ok(())
}
