//! Objects: the content-addressed blobs that hold a checkpoint's parts.

use std::fs;
use std::io;

use super::Store;
use crate::error::{Result, StoreError};
use crate::fsutil::{ensure_dir, is_full_id, sha256_hex, sync_dir, write_atomic};
use crate::model::{Manifest, PartRef};

impl Store {
    /// Stores `bytes` as an object (idempotent: an existing object of the right size is kept)
    /// and returns its hash and size.
    pub fn put_object(&self, bytes: &[u8]) -> Result<PartRef> {
        let _guard = self.shared_guard()?;
        self.put_object_unlocked(bytes)
    }

    fn put_object_unlocked(&self, bytes: &[u8]) -> Result<PartRef> {
        let part = part_of(bytes);
        if self.has_object(&part) {
            return Ok(part);
        }
        if self.ensure_object_dirs([part.object.as_str()])? {
            sync_dir(&self.objects_dir())?;
        }
        write_atomic(&self.object_path(&part.object), bytes, true)?;
        Ok(part)
    }

    /// Creates the `objects/ab/` folders of `hashes` that are missing; true if it made any.
    /// Their creation is durable once `objects/` is synced, which the caller does before
    /// anything that names an object in them is published.
    pub(super) fn ensure_object_dirs<'a>(
        &self,
        hashes: impl IntoIterator<Item = &'a str>,
    ) -> Result<bool> {
        let mut created = false;
        for hash in hashes {
            let path = self.object_path(hash);
            let dir = path.parent().expect("object paths have a parent");
            if !dir.is_dir() {
                ensure_dir(dir)?;
                created = true;
            }
        }
        Ok(created)
    }

    /// Whether the object of `part` is in the store with the right size (an object is
    /// never rewritten: its name is its content's hash).
    pub(super) fn has_object(&self, part: &PartRef) -> bool {
        fs::metadata(self.object_path(&part.object))
            .is_ok_and(|meta| meta.is_file() && meta.len() == part.bytes)
    }

    /// Reads an object and checks that its content hashes to `hash`.
    ///
    /// Errors: [`StoreError::MissingObject`] if absent, [`StoreError::CorruptObject`] on a
    /// hash mismatch.
    pub fn get_object(&self, hash: &str) -> Result<Vec<u8>> {
        if !is_full_id(hash) {
            return Err(StoreError::InvalidHash {
                value: hash.to_string(),
            });
        }
        let path = self.object_path(hash);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingObject {
                    hash: hash.to_string(),
                    path,
                });
            }
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        let actual = sha256_hex(&bytes);
        if actual != hash {
            return Err(StoreError::CorruptObject {
                path,
                expected: hash.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The verified bytes of a checkpoint's part `part`.
    ///
    /// Fails with [`StoreError::InvalidName`] if the checkpoint has no such part.
    pub fn load_part(&self, manifest: &Manifest, part: &str) -> Result<Vec<u8>> {
        let Some(part_ref) = manifest.parts.get(part) else {
            return Err(StoreError::InvalidName {
                kind: "part",
                name: part.to_string(),
                reason: "the checkpoint has no part of that name",
            });
        };
        let bytes = self.get_object(&part_ref.object)?;
        if bytes.len() as u64 != part_ref.bytes {
            // Only possible if the manifest disagrees with its own object hash.
            return Err(StoreError::CorruptManifest {
                path: self.manifest_path(&manifest.id),
                reason: format!(
                    "part '{part}' records {} bytes but its object has {}",
                    part_ref.bytes,
                    bytes.len()
                ),
                source: None,
            });
        }
        Ok(bytes)
    }
}

/// The part record of `bytes`: their hash (the object's name) and size.
pub(super) fn part_of(bytes: &[u8]) -> PartRef {
    PartRef {
        object: sha256_hex(bytes),
        bytes: bytes.len() as u64,
    }
}
