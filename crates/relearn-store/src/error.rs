//! The store's error type.

use std::path::PathBuf;

/// Result alias used throughout the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
///
/// [`StoreError::is_user_error`] tells bad input (a REF that does not resolve, a bad name, a
/// folder that is not a store: exit code 2) from failures of the store itself (IO, corruption,
/// a lock held by someone else: exit code 1).
///
/// Variants that wrap another error keep it as the `source`, so `{:#}` with `anyhow` shows
/// the whole chain; the message of the variant itself names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder is not a relearn store (it lacks `objects/` or `manifests/`).
    #[error(
        "{} is not a relearn store (no objects/ or manifests/ folder); run `relearn run` first or pass --store DIR",
        path.display()
    )]
    NotAStore {
        /// The folder that was opened.
        path: PathBuf,
    },

    /// An IO operation on a path failed. A full disk, a read-only file system and a
    /// permission problem are named in the message (see [`io_hint`]).
    #[error("cannot {action} {}{}", path.display(), io_hint(source))]
    Io {
        /// What was being done, e.g. "read", "write", "rename".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },

    /// An object's content does not hash to its name.
    #[error(
        "object {} is corrupt: its content hashes to {actual}, expected {expected}; run `relearn verify` to check the whole store",
        path.display()
    )]
    CorruptObject {
        /// The object file.
        path: PathBuf,
        /// The hash the object should have (its name).
        expected: String,
        /// The hash of the bytes actually found.
        actual: String,
    },

    /// An object that a manifest needs is not in the store.
    #[error(
        "object {hash} is missing (expected at {}); run `relearn verify` to check the whole store",
        path.display()
    )]
    MissingObject {
        /// The object hash.
        hash: String,
        /// Where the object should be.
        path: PathBuf,
    },

    /// A manifest file cannot be parsed or does not match its name.
    #[error(
        "manifest {} is corrupt: {reason}; run `relearn verify` to check the whole store",
        path.display()
    )]
    CorruptManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The parse error, where there is one.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// A line of a run's ref log (`logs/<run>`) is not a ref move.
    #[error("ref log {}:{line} is corrupt: {message}; run `relearn verify`", path.display())]
    CorruptRefLog {
        /// The log file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parse error.
        message: String,
    },

    /// A ref file does not contain a checkpoint id.
    #[error(
        "ref {} is corrupt: expected a 64-digit hex checkpoint id, found {content:?}; run `relearn verify`",
        path.display()
    )]
    CorruptRef {
        /// The ref file.
        path: PathBuf,
        /// What it contains (trimmed, possibly cut short).
        content: String,
    },

    /// A run or tag ref names a checkpoint whose manifest is not in the store: the store is
    /// damaged (`gc` never removes what a ref names).
    #[error(
        "the store is damaged: {} points at checkpoint {id}, whose manifest {} is missing; run `relearn verify` to see what else is wrong (nothing was changed)",
        ref_path.display(),
        manifest.display()
    )]
    DanglingRef {
        /// The ref file.
        ref_path: PathBuf,
        /// The id it holds.
        id: String,
        /// Where that checkpoint's manifest should be.
        manifest: PathBuf,
    },

    /// `gc` found the problems `verify` reports, and so deletes nothing.
    #[error(
        "the store {} is damaged ({count} problem(s); the first: {first}); gc deletes nothing in a damaged store. Run `relearn verify` to see every problem",
        path.display()
    )]
    Damaged {
        /// The store folder.
        path: PathBuf,
        /// How many problems `verify` found.
        count: usize,
        /// The first of them, for humans.
        first: String,
    },

    /// A REF matches no tag, run or checkpoint.
    #[error("{}", unknown_ref_message(reference, known_runs, known_tags, hint.as_deref()))]
    UnknownRef {
        /// The REF as given.
        reference: String,
        /// The runs in the store.
        known_runs: Vec<String>,
        /// The tags in the store.
        known_tags: Vec<String>,
        /// Extra advice, e.g. that id prefixes need 6+ hex digits.
        hint: Option<String>,
    },

    /// An id prefix matches several checkpoints.
    #[error(
        "REF '{reference}' is ambiguous: it matches {} checkpoints: {}; give more hex digits",
        candidates.len(),
        candidates.join(", ")
    )]
    AmbiguousRef {
        /// The prefix as given.
        reference: String,
        /// One entry per match: the first 12 hex digits, run and window.
        candidates: Vec<String>,
    },

    /// `NAME~K` or `NAME@W` names a run that has no such checkpoint.
    #[error("REF '{reference}' does not resolve: {reason}")]
    RefOutOfRange {
        /// The REF as given.
        reference: String,
        /// Why, e.g. how many checkpoints the run has.
        reason: String,
    },

    /// A run that the store does not know.
    #[error("{}", unknown_run_message(run, known_runs))]
    UnknownRun {
        /// The run name as given.
        run: String,
        /// The runs in the store.
        known_runs: Vec<String>,
    },

    /// A run or tag name that is not allowed.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// "run" or "tag" (or "part").
        kind: &'static str,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Another process holds the run's lock.
    #[error(
        "run '{run}' is being written by another relearn process (lock: {}); wait for it to finish",
        path.display()
    )]
    RunLocked {
        /// The run.
        run: String,
        /// The lock file.
        path: PathBuf,
    },

    /// Another process is writing to the store, so `gc` cannot run now.
    #[error(
        "the store is being written by another relearn process (lock: {}); wait for it to finish",
        path.display()
    )]
    StoreBusy {
        /// The store-wide lock file.
        path: PathBuf,
    },

    /// A draft handed to [`crate::Store::commit`] is not valid (a bug in the caller or a
    /// diverged training run, e.g. a NaN metric).
    #[error("cannot commit checkpoint of run '{run}': {reason}")]
    InvalidDraft {
        /// The draft's run.
        run: String,
        /// What is wrong.
        reason: String,
    },

    /// A string that should be a 64-digit lowercase hex hash is not.
    #[error("{value:?} is not a 64-digit lowercase hex hash")]
    InvalidHash {
        /// The string given.
        value: String,
    },
}

impl StoreError {
    /// True for bad input from the user (exit code 2): a REF that does not resolve, an unknown
    /// run, an ambiguous prefix, an invalid name, a folder that is not a store. False for IO
    /// errors, corruption and locks (exit code 1).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotAStore { .. }
                | StoreError::UnknownRef { .. }
                | StoreError::AmbiguousRef { .. }
                | StoreError::RefOutOfRange { .. }
                | StoreError::UnknownRun { .. }
                | StoreError::InvalidName { .. }
        )
    }

    /// True when the store's content is damaged (a corrupt or missing object, a corrupt
    /// manifest or ref): the user should run `relearn verify`.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::CorruptObject { .. }
                | StoreError::MissingObject { .. }
                | StoreError::CorruptManifest { .. }
                | StoreError::CorruptRef { .. }
                | StoreError::CorruptRefLog { .. }
                | StoreError::DanglingRef { .. }
                | StoreError::Damaged { .. }
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// What to tell the user about an IO error beyond the OS message, for the errors a user can
/// fix: a full disk, a read-only file system, missing permissions.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            " (the disk is full: free some space and run again; checkpoints already committed are intact)"
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the store is on a read-only file system: pass a writable --store DIR)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (permission denied: check the owner and permissions of the store's files and folders)"
        }
        _ => "",
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

fn unknown_ref_message(
    reference: &str,
    known_runs: &[String],
    known_tags: &[String],
    hint: Option<&str>,
) -> String {
    let mut message = format!(
        "unknown REF '{reference}': not a tag, run, NAME~K, NAME@W or checkpoint id in this store. Known runs: {}. Known tags: {}.",
        list_or_none(known_runs),
        list_or_none(known_tags)
    );
    if let Some(hint) = hint {
        message.push(' ');
        message.push_str(hint);
    }
    message
}

fn unknown_run_message(run: &str, known_runs: &[String]) -> String {
    format!(
        "unknown run '{run}'. Known runs: {}.",
        list_or_none(known_runs)
    )
}
