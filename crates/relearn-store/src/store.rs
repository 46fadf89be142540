//! The [`Store`]: objects, manifests, refs, locks and REF resolution.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::error::{Result, StoreError};
use crate::fsutil::{
    crash_point, ensure_dir, is_full_id, is_lower_hex, is_temp_name, list_dir, now_rfc3339,
    read_text_if_exists, remove_file_if_exists, sha256_hex, stage_all, sync_dir, sync_dirs,
    validate_name, write_atomic,
};
use crate::model::{CheckpointDraft, CheckpointId, Manifest, PartRef, Publish, RefMove};

/// Shortest id prefix that [`Store::resolve`] accepts.
pub const MIN_PREFIX_LEN: usize = 6;

/// Name of the store-wide lock file in `locks/`. Run names cannot start with '.', so it never
/// collides with a run's lock.
const STORE_LOCK: &str = ".store.lock";

/// Manifests read from the store, and the parse errors of those that could not be read.
type ManifestsRead = (Vec<Manifest>, Vec<StoreError>);

/// How long [`Store::exclusive_guard`] waits for concurrent commits to finish.
const EXCLUSIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Listing at least this many manifests reads them on several threads.
const PARALLEL_READ_MIN: usize = 256;

/// At most this many threads read manifests.
const MAX_READ_THREADS: usize = 8;

/// A checkpoint store in a folder (see the crate docs for the layout).
///
/// A `Store` is a cheap handle (just the root path); all state is on disk, so several
/// processes can use one store at once. Writers of one run are kept apart by
/// [`Store::lock_run`].
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

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
    /// Opens an existing store for reading.
    ///
    /// Fails with [`StoreError::NotAStore`] (a user error) if `root` has no `objects/` or
    /// `manifests/` folder.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        if !store.objects_dir().is_dir() || !store.manifests_dir().is_dir() {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
            });
        }
        Ok(store)
    }

    /// Opens a store for writing, creating the layout if missing, and removes temporary files
    /// left by crashed writers (only when no other process is writing at the moment).
    pub fn open_for_write(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in [
            store.objects_dir(),
            store.manifests_dir(),
            store.runs_dir(),
            store.tags_dir(),
            store.locks_dir(),
            store.tmp_dir(),
        ] {
            ensure_dir(&dir)?;
        }
        if let Some(_guard) = store.try_exclusive_guard()? {
            store.remove_temp_files()?;
        } else {
            tracing::debug!("another process is writing to the store; temp files left alone");
        }
        Ok(store)
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub(crate) fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    pub(crate) fn runs_dir(&self) -> PathBuf {
        self.root.join("refs").join("runs")
    }

    pub(crate) fn tags_dir(&self) -> PathBuf {
        self.root.join("refs").join("tags")
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The folder of the runs' ref logs (see [`Store::move_run_head`]).
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The file recording the moves of `run`'s ref (see [`Store::move_run_head`]).
    pub fn ref_log_path(&self, run: &str) -> PathBuf {
        self.logs_dir().join(run)
    }

    /// The file listing ids that `gc` removed (see [`Store::gc`]).
    pub(crate) fn pruned_path(&self) -> PathBuf {
        self.root.join("pruned")
    }

    /// The path of a checkpoint's manifest file.
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.manifests_dir().join(format!("{id}.json"))
    }

    /// The path of an object: `objects/<first 2 hex digits>/<the rest>`.
    pub fn object_path(&self, hash: &str) -> PathBuf {
        if hash.len() > 2 && hash.is_char_boundary(2) {
            let (dir, rest) = hash.split_at(2);
            self.objects_dir().join(dir).join(rest)
        } else {
            self.objects_dir().join(hash)
        }
    }

    // ----------------------------------------------------------------------------------
    // Locks

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

    /// Removes this store's folder when nothing was ever written to it: for a `run` that
    /// created the store and then stopped before its first commit (bad input, a diverged
    /// initial training), so that nothing is left behind, not even the empty folders and
    /// the lock files. Only when the store holds no object, manifest, ref, log or temp file
    /// and no run lock is held (another `run` that created the same new store at the same
    /// time keeps it); a store that cannot be checked is left as it is.
    pub fn remove_if_unused(&self) {
        let is_empty =
            |dir: PathBuf| fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
        let skeleton = [
            self.objects_dir(),
            self.manifests_dir(),
            self.runs_dir(),
            self.tags_dir(),
            self.tmp_dir(),
        ];
        if !skeleton.into_iter().all(is_empty) || self.logs_dir().exists() {
            return;
        }
        let Ok(locks) = fs::read_dir(self.locks_dir()) else {
            return;
        };
        // Take every run lock in turn (without waiting): a held one means a run is writing.
        let mut held = Vec::new();
        for entry in locks {
            let Ok(entry) = entry else { return };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == STORE_LOCK {
                continue;
            }
            let Some(run) = name.strip_suffix(".lock").filter(|r| !r.is_empty()) else {
                return;
            };
            match self.lock_run(run) {
                Ok(lock) => held.push(lock),
                Err(_) => return,
            }
        }
        let Ok(top) = fs::read_dir(&self.root) else {
            return;
        };
        let expected = ["objects", "manifests", "refs", "locks", "tmp"];
        if top
            .filter_map(std::result::Result::ok)
            .any(|e| !expected.iter().any(|x| e.file_name() == *x))
        {
            return;
        }
        // The locks are held while the folder goes, and released after.
        if let Err(e) = fs::remove_dir_all(&self.root) {
            tracing::warn!(
                "could not remove the unused store {}: {e}",
                self.root.display()
            );
        }
        drop(held);
    }

    // ----------------------------------------------------------------------------------
    // Temp files

    /// Removes `.tmp-*` files in every store folder and everything under `tmp/`. The caller
    /// holds the exclusive store lock, so no write is in progress.
    fn remove_temp_files(&self) -> Result<()> {
        let mut dirs = vec![
            self.root.clone(),
            self.root.join("refs"),
            self.objects_dir(),
            self.manifests_dir(),
            self.runs_dir(),
            self.tags_dir(),
        ];
        for name in list_dir(&self.objects_dir())? {
            let path = self.objects_dir().join(&name);
            if !is_temp_name(&name) && path.is_dir() {
                dirs.push(path);
            }
        }
        let mut removed = 0usize;
        for dir in dirs {
            let mut removed_here = false;
            for name in list_dir(&dir)? {
                if is_temp_name(&name) {
                    let path = dir.join(&name);
                    if path.is_dir() {
                        fs::remove_dir_all(&path)
                            .map_err(|e| StoreError::io("remove", &path, e))?;
                    } else {
                        remove_file_if_exists(&path)?;
                    }
                    removed += 1;
                    removed_here = true;
                    crash_point("cleanup");
                }
            }
            if removed_here {
                sync_dir(&dir)?;
            }
        }
        let tmp = self.tmp_dir();
        for name in list_dir(&tmp)? {
            let path = tmp.join(&name);
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(|e| StoreError::io("remove", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "removed stale temporary files from the store");
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Objects

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
    fn ensure_object_dirs<'a>(&self, hashes: impl IntoIterator<Item = &'a str>) -> Result<bool> {
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
    fn has_object(&self, part: &PartRef) -> bool {
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

    // ----------------------------------------------------------------------------------
    // Commit

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

    // ----------------------------------------------------------------------------------
    // Manifests

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

    // ----------------------------------------------------------------------------------
    // Refs

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
    fn write_ref(&self, dir: &Path, name: &str, id: &str) -> Result<()> {
        ensure_dir(dir)?;
        write_atomic(&dir.join(name), ref_file_text(id).as_bytes(), false)
    }

    /// Valid ref names in `dir` (temp files and stray names skipped), sorted.
    fn ref_names(dir: &Path) -> Result<Vec<String>> {
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
    fn present(&self, ref_path: &Path, id: CheckpointId) -> Result<CheckpointId> {
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
    fn tags_of(&self, id: &str) -> Result<Vec<String>> {
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

    fn require_manifest(&self, id: &str) -> Result<()> {
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

    // ----------------------------------------------------------------------------------
    // REF resolution

    /// Resolves a REF to a checkpoint id, trying in order: a tag; a run name (its head);
    /// `NAME~K` (K checkpoints before the head in the run's creation order); `NAME@W` (the
    /// run's checkpoint for window W, the latest if several); a full id; a unique id prefix
    /// of at least 6 hex digits.
    ///
    /// Errors (all user errors): [`StoreError::UnknownRef`] (listing runs and tags),
    /// [`StoreError::AmbiguousRef`], [`StoreError::RefOutOfRange`].
    pub fn resolve(&self, reference: &str) -> Result<CheckpointId> {
        if validate_name("ref", reference).is_ok() {
            for dir in [self.tags_dir(), self.runs_dir()] {
                let path = dir.join(reference);
                if let Some(id) = self.read_ref(&path)? {
                    return self.present(&path, id);
                }
            }
        }
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
            return Ok(chain[pos - k].id.clone());
        }
        if let Some((name, w)) = reference.rsplit_once('@')
            && let Ok(w) = w.parse::<u64>()
            && validate_name("run", name).is_ok()
            && self.run_head(name)?.is_some()
        {
            let chain = self.run_chain(name)?;
            if let Some(m) = chain.iter().rev().find(|m| m.window == w) {
                return Ok(m.id.clone());
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
        let lower = reference.to_ascii_lowercase();
        if is_lower_hex(&lower) {
            if lower.len() == 64 {
                if self.manifest_path(&lower).is_file() {
                    return Ok(CheckpointId(lower));
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
            return match matches.as_slice() {
                [] => Err(self.unknown_ref(reference, None)),
                [one] => Ok(CheckpointId(one.to_string())),
                many => Err(StoreError::AmbiguousRef {
                    reference: reference.to_string(),
                    candidates: many.iter().map(|id| self.describe_candidate(id)).collect(),
                }),
            };
        }
        Err(self.unknown_ref(reference, None))
    }

    fn describe_candidate(&self, id: &str) -> String {
        let short = &id[..12.min(id.len())];
        match self.read_manifest_file(id) {
            Ok(m) => format!("{short} (run {}, window {})", m.run, m.window),
            Err(_) => format!("{short} (unreadable manifest)"),
        }
    }

    /// An [`StoreError::UnknownRef`] listing the store's runs and tags.
    fn unknown_ref(&self, reference: &str, hint: Option<String>) -> StoreError {
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

/// Sorts a run's checkpoints into creation order: window, then created_at, then id.
pub(crate) fn sort_chain(chain: &mut [Manifest]) {
    chain.sort_by(|a, b| (a.window, &a.created_at, &a.id).cmp(&(b.window, &b.created_at, &b.id)));
}

/// Parses a manifest file's bytes and checks that its `id` field matches its name.
/// The part record of `bytes`: their hash (the object's name) and size.
fn part_of(bytes: &[u8]) -> PartRef {
    PartRef {
        object: sha256_hex(bytes),
        bytes: bytes.len() as u64,
    }
}

/// The content of a ref file (run or tag) pointing at `id`.
fn ref_file_text(id: &str) -> String {
    format!("{id}\n")
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

pub(crate) fn parse_manifest(path: &Path, id: &str, bytes: &[u8]) -> Result<Manifest> {
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
