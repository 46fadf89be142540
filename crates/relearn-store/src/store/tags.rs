//! Tags: names pointing at checkpoints (`refs/tags/<name>`).

use std::collections::BTreeMap;

use super::Store;
use crate::error::Result;
use crate::fsutil::{remove_file_if_exists, sync_dir, validate_name};
use crate::model::CheckpointId;

impl Store {
    /// All tags and the checkpoints they point at.
    pub fn tags(&self) -> Result<BTreeMap<String, CheckpointId>> {
        let dir = self.tags_dir();
        let mut tags = BTreeMap::new();
        for name in Self::ref_names(&dir)? {
            if let Some(id) = self.read_ref(&dir.join(&name))? {
                tags.insert(name, id);
            }
        }
        Ok(tags)
    }

    /// The tags pointing at `id`, sorted.
    pub(super) fn tags_of(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .tags()?
            .into_iter()
            .filter_map(|(name, target)| (target == id).then_some(name))
            .collect())
    }

    /// Creates or moves tag `name` to checkpoint `id` (a full id in the store).
    pub fn set_tag(&self, name: &str, id: &str) -> Result<()> {
        validate_name("tag", name)?;
        self.require_manifest(id)?;
        let _guard = self.shared_guard()?;
        self.write_ref(&self.tags_dir(), name, id)
    }

    /// Removes tag `name`; returns whether it existed.
    pub fn remove_tag(&self, name: &str) -> Result<bool> {
        validate_name("tag", name)?;
        let _guard = self.shared_guard()?;
        let dir = self.tags_dir();
        let existed = remove_file_if_exists(&dir.join(name))?;
        if existed {
            sync_dir(&dir)?;
        }
        Ok(existed)
    }
}
