//! Commit: turning a [`CheckpointDraft`] into a stored checkpoint (objects, manifest, ref).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::Store;
use super::objects::part_of;
use super::refs::ref_file_text;
use crate::error::{Result, StoreError};
use crate::fsutil::{
    crash_point, ensure_dir, is_full_id, now_rfc3339, stage_all, sync_dir, sync_dirs, validate_name,
};
use crate::model::{CheckpointDraft, CheckpointId, Manifest, Publish};

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
    pub fn commit_to(&self, draft: CheckpointDraft, publish: Publish<'_>) -> Result<Manifest> {
        validate_draft(&draft)?;
        if let Publish::Tag(tag) = publish {
            validate_name("tag", tag)?;
        }
        let _guard = self.shared_guard()?;
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
        // Hash the parts; note the objects the store lacks.
        let mut parts = BTreeMap::new();
        let mut new_objects: BTreeMap<String, &[u8]> = BTreeMap::new();
        for (name, bytes) in &draft.parts {
            let part = part_of(bytes);
            if !self.has_object(&part) {
                new_objects.insert(part.object.clone(), bytes.as_slice());
            }
            parts.insert(name.clone(), part);
        }
        let manifest = Manifest {
            id: CheckpointId::default(),
            run: draft.run,
            mode: draft.mode,
            window: draft.window,
            parent: draft.parent,
            relation: draft.relation,
            replaces: draft.replaces,
            samples_trained: draft.samples_trained,
            samples_skipped: draft.samples_skipped,
            retained: draft.retained,
            metrics: draft.metrics,
            train_seconds: draft.train_seconds,
            created_at: now_rfc3339(),
            tags: Vec::new(),
            config_fingerprint: draft.config_fingerprint,
            trained_on: draft.trained_on,
            extra: draft.extra,
            parts,
            checksum: None,
        };
        // Compute the id from exactly what a reader will parse back from the file.
        let mut manifest: Manifest =
            serde_json::from_str(&manifest.to_file_json()).map_err(|e| {
                StoreError::InvalidDraft {
                    run: manifest.run.clone(),
                    reason: format!("its manifest does not survive a JSON round trip: {e}"),
                }
            })?;
        manifest.id = manifest.compute_id();
        // As the file will record it (the round trip above hashed an empty id).
        manifest.checksum = Some(manifest.file_checksum());
        let manifest_path = self.manifest_path(&manifest.id);
        let existing = match self.read_manifest_file(&manifest.id) {
            Ok(existing) if existing.compute_id() == manifest.id => Some(existing),
            _ => None,
        };
        let manifest_json = existing.is_none().then(|| manifest.to_file_json());
        let ref_text = ref_file_text(&manifest.id);
        let (ref_dir, ref_name) = match publish {
            Publish::RunHead => (self.runs_dir(), manifest.run.clone()),
            Publish::Tag(tag) => (self.tags_dir(), tag.to_string()),
        };
        ensure_dir(&ref_dir)?;
        let new_object_dirs = self.ensure_object_dirs(new_objects.keys().map(String::as_str))?;

        // Every file of the checkpoint is written and synced at once (temp names, invisible
        // to readers), then made visible in dependency order, each step durable before the
        // next: objects, then the manifest that names them, then the run ref that names the
        // manifest. A crash anywhere leaves complete checkpoints only; four sequential
        // sync latencies a commit instead of one per file and folder. New `objects/ab/`
        // folders are made durable with the objects' renames (`objects/` is synced with
        // their folders), as both must be before the manifest is published.
        let mut files: Vec<(PathBuf, &[u8], bool)> = new_objects
            .iter()
            .map(|(hash, bytes)| (self.object_path(hash), *bytes, true))
            .collect();
        if let Some(json) = &manifest_json {
            files.push((manifest_path.clone(), json.as_bytes(), false));
        }
        files.push((ref_dir.join(&ref_name), ref_text.as_bytes(), false));
        let mut staged = stage_all(&files)?;
        let run_ref = staged.pop().expect("the run ref is staged last");
        let staged_manifest = match manifest_json {
            Some(_) => staged.pop(),
            None => None,
        };
        let mut object_dirs: Vec<PathBuf> = staged.iter().map(|o| o.dir().to_path_buf()).collect();
        if new_object_dirs {
            object_dirs.push(self.objects_dir());
        }
        for object in staged {
            object.rename()?;
        }
        sync_dirs(object_dirs.iter().map(PathBuf::as_path))?;
        crash_point("commit:objects");
        match staged_manifest {
            Some(staged_manifest) => {
                staged_manifest.rename()?;
                sync_dir(&self.manifests_dir())?;
            }
            None => tracing::debug!(id = %manifest.id, "checkpoint already in the store"),
        }
        if let Some(existing) = existing {
            manifest = existing;
        }
        crash_point("commit:manifest");
        run_ref.rename()?;
        sync_dir(&ref_dir)?;
        crash_point("commit:ref");
        manifest.tags = self.tags_of(&manifest.id)?;
        tracing::debug!(id = %manifest.id, run = %manifest.run, window = manifest.window, "committed checkpoint");
        Ok(manifest)
    }
}

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
