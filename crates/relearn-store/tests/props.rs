//! Property tests: object round trip and id-prefix resolution.

use std::collections::BTreeSet;
use std::fs;

use proptest::prelude::*;
use relearn_store::{CheckpointId, Store, StoreError, find_by_prefix};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_for_write(dir.path()).unwrap();
    (dir, store)
}

fn hex_id() -> impl Strategy<Value = String> {
    prop::array::uniform32(any::<u8>()).prop_map(hex::encode)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn objects_round_trip(blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4096), 1..5)) {
        let (_dir, store) = store();
        let mut refs = Vec::new();
        for blob in &blobs {
            let part = store.put_object(blob).unwrap();
            prop_assert_eq!(part.bytes, blob.len() as u64);
            prop_assert_eq!(part.object.len(), 64);
            prop_assert!(store.object_path(&part.object).is_file());
            refs.push(part);
        }
        for (blob, part) in blobs.iter().zip(&refs) {
            prop_assert_eq!(&store.get_object(&part.object).unwrap(), blob);
            // Writing again is idempotent.
            prop_assert_eq!(&store.put_object(blob).unwrap(), part);
        }
        let distinct: BTreeSet<&Vec<u8>> = blobs.iter().collect();
        prop_assert_eq!(store.verify().unwrap().objects_checked, distinct.len());
    }

    #[test]
    fn find_by_prefix_matches_exactly_the_ids_with_that_prefix(
        ids in prop::collection::vec(hex_id(), 1..40),
        pick in any::<prop::sample::Index>(),
        len in 1usize..=64,
    ) {
        let chosen = &ids[pick.index(ids.len())];
        let prefix = &chosen[..len];
        let found = find_by_prefix(ids.iter().map(String::as_str), prefix);
        prop_assert!(found.contains(&chosen.as_str()));
        let expected = ids.iter().filter(|id| id.starts_with(prefix)).count();
        prop_assert_eq!(found.len(), expected);
        prop_assert!(found.iter().all(|id| id.starts_with(prefix)));
    }

    #[test]
    fn resolve_prefix_is_unique_or_ambiguous(
        ids in prop::collection::btree_set(hex_id(), 1..12),
        shared in "[0-9a-f]{6}",
        share_mask in prop::collection::vec(any::<bool>(), 12),
        pick in any::<prop::sample::Index>(),
        len in 6usize..=64,
    ) {
        // Some ids get the same 6-digit prefix so that ambiguity actually occurs.
        let ids: BTreeSet<String> = ids
            .into_iter()
            .zip(share_mask)
            .map(|(id, share)| if share { format!("{shared}{}", &id[6..]) } else { id })
            .collect();
        let (_dir, store) = store();
        for id in &ids {
            fs::write(store.root().join("manifests").join(format!("{id}.json")), "{}").unwrap();
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let chosen = &ids[pick.index(ids.len())];
        let prefix = &chosen[..len];
        let matching: Vec<&String> = ids.iter().filter(|id| id.starts_with(prefix)).collect();
        match store.resolve(prefix) {
            Ok(id) => {
                prop_assert_eq!(matching.len(), 1);
                prop_assert_eq!(&id, chosen);
            }
            Err(StoreError::AmbiguousRef { candidates, .. }) => {
                prop_assert!(matching.len() > 1);
                prop_assert_eq!(candidates.len(), matching.len());
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
        // Uppercase input resolves the same way.
        let upper = store.resolve(&prefix.to_uppercase());
        prop_assert_eq!(upper.is_ok(), matching.len() == 1);
    }
}

// ---------------------------------------------------------------------------------------
// Checkpoint round trips and REF resolution against a model of the store.

use std::collections::BTreeMap;

use relearn_store::{CheckpointDraft, Manifest, Metrics, Relation, Retained, TrainedOn};

/// A finite f64 from anywhere in the range, including the awkward ones.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(0.1 + 0.2),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(1e-310),
    ]
}

#[derive(Debug, Clone)]
struct DraftContent {
    window: u64,
    samples: u64,
    prequential: Option<BTreeMap<String, f64>>,
    train_loss: Option<f64>,
    train_seconds: f64,
    note: String,
    parts: Vec<(String, Vec<u8>)>,
}

fn draft_content() -> impl Strategy<Value = DraftContent> {
    (
        0u64..1_000_000,
        any::<u64>(),
        prop::option::of(prop::collection::btree_map("[a-z]{1,8}", finite(), 0..3)),
        prop::option::of(finite()),
        0.0f64..1e6,
        ".{0,40}",
        prop::collection::btree_map(
            "[a-z][a-z0-9_-]{0,10}",
            prop::collection::vec(any::<u8>(), 0..2048),
            0..4,
        ),
    )
        .prop_map(
            |(window, samples, prequential, train_loss, train_seconds, note, parts)| DraftContent {
                window,
                samples,
                prequential,
                train_loss,
                train_seconds,
                note,
                parts: parts.into_iter().collect(),
            },
        )
}

fn to_draft(c: &DraftContent, run: &str, parent: Option<&str>) -> CheckpointDraft {
    CheckpointDraft {
        run: run.to_string(),
        mode: "stateful".to_string(),
        window: c.window,
        parent: parent.map(|p| CheckpointId::parse(p).expect("a full id")),
        relation: if parent.is_some() {
            Relation::FineTuned
        } else {
            Relation::Initial
        },
        replaces: parent.map(|p| CheckpointId::parse(p).expect("a full id")),
        samples_trained: c.samples,
        samples_skipped: 0,
        retained: Retained {
            samples: c.samples / 2,
            bytes: c.samples,
        },
        metrics: Metrics {
            prequential: c.prequential.clone(),
            train_loss: c.train_loss,
        },
        train_seconds: c.train_seconds,
        config_fingerprint: "props".to_string(),
        trained_on: TrainedOn {
            windows: vec![c.window],
            samples: c.samples,
        },
        extra: serde_json::json!({ "note": c.note, "nested": { "z": 1, "a": [c.window] } }),
        parts: c.parts.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// What is committed reads back identical (manifest and every part), its id is the hash of
    /// its content, `verify` passes, and committing the same content again changes nothing.
    #[test]
    fn checkpoints_round_trip(contents in prop::collection::vec(draft_content(), 1..4)) {
        let (_dir, store) = store();
        let mut parent: Option<CheckpointId> = None;
        let mut committed: Vec<(Manifest, &DraftContent)> = Vec::new();
        for c in &contents {
            let m = store.commit(to_draft(c, "p", parent.as_deref())).unwrap();
            prop_assert_eq!(&m.compute_id(), &m.id);
            parent = Some(m.id.clone());
            committed.push((m, c));
        }
        for (m, c) in &committed {
            let read = store.manifest(&m.id).unwrap();
            prop_assert_eq!(&read, m);
            prop_assert_eq!(&read.metrics.prequential, &c.prequential);
            prop_assert_eq!(read.metrics.train_loss, c.train_loss);
            prop_assert_eq!(read.train_seconds, c.train_seconds);
            for (name, bytes) in &c.parts {
                prop_assert_eq!(&store.load_part(&read, name).unwrap(), bytes);
            }
        }
        let report = store.verify().unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problems);
        prop_assert_eq!(report.manifests_checked, committed.len());

        let files = |store: &Store| {
            let mut n = 0;
            for dir in ["manifests", "objects"] {
                let mut stack = vec![store.root().join(dir)];
                while let Some(d) = stack.pop() {
                    for e in fs::read_dir(&d).unwrap() {
                        let p = e.unwrap().path();
                        if p.is_dir() { stack.push(p) } else { n += 1 }
                    }
                }
            }
            n
        };
        let before = files(&store);
        let (last, c) = committed.last().unwrap();
        let again = store.commit(to_draft(c, "p", last.parent.as_deref())).unwrap();
        prop_assert_eq!(&again, last);
        prop_assert_eq!(files(&store), before);
    }

    /// Every REF form resolves as a plain model of the store says: tags first, then run
    /// names, `NAME~K` along the run's creation order, `NAME@W` to the run's latest
    /// checkpoint of window W, full ids, and unique prefixes of 6+ digits.
    #[test]
    fn refs_resolve_like_a_model_of_the_store(
        windows in prop::collection::vec(0u64..6, 1..8),
        tags in prop::collection::vec((prop_oneof!["t[0-9]", Just("r".to_string())], any::<prop::sample::Index>()), 0..4),
        probe_w in 0u64..7,
        probe_k in 0usize..10,
        prefix_len in 6usize..=64,
    ) {
        let (_dir, store) = store();
        // A chain with distinct windows in creation order (sorted, so that creation order is
        // window order: two checkpoints of one window committed within the same millisecond
        // would have no creation order to model).
        let mut windows = windows;
        windows.sort();
        windows.dedup();
        let mut chain: Vec<Manifest> = Vec::new();
        for (i, &w) in windows.iter().enumerate() {
            let c = DraftContent {
                window: w,
                samples: i as u64,
                prequential: None,
                train_loss: Some(i as f64),
                train_seconds: 0.0,
                note: String::new(),
                parts: vec![("model".to_string(), vec![i as u8])],
            };
            let parent = chain.last().map(|m| m.id.clone());
            chain.push(store.commit(to_draft(&c, "r", parent.as_deref())).unwrap());
        }
        let mut tag_model: BTreeMap<String, CheckpointId> = BTreeMap::new();
        for (name, pick) in &tags {
            let target = &chain[pick.index(chain.len())].id;
            store.set_tag(name, target).unwrap();
            tag_model.insert(name.clone(), target.clone());
        }
        let head = chain.last().unwrap().id.clone();

        // Tags (a tag named like the run wins over the run).
        for (name, target) in &tag_model {
            prop_assert_eq!(&store.resolve(name).unwrap(), target);
        }
        let expected_run = tag_model.get("r").cloned().unwrap_or_else(|| head.clone());
        prop_assert_eq!(store.resolve("r").unwrap(), expected_run);

        // NAME~K
        match store.resolve(&format!("r~{probe_k}")) {
            Ok(id) => prop_assert_eq!(&id, &chain[chain.len() - 1 - probe_k].id),
            Err(StoreError::RefOutOfRange { .. }) => prop_assert!(probe_k >= chain.len()),
            Err(e) => prop_assert!(false, "r~{}: {}", probe_k, e),
        }
        // NAME@W: the latest checkpoint of that window.
        let expected = chain.iter().rev().find(|m| m.window == probe_w).map(|m| m.id.clone());
        match (store.resolve(&format!("r@{probe_w}")), expected) {
            (Ok(id), Some(want)) => prop_assert_eq!(id, want),
            (Err(StoreError::RefOutOfRange { .. }), None) => {}
            (got, want) => prop_assert!(false, "r@{}: {:?} vs {:?}", probe_w, got.map_err(|e| e.to_string()), want),
        }
        // Full ids and prefixes.
        for m in &chain {
            prop_assert_eq!(&store.resolve(&m.id).unwrap(), &m.id);
            let prefix = &m.id[..prefix_len];
            let matching = chain.iter().filter(|o| o.id.starts_with(prefix)).count();
            match store.resolve(prefix) {
                Ok(id) => { prop_assert_eq!(matching, 1); prop_assert_eq!(&id, &m.id); }
                Err(StoreError::AmbiguousRef { candidates, .. }) => prop_assert_eq!(candidates.len(), matching),
                Err(e) => prop_assert!(false, "{}: {}", prefix, e),
            }
        }
        // Nothing else resolves.
        for bad in ["nope", "r~x", "q~0", "q@0", "abcde"] {
            let unknown = matches!(store.resolve(bad), Err(StoreError::UnknownRef { .. }));
            prop_assert!(unknown, "{} resolved", bad);
        }
    }
}
