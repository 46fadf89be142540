//! `Store::verify`: a full consistency check of the store.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::fsutil::{is_full_id, is_lower_hex, is_temp_name, list_dir, sha256_file, validate_name};
use crate::model::{CheckpointId, Manifest, Relation};
use crate::store::{MANIFEST_EDITED, Store, parse_manifest_unchecked};

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VerifyReport {
    /// Objects whose content was re-hashed.
    pub objects_checked: usize,
    /// Manifests that were parsed and whose id was recomputed.
    pub manifests_checked: usize,
    /// Everything wrong, in a stable order (objects, manifests, lineage, refs).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True if no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One problem found by [`Store::verify`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// The file that is wrong (an object, a manifest or a ref).
    pub path: PathBuf,
    /// A short code: `corrupt-object`, `unreadable-object`, `unexpected-file`,
    /// `unreadable-manifest`, `bad-manifest`, `manifest-checksum-mismatch`,
    /// `manifest-id-mismatch`, `missing-object`,
    /// `object-size-mismatch`, `bad-lineage`, `dangling-parent`, `dangling-replaces`,
    /// `bad-ref`, `dangling-ref` or `ref-run-mismatch`.
    pub kind: String,
    /// A sentence for humans.
    pub message: String,
}

impl Problem {
    fn new(path: PathBuf, kind: &str, message: String) -> Self {
        Problem {
            path,
            kind: kind.to_string(),
            message,
        }
    }
}

impl Store {
    /// Checks the whole store and collects every problem (it stops only on errors listing
    /// the store's folders):
    ///
    /// - every object's content hashes to its name;
    /// - every manifest parses, its `id` equals its file name and its recomputed id, and its
    ///   `checksum` matches the file's content (every field, times included);
    /// - every part's object exists with the recorded size;
    /// - every `parent` and `replaces` points at an existing manifest, or at one that `gc`
    ///   removed (listed in `pruned`) where the checkpoint does not need it (a retrained
    ///   checkpoint always needs its parent);
    /// - every run and tag ref holds an id of an existing manifest (and a run's ref one of
    ///   that run);
    /// - every run's ref log (`logs/<run>`) parses.
    ///
    /// Temp files (`.tmp-*`, `tmp/`) and `locks/` are ignored.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let objects = self.verify_objects(&mut report)?;
        let manifests = self.verify_manifests(&objects, &mut report)?;
        self.verify_lineage(&manifests, &mut report)?;
        self.verify_refs(&manifests, &mut report)?;
        self.verify_ref_logs(&mut report)?;
        Ok(report)
    }

    /// Parses every run's ref log. A move whose `to` is not the head is not a problem: a
    /// later move, or a crash between the record and the ref, explains it.
    fn verify_ref_logs(&self, report: &mut VerifyReport) -> Result<()> {
        let dir = self.logs_dir();
        for name in list_dir(&dir)? {
            if is_temp_name(&name) {
                continue;
            }
            let path = dir.join(&name);
            if validate_name("run", &name).is_err() || !path.is_file() {
                report.problems.push(Problem::new(
                    path,
                    "unexpected-file",
                    "not a run's ref log".into(),
                ));
                continue;
            }
            match self.ref_moves(&name) {
                Ok(_) => {}
                Err(StoreError::CorruptRefLog { message, line, .. }) => report.problems.push(
                    Problem::new(path, "bad-ref-log", format!("line {line}: {message}")),
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Re-hashes every object; returns the sizes of the objects present.
    fn verify_objects(&self, report: &mut VerifyReport) -> Result<HashMap<String, u64>> {
        let mut present = HashMap::new();
        let objects_dir = self.objects_dir();
        for dir_name in list_dir(&objects_dir)? {
            if is_temp_name(&dir_name) {
                continue;
            }
            let dir = objects_dir.join(&dir_name);
            if !dir.is_dir() || dir_name.len() != 2 || !is_lower_hex(&dir_name) {
                report.problems.push(Problem::new(
                    dir,
                    "unexpected-file",
                    "not an object folder (objects/ holds only two-hex-digit folders)".into(),
                ));
                continue;
            }
            for name in list_dir(&dir)? {
                if is_temp_name(&name) {
                    continue;
                }
                let path = dir.join(&name);
                let hash = format!("{dir_name}{name}");
                if !is_full_id(&hash) || !path.is_file() {
                    report.problems.push(Problem::new(
                        path,
                        "unexpected-file",
                        "not an object (object names are sha256 hex digests)".into(),
                    ));
                    continue;
                }
                report.objects_checked += 1;
                match sha256_file(&path) {
                    Ok((actual, size)) => {
                        if actual != hash {
                            report.problems.push(Problem::new(
                                path.clone(),
                                "corrupt-object",
                                format!("object {hash} is corrupt: its content hashes to {actual}"),
                            ));
                        }
                        present.insert(hash, size);
                    }
                    Err(e) => report.problems.push(Problem::new(
                        path,
                        "unreadable-object",
                        format!("object {hash} cannot be read: {e}"),
                    )),
                }
            }
        }
        Ok(present)
    }

    /// Parses every manifest, recomputes its id and checks its parts.
    fn verify_manifests(
        &self,
        objects: &HashMap<String, u64>,
        report: &mut VerifyReport,
    ) -> Result<HashMap<CheckpointId, Manifest>> {
        let mut manifests = HashMap::new();
        let dir = self.manifests_dir();
        for name in list_dir(&dir)? {
            if is_temp_name(&name) {
                continue;
            }
            let path = dir.join(&name);
            let Some(manifest) = read_manifest_for_verify(&path, &name, report) else {
                continue;
            };
            check_manifest_hashes(&path, &manifest, report);
            self.verify_parts(&manifest, objects, report);
            manifests.insert(manifest.id.clone(), manifest);
        }
        Ok(manifests)
    }

    /// Checks that every part of `manifest` has its object among `objects` (the objects
    /// present, with their sizes), with the size the manifest records.
    fn verify_parts(
        &self,
        manifest: &Manifest,
        objects: &HashMap<String, u64>,
        report: &mut VerifyReport,
    ) {
        let id = &manifest.id;
        for (part, part_ref) in &manifest.parts {
            match objects.get(&part_ref.object) {
                None => report.problems.push(Problem::new(
                    self.object_path(&part_ref.object),
                    "missing-object",
                    format!(
                        "object {} (part '{part}' of checkpoint {id}) is missing",
                        part_ref.object
                    ),
                )),
                Some(&size) if size != part_ref.bytes => report.problems.push(Problem::new(
                    self.object_path(&part_ref.object),
                    "object-size-mismatch",
                    format!(
                        "object {} (part '{part}' of checkpoint {id}) has {size} bytes, the manifest records {}",
                        part_ref.object, part_ref.bytes
                    ),
                )),
                Some(_) => {}
            }
        }
    }

    /// Checks `parent` / `replaces` links and the relation/parent agreement.
    fn verify_lineage(
        &self,
        manifests: &HashMap<CheckpointId, Manifest>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let pruned = self.pruned_ids()?;
        let mut ids: Vec<&CheckpointId> = manifests.keys().collect();
        ids.sort();
        for id in ids {
            let m = &manifests[id];
            let path = self.manifest_path(id);
            match (m.relation, &m.parent) {
                (Relation::Initial | Relation::Imported, Some(_)) => {
                    report.problems.push(Problem::new(
                        path.clone(),
                        "bad-lineage",
                        format!(
                            "checkpoint {id} is an {} model but has a parent",
                            m.relation
                        ),
                    ))
                }
                (Relation::FineTuned | Relation::Retrained | Relation::Reset, None) => {
                    report.problems.push(Problem::new(
                        path.clone(),
                        "bad-lineage",
                        format!("checkpoint {id} is {} but has no parent", m.relation),
                    ))
                }
                _ => {}
            }
            if let Some(parent) = &m.parent {
                let pruned_ok = m.relation != Relation::Retrained && pruned.contains(parent);
                if !manifests.contains_key(parent) && !pruned_ok {
                    report.problems.push(Problem::new(
                        path.clone(),
                        "dangling-parent",
                        format!("checkpoint {id} names parent {parent}, which is not in the store"),
                    ));
                }
            }
            if let Some(replaces) = &m.replaces
                && !manifests.contains_key(replaces)
                && !pruned.contains(replaces)
            {
                report.problems.push(Problem::new(
                    path,
                    "dangling-replaces",
                    format!("checkpoint {id} replaces {replaces}, which is not in the store"),
                ));
            }
        }
        Ok(())
    }

    /// Checks every run and tag ref.
    fn verify_refs(
        &self,
        manifests: &HashMap<CheckpointId, Manifest>,
        report: &mut VerifyReport,
    ) -> Result<()> {
        for (dir, kind) in [(self.runs_dir(), "run"), (self.tags_dir(), "tag")] {
            for name in list_dir(&dir)? {
                if is_temp_name(&name) {
                    continue;
                }
                let path = dir.join(&name);
                if validate_name(kind, &name).is_err() || !path.is_file() {
                    report.problems.push(Problem::new(
                        path,
                        "unexpected-file",
                        format!("not a valid {kind} ref name"),
                    ));
                    continue;
                }
                let id = match self.read_ref(&path) {
                    Ok(Some(id)) => id,
                    Ok(None) => continue,
                    Err(e) => {
                        report
                            .problems
                            .push(Problem::new(path, "bad-ref", e.to_string()));
                        continue;
                    }
                };
                match manifests.get(&id) {
                    Some(m) if kind == "run" && m.run != name => {
                        report.problems.push(Problem::new(
                            path,
                            "ref-run-mismatch",
                            format!(
                                "run ref '{name}' points at checkpoint {id}, which belongs to run '{}'",
                                m.run
                            ),
                        ));
                    }
                    Some(_) => {}
                    // An existing but unparseable manifest is already reported.
                    None if self.manifest_path(&id).is_file() => {}
                    None => report.problems.push(Problem::new(
                        path,
                        "dangling-ref",
                        format!(
                            "{kind} '{name}' points at checkpoint {id}, which is not in the store"
                        ),
                    )),
                }
            }
        }
        Ok(())
    }
}

/// Reads and parses the manifest file `path`, named `name`, without checking its id or
/// checksum; `None`, with the problem reported, if its name is not a manifest's or it cannot
/// be read or parsed. Counts the manifests read.
fn read_manifest_for_verify(
    path: &Path,
    name: &str,
    report: &mut VerifyReport,
) -> Option<Manifest> {
    let Some(id) = name.strip_suffix(".json").filter(|id| is_full_id(id)) else {
        report.problems.push(Problem::new(
            path.to_path_buf(),
            "unexpected-file",
            "not a manifest (manifest names are <64 hex digits>.json)".into(),
        ));
        return None;
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.problems.push(Problem::new(
                path.to_path_buf(),
                "unreadable-manifest",
                format!("manifest {id} cannot be read: {e}"),
            ));
            return None;
        }
    };
    report.manifests_checked += 1;
    match parse_manifest_unchecked(path, id, &bytes) {
        Ok(manifest) => Some(manifest),
        Err(e) => {
            let detail = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            report.problems.push(Problem::new(
                path.to_path_buf(),
                "bad-manifest",
                format!("{e}{detail}"),
            ));
            None
        }
    }
}

/// Reports a manifest (read from `path`) whose content does not hash to its id, or else
/// whose checksum does not match its file.
fn check_manifest_hashes(path: &Path, manifest: &Manifest, report: &mut VerifyReport) {
    let id = &manifest.id;
    let computed = manifest.compute_id();
    if computed != *id {
        report.problems.push(Problem::new(
            path.to_path_buf(),
            "manifest-id-mismatch",
            format!("manifest {id} was modified: its content hashes to id {computed}"),
        ));
    } else if !manifest.checksum_matches() {
        // An edit the id does not cover (created_at, train_seconds).
        report.problems.push(Problem::new(
            path.to_path_buf(),
            "manifest-checksum-mismatch",
            format!("manifest {id}: {MANIFEST_EDITED}"),
        ));
    }
}
