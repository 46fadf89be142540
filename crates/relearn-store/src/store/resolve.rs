//! REF resolution: from what a user types (a tag, a run, `run~K`, `run@W`, an id or an id
//! prefix) to a checkpoint id, and the errors that list what the store knows.

use std::collections::BTreeSet;

use super::Store;
use crate::error::{Result, StoreError};
use crate::fsutil::{is_lower_hex, validate_name};
use crate::model::CheckpointId;

/// Shortest id prefix that [`Store::resolve`] accepts.
pub const MIN_PREFIX_LEN: usize = 6;

impl Store {
    /// Resolves a REF to a checkpoint id, trying in order: a tag; a run name (its head);
    /// `NAME~K` (K checkpoints before the head in the run's creation order); `NAME@W` (the
    /// run's checkpoint for window W, the latest if several); a full id; a unique id prefix
    /// of at least 6 hex digits.
    ///
    /// Errors (all user errors): [`StoreError::UnknownRef`] (listing runs and tags),
    /// [`StoreError::AmbiguousRef`], [`StoreError::RefOutOfRange`].
    pub fn resolve(&self, reference: &str) -> Result<CheckpointId> {
        if let Some(id) = self.resolve_ref_name(reference)? {
            return Ok(id);
        }
        if let Some(id) = self.resolve_steps_back(reference)? {
            return Ok(id);
        }
        if let Some(id) = self.resolve_window(reference)? {
            return Ok(id);
        }
        if let Some(id) = self.resolve_hex(reference)? {
            return Ok(id);
        }
        Err(self.unknown_ref(reference, None))
    }

    /// A tag or a run named `reference` (a tag first): the checkpoint it points at. `None`
    /// if there is neither.
    fn resolve_ref_name(&self, reference: &str) -> Result<Option<CheckpointId>> {
        if validate_name("ref", reference).is_ok() {
            for dir in [self.tags_dir(), self.runs_dir()] {
                let path = dir.join(reference);
                if let Some(id) = self.read_ref(&path)? {
                    return self.present(&path, id).map(Some);
                }
            }
        }
        Ok(None)
    }

    /// `NAME~K` of a run with a head: the checkpoint K before the head in the run's creation
    /// order. `None` if `reference` is not of that form.
    fn resolve_steps_back(&self, reference: &str) -> Result<Option<CheckpointId>> {
        if let Some((name, k)) = reference.rsplit_once('~')
            && let Ok(k) = k.parse::<usize>()
            && validate_name("run", name).is_ok()
            && let Some(head) = self.run_head(name)?
        {
            let chain = self.run_chain(name)?;
            let pos = chain
                .iter()
                .position(|m| m.id == head)
                .unwrap_or(chain.len().saturating_sub(1));
            if chain.is_empty() || k > pos {
                let count = if chain.is_empty() { 0 } else { pos + 1 };
                return Err(StoreError::RefOutOfRange {
                    reference: reference.to_string(),
                    reason: format!(
                        "run '{name}' has {count} checkpoint(s) up to its latest, so K can be at most {}",
                        count.saturating_sub(1)
                    ),
                });
            }
            return Ok(Some(chain[pos - k].id.clone()));
        }
        Ok(None)
    }

    /// `NAME@W` of a run with a head: the run's latest checkpoint for window W. `None` if
    /// `reference` is not of that form.
    fn resolve_window(&self, reference: &str) -> Result<Option<CheckpointId>> {
        if let Some((name, w)) = reference.rsplit_once('@')
            && let Ok(w) = w.parse::<u64>()
            && validate_name("run", name).is_ok()
            && self.run_head(name)?.is_some()
        {
            let chain = self.run_chain(name)?;
            if let Some(m) = chain.iter().rev().find(|m| m.window == w) {
                return Ok(Some(m.id.clone()));
            }
            let windows: BTreeSet<u64> = chain.iter().map(|m| m.window).collect();
            return Err(StoreError::RefOutOfRange {
                reference: reference.to_string(),
                reason: format!(
                    "run '{name}' has no checkpoint for window {w}; its windows are {}",
                    describe_windows(&windows)
                ),
            });
        }
        Ok(None)
    }

    /// A full id in the store, or a unique prefix of one with at least [`MIN_PREFIX_LEN`]
    /// hex digits (either case). `None` if `reference` is not hex.
    fn resolve_hex(&self, reference: &str) -> Result<Option<CheckpointId>> {
        let lower = reference.to_ascii_lowercase();
        if !is_lower_hex(&lower) {
            return Ok(None);
        }
        if lower.len() == 64 {
            if self.manifest_path(&lower).is_file() {
                return Ok(Some(CheckpointId(lower)));
            }
            return Err(self.unknown_ref(reference, None));
        }
        if lower.len() < MIN_PREFIX_LEN {
            return Err(self.unknown_ref(
                reference,
                Some(format!(
                    "Id prefixes need at least {MIN_PREFIX_LEN} hex digits."
                )),
            ));
        }
        let ids = self.manifest_ids()?;
        let matches = find_by_prefix(ids.iter().map(CheckpointId::as_str), &lower);
        match matches.as_slice() {
            [] => Err(self.unknown_ref(reference, None)),
            [one] => Ok(Some(CheckpointId(one.to_string()))),
            many => Err(StoreError::AmbiguousRef {
                reference: reference.to_string(),
                candidates: many.iter().map(|id| self.describe_candidate(id)).collect(),
            }),
        }
    }

    /// A candidate of an ambiguous id prefix for the error: its short id, run and window.
    fn describe_candidate(&self, id: &str) -> String {
        let short = &id[..12.min(id.len())];
        match self.read_manifest_file(id) {
            Ok(m) => format!("{short} (run {}, window {})", m.run, m.window),
            Err(_) => format!("{short} (unreadable manifest)"),
        }
    }

    /// An [`StoreError::UnknownRef`] listing the store's runs and tags.
    pub(super) fn unknown_ref(&self, reference: &str, hint: Option<String>) -> StoreError {
        StoreError::UnknownRef {
            reference: reference.to_string(),
            known_runs: self.runs().unwrap_or_default(),
            known_tags: self
                .tags()
                .map(|t| t.into_keys().collect())
                .unwrap_or_default(),
            hint,
        }
    }

    /// An [`StoreError::UnknownRun`] listing the store's runs.
    pub(crate) fn unknown_run(&self, run: &str) -> StoreError {
        StoreError::UnknownRun {
            run: run.to_string(),
            known_runs: self.runs().unwrap_or_default(),
        }
    }
}

/// The ids among `ids` that start with `prefix`, in the order given.
pub fn find_by_prefix<'a, I>(ids: I, prefix: &str) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    ids.into_iter()
        .filter(|id| id.starts_with(prefix))
        .collect()
}

/// A run's windows for an error: `none`, `first..=last` for more than 3 consecutive ones,
/// or else a list of the first 20 (`...` after them if there are more).
fn describe_windows(windows: &BTreeSet<u64>) -> String {
    if windows.is_empty() {
        return "none".to_string();
    }
    let first = *windows.first().expect("non-empty");
    let last = *windows.last().expect("non-empty");
    if (last - first + 1) as usize == windows.len() && windows.len() > 3 {
        return format!("{first}..={last}");
    }
    let mut listed: Vec<String> = windows.iter().take(20).map(u64::to_string).collect();
    if windows.len() > 20 {
        listed.push("...".to_string());
    }
    listed.join(", ")
}
