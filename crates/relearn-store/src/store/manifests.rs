//! Manifests: reading and parsing `manifests/<id>.json`, one, all, or a run's chain.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use super::Store;
use crate::error::{Result, StoreError};
use crate::fsutil::{is_full_id, list_dir, validate_name};
use crate::model::{CheckpointId, Manifest};

/// Manifests read from the store, and the parse errors of those that could not be read.
type ManifestsRead = (Vec<Manifest>, Vec<StoreError>);

/// Listing at least this many manifests reads them on several threads.
const PARALLEL_READ_MIN: usize = 256;

/// At most this many threads read manifests.
const MAX_READ_THREADS: usize = 8;

impl Store {
    /// Reads and parses `manifests/<id>.json` (without tags). IO errors keep their kind so
    /// callers can tell "not found".
    pub(crate) fn read_manifest_file(&self, id: &str) -> Result<Manifest> {
        let path = self.manifest_path(id);
        let bytes = fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
        parse_manifest(&path, id, &bytes)
    }

    /// The checkpoint `id` (a full id), with its tags.
    ///
    /// The manifest's content must hash to `id`: a manifest edited after it was written (say,
    /// one whose `parts` now name other objects) fails with [`StoreError::CorruptManifest`]
    /// rather than load something that is not the checkpoint `id`.
    ///
    /// Fails with [`StoreError::UnknownRef`] if there is no such checkpoint.
    pub fn manifest(&self, id: &str) -> Result<Manifest> {
        if !is_full_id(id) {
            return Err(self.unknown_ref(id, None));
        }
        let mut manifest = match self.read_manifest_file(id) {
            Ok(m) => m,
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(self.unknown_ref(id, None));
            }
            Err(e) => return Err(e),
        };
        let computed = manifest.compute_id();
        if computed != id {
            return Err(StoreError::CorruptManifest {
                path: self.manifest_path(id),
                reason: format!("it was modified: its content hashes to id {computed}"),
                source: None,
            });
        }
        manifest.tags = self.tags_of(id)?;
        Ok(manifest)
    }

    /// The ids of all manifest files (file names only; nothing is parsed), sorted.
    pub(crate) fn manifest_ids(&self) -> Result<Vec<CheckpointId>> {
        Ok(list_dir(&self.manifests_dir())?
            .into_iter()
            .filter_map(|name| CheckpointId::parse(name.strip_suffix(".json")?))
            .collect())
    }

    /// Every checkpoint in the store, with tags, sorted by (created_at, run, window, id).
    /// Temp files are ignored; a manifest that cannot be parsed is an error
    /// ([`StoreError::CorruptManifest`]).
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        let (manifests, mut unreadable) = self.readable_manifests()?;
        match unreadable.is_empty() {
            true => Ok(manifests),
            false => Err(unreadable.swap_remove(0)),
        }
    }

    /// [`Store::manifests`] that goes on past manifests it cannot parse: the readable ones,
    /// sorted, and an error ([`StoreError::CorruptManifest`]) for each of the others, so that
    /// a listing can show the rest of the store and name the damage. Other errors (a folder
    /// that cannot be listed) still fail.
    pub fn readable_manifests(&self) -> Result<(Vec<Manifest>, Vec<StoreError>)> {
        let mut tags_by_id: HashMap<CheckpointId, Vec<String>> = HashMap::new();
        for (tag, id) in self.tags()? {
            tags_by_id.entry(id).or_default().push(tag);
        }
        let (mut manifests, unreadable) = self.read_manifests(&self.manifest_ids()?)?;
        for manifest in &mut manifests {
            if let Some(tags) = tags_by_id.remove(&manifest.id) {
                manifest.tags = tags;
            }
        }
        manifests.sort_by(|a, b| {
            (&a.created_at, &a.run, a.window, &a.id).cmp(&(&b.created_at, &b.run, b.window, &b.id))
        });
        Ok((manifests, unreadable))
    }

    /// Reads and parses the given manifests (skipping any removed meanwhile by a concurrent
    /// gc), on several threads when there are many: the parsed ones, and the parse errors of
    /// the others.
    fn read_manifests(&self, ids: &[CheckpointId]) -> Result<ManifestsRead> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_READ_THREADS);
        if threads <= 1 || ids.len() < PARALLEL_READ_MIN {
            return self.read_manifest_chunk(ids);
        }
        let chunk = ids.len().div_ceil(threads);
        // The first chunk is read on this thread: a new thread's allocations come from a
        // fresh malloc arena that grows a page or so at a time, an mprotect each (perf of
        // `log --json` over 10,000 manifests: heap growth 10 % of samples with a thread per
        // chunk, 4 % with this).
        let (first, rest) = ids.split_at(chunk.min(ids.len()));
        std::thread::scope(|scope| {
            let workers: Vec<_> = rest
                .chunks(chunk)
                .map(|ids| scope.spawn(move || self.read_manifest_chunk(ids)))
                .collect();
            let (mut manifests, mut unreadable) = self.read_manifest_chunk(first)?;
            manifests.reserve(ids.len() - manifests.len());
            for worker in workers {
                let (more, bad) = worker.join().expect("manifest reader thread panicked")?;
                manifests.extend(more);
                unreadable.extend(bad);
            }
            Ok((manifests, unreadable))
        })
    }

    fn read_manifest_chunk(&self, ids: &[CheckpointId]) -> Result<ManifestsRead> {
        let mut manifests = Vec::with_capacity(ids.len());
        let mut unreadable = Vec::new();
        let mut buf = Vec::with_capacity(8192);
        for id in ids {
            let path = self.manifest_path(id);
            buf.clear();
            match File::open(&path).and_then(|f| read_small_file(f, &mut buf)) {
                Ok(_) => match parse_manifest(&path, id, &buf) {
                    Ok(m) => manifests.push(m),
                    Err(e) => unreadable.push(e),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("read", &path, e)),
            }
        }
        Ok((manifests, unreadable))
    }

    /// The run's checkpoints in creation order: every manifest of `run`, sorted by window,
    /// then created_at. Empty for a run without checkpoints.
    pub fn run_chain(&self, run: &str) -> Result<Vec<Manifest>> {
        Ok(self.run_chains(&[run])?.pop().unwrap_or_default())
    }

    /// [`Store::run_chain`] of each of `runs` (distinct names), in that order, from one read
    /// of the store's manifests (a store-wide command over every run reads each manifest
    /// once, not once a run).
    pub fn run_chains(&self, runs: &[&str]) -> Result<Vec<Vec<Manifest>>> {
        let (chains, mut unreadable) = self.readable_run_chains(runs)?;
        match unreadable.is_empty() {
            true => Ok(chains),
            false => Err(unreadable.swap_remove(0)),
        }
    }

    /// [`Store::run_chains`] that goes on past manifests it cannot parse, like
    /// [`Store::readable_manifests`] (an unparseable manifest may belong to any run).
    pub fn readable_run_chains(
        &self,
        runs: &[&str],
    ) -> Result<(Vec<Vec<Manifest>>, Vec<StoreError>)> {
        for run in runs {
            validate_name("run", run)?;
        }
        let index: HashMap<&str, usize> = runs.iter().enumerate().map(|(k, r)| (*r, k)).collect();
        let mut chains: Vec<Vec<Manifest>> = vec![Vec::new(); runs.len()];
        let (manifests, unreadable) = self.readable_manifests()?;
        for m in manifests {
            if let Some(&k) = index.get(m.run.as_str()) {
                chains[k].push(m);
            }
        }
        chains.iter_mut().for_each(|c| sort_chain(c));
        Ok((chains, unreadable))
    }
}

/// Sorts a run's checkpoints into creation order: window, then created_at, then id.
fn sort_chain(chain: &mut [Manifest]) {
    chain.sort_by(|a, b| (a.window, &a.created_at, &a.id).cmp(&(b.window, &b.created_at, &b.id)));
}

/// Reads all of `file` into `buf` (cleared first) with plain `read` calls: `read_to_end` on a
/// `File` first asks the file's size and position (`fstat`, `lseek`), two more system calls
/// per file, which listing 10,000 manifests of a kilobyte or two does not need.
fn read_small_file(mut file: File, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    let mut len = 0;
    loop {
        if buf.len() < len + 4096 {
            buf.resize(len + 8192, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(len)
}

/// Parses a manifest file's bytes and checks that its `id` field matches its name and its
/// checksum its content.
fn parse_manifest(path: &Path, id: &str, bytes: &[u8]) -> Result<Manifest> {
    let manifest = parse_manifest_unchecked(path, id, bytes)?;
    if !manifest.checksum_matches() {
        return Err(StoreError::CorruptManifest {
            path: path.to_path_buf(),
            reason: MANIFEST_EDITED.to_string(),
            source: None,
        });
    }
    Ok(manifest)
}

/// Why a manifest whose checksum does not match is refused.
pub(crate) const MANIFEST_EDITED: &str =
    "it was edited after it was written: its checksum does not match its content";

/// [`parse_manifest`] without the checksum check (`verify` reports that on its own).
pub(crate) fn parse_manifest_unchecked(path: &Path, id: &str, bytes: &[u8]) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptManifest {
            path: path.to_path_buf(),
            reason: "it is not a valid manifest".to_string(),
            source: Some(e),
        })?;
    if manifest.id != id {
        return Err(StoreError::CorruptManifest {
            path: path.to_path_buf(),
            reason: format!("its id field is {} but the file is named {id}", manifest.id),
            source: None,
        });
    }
    Ok(manifest)
}
