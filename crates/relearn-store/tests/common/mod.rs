//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use relearn_store::{
    CheckpointDraft, CheckpointId, Manifest, Metrics, Relation, Retained, Store, TrainedOn,
};
use serde_json::json;

/// A fresh store in a temp folder (keep the `TempDir` alive).
pub fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_for_write(dir.path()).unwrap();
    (dir, store)
}

/// A draft whose content depends on `run`, `window` and `parent`.
pub fn draft(
    run: &str,
    window: u64,
    relation: Relation,
    parent: Option<&str>,
    replaces: Option<&str>,
) -> CheckpointDraft {
    let mode = if relation == Relation::Retrained {
        "stateless"
    } else {
        "stateful"
    };
    CheckpointDraft {
        run: run.to_string(),
        mode: mode.to_string(),
        window,
        parent: parent.map(full_id),
        relation,
        replaces: replaces.map(full_id),
        samples_trained: 1000,
        samples_skipped: 0,
        retained: Retained {
            samples: 0,
            bytes: 0,
        },
        metrics: Metrics {
            prequential: (relation != Relation::Initial).then(|| {
                BTreeMap::from([
                    ("accuracy".to_string(), 0.5 + window as f64 / 100.0),
                    ("loss".to_string(), 0.1 + 0.2),
                ])
            }),
            train_loss: Some(1.0 / 3.0),
        },
        train_seconds: 0.25,
        config_fingerprint: "cfg-1".to_string(),
        trained_on: TrainedOn {
            windows: vec![window],
            samples: 1000,
        },
        extra: json!({"task": "classification", "hidden": [8, 8]}),
        parts: vec![
            (
                "model".to_string(),
                format!("weights of {run} at window {window}").into_bytes(),
            ),
            (
                "optimizer".to_string(),
                format!("adam {window}").into_bytes(),
            ),
            ("preprocessor".to_string(), b"scaler: shared".to_vec()),
        ],
    }
}

/// Commits an initial model and `updates` fine-tuned checkpoints (windows 1..=updates).
pub fn stateful_chain(store: &Store, run: &str, updates: u64) -> Vec<Manifest> {
    let mut chain = vec![
        store
            .commit(draft(run, 0, Relation::Initial, None, None))
            .unwrap(),
    ];
    for w in 1..=updates {
        let prev = chain.last().unwrap().id.clone();
        chain.push(
            store
                .commit(draft(run, w, Relation::FineTuned, Some(&prev), Some(&prev)))
                .unwrap(),
        );
    }
    chain
}

/// Commits an initial model and `updates` retrained checkpoints, all children of the initial.
pub fn stateless_star(store: &Store, run: &str, updates: u64) -> Vec<Manifest> {
    let initial = store
        .commit(draft(run, 0, Relation::Initial, None, None))
        .unwrap();
    let mut all = vec![initial.clone()];
    for w in 1..=updates {
        let prev = all.last().unwrap().id.clone();
        all.push(
            store
                .commit(draft(
                    run,
                    w,
                    Relation::Retrained,
                    Some(&initial.id),
                    Some(&prev),
                ))
                .unwrap(),
        );
    }
    all
}

/// Ids of the manifests in the store, sorted.
pub fn ids(store: &Store) -> Vec<CheckpointId> {
    let mut ids: Vec<_> = store
        .manifests()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

/// Number of object files in the store.
pub fn count_objects(store: &Store) -> usize {
    let mut n = 0;
    for dir in std::fs::read_dir(store.root().join("objects")).unwrap() {
        let dir = dir.unwrap();
        if dir.path().is_dir() {
            n += std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    !e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".tmp-")
                })
                .count();
        }
    }
    n
}

/// Makes a file writable (objects are read-only) so a test can damage it.
pub fn make_writable(path: &std::path::Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A full id given as text.
pub fn full_id(hex: &str) -> relearn_store::CheckpointId {
    relearn_store::CheckpointId::parse(hex).expect("a full checkpoint id")
}
