//! The checkpoint store of `relearn`: it keeps every checkpoint of a run as named byte blobs
//! (weights, optimizer state, preprocessing state, ...) plus a JSON manifest recording its
//! lineage, metrics and config fingerprint, so that a model kept current on drifting data
//! can be inspected, compared, rolled back, verified and garbage-collected. It knows nothing
//! about Burn or machine learning: the trainer hands it a [`CheckpointDraft`] and gets back a
//! [`Manifest`] whose id is the hash of the checkpoint's content.
//!
//! # Layout
//!
//! ```text
//! <root>/objects/ab/cdef...   immutable content-addressed blobs (sha256 hex; read-only files)
//! <root>/manifests/<id>.json  one per checkpoint (pretty JSON, without tags)
//! <root>/refs/runs/<name>     latest checkpoint id of a run ("<id>\n")
//! <root>/refs/tags/<name>     a tag ("<id>\n")
//! <root>/locks/<run>.lock     per-run lock files; locks/.store.lock is the store-wide lock
//! <root>/pruned               ids removed by gc, one per line (so verify accepts links to them)
//! <root>/tmp/                 scratch space; `.tmp-*` files anywhere are temporary too
//! ```
//!
//! # Durability
//!
//! Every file is written to a `.tmp-*` file in the target's folder, synced, renamed onto the
//! target, and the folder is synced. A commit writes objects first, then the manifest, and
//! moves the run's ref last, so a crash at any instant leaves a store that
//! [`Store::verify`] passes (an orphan manifest is valid; committing it again succeeds).
//!
//! # Concurrency
//!
//! Writers of one run are kept apart by [`Store::lock_run`] (an exclusive, non-blocking file
//! lock released on drop or process death). Every write also holds a shared store-wide lock,
//! which [`Store::gc`] and the temp-file cleanup in [`Store::open_for_write`] take
//! exclusively, so they never delete what a concurrent writer is about to reference.

mod error;
mod fsutil;
mod gc;
mod model;
mod store;
mod verify;

pub use error::{Result, StoreError};
pub use fsutil::{MAX_NAME_LEN, is_full_id, now_rfc3339, validate_name};
pub use gc::GcReport;
pub use model::{
    CheckpointDraft, CheckpointId, DERIVED_EXTRA, DERIVED_METRICS, Manifest, Metrics, PartRef,
    Publish, RefMove, Relation, Retained, TrainedOn,
};
pub use store::{MIN_PREFIX_LEN, RunLock, Store, find_by_prefix};
pub use verify::{Problem, VerifyReport};
