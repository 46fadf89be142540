//! Commit, read, refs, resolution and locks.

mod common;

use std::fs;

use common::{count_objects, draft, ids, new_store, stateful_chain, stateless_star};
use relearn_store::{Relation, Store, StoreError};

#[test]
fn commit_then_read_round_trip() {
    let (_dir, store) = new_store();
    let d = draft("sea", 0, Relation::Initial, None, None);
    let committed = store.commit(d.clone()).unwrap();

    assert_eq!(committed.id.len(), 64);
    assert_eq!(committed.id, committed.compute_id());
    assert_eq!(committed.run, "sea");
    assert_eq!(committed.relation, Relation::Initial);
    assert_eq!(committed.metrics, d.metrics);
    assert_eq!(committed.extra, d.extra);
    assert_eq!(committed.parts.len(), 3);
    assert!(committed.created_at.ends_with('Z'));

    let read = store.manifest(&committed.id).unwrap();
    assert_eq!(read, committed);
    for (name, bytes) in &d.parts {
        assert_eq!(&store.load_part(&read, name).unwrap(), bytes);
        assert_eq!(read.parts[name].bytes, bytes.len() as u64);
    }
    let err = store.load_part(&read, "nope").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    assert_eq!(store.run_head("sea").unwrap(), Some(committed.id.clone()));
    assert_eq!(store.runs().unwrap(), vec!["sea".to_string()]);
    assert_eq!(store.manifests().unwrap(), vec![committed]);
}

#[test]
fn ids_are_deterministic_across_fresh_stores() {
    let (_a, store_a) = new_store();
    let (_b, store_b) = new_store();
    let chain_a = stateful_chain(&store_a, "r", 3);
    // Same identity content, different wall-clock fields.
    let mut chain_b = Vec::new();
    let mut prev: Option<relearn_store::CheckpointId> = None;
    for w in 0..=3u64 {
        let relation = if w == 0 {
            Relation::Initial
        } else {
            Relation::FineTuned
        };
        let mut d = draft("r", w, relation, prev.as_deref(), prev.as_deref());
        d.train_seconds = 100.0 + w as f64;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let m = store_b.commit(d).unwrap();
        prev = Some(m.id.clone());
        chain_b.push(m);
    }
    let ids_a: Vec<_> = chain_a.iter().map(|m| &m.id).collect();
    let ids_b: Vec<_> = chain_b.iter().map(|m| &m.id).collect();
    assert_eq!(ids_a, ids_b);
    assert_ne!(chain_a[3].train_seconds, chain_b[3].train_seconds);
}

#[test]
fn ids_change_with_every_identity_field() {
    let (_dir, store) = new_store();
    let base_draft = draft("r", 1, Relation::Initial, None, None);
    let base = store.commit(base_draft.clone()).unwrap();
    let other = store
        .commit(draft("q", 0, Relation::Initial, None, None))
        .unwrap();

    type Mutation = Box<dyn Fn(&mut relearn_store::CheckpointDraft)>;
    let other_id = other.id.clone();
    let other_id2 = other.id.clone();
    let mutations: Vec<(&str, Mutation)> = vec![
        ("run", Box::new(|d| d.run = "r2".into())),
        ("mode", Box::new(|d| d.mode = "stateless".into())),
        ("window", Box::new(|d| d.window = 2)),
        (
            "parent",
            Box::new(move |d| {
                d.parent = Some(other_id.clone());
                d.relation = Relation::FineTuned;
            }),
        ),
        ("relation", Box::new(|d| d.relation = Relation::Retrained)),
        (
            "replaces",
            Box::new(move |d| d.replaces = Some(other_id2.clone())),
        ),
        ("samples_trained", Box::new(|d| d.samples_trained += 1)),
        ("retained", Box::new(|d| d.retained.bytes = 1)),
        (
            "metrics.prequential",
            Box::new(|d| {
                d.metrics.prequential = Some([("accuracy".to_string(), 0.9)].into());
            }),
        ),
        (
            "metrics.train_loss",
            Box::new(|d| d.metrics.train_loss = None),
        ),
        (
            "config_fingerprint",
            Box::new(|d| d.config_fingerprint = "cfg-2".into()),
        ),
        ("trained_on", Box::new(|d| d.trained_on.windows.push(0))),
        ("extra", Box::new(|d| d.extra = serde_json::Value::Null)),
        ("part bytes", Box::new(|d| d.parts[0].1.push(0))),
        ("part name", Box::new(|d| d.parts[0].0 = "weights".into())),
        (
            "part removed",
            Box::new(|d| {
                d.parts.pop();
            }),
        ),
    ];
    let mut seen = std::collections::HashSet::from([base.id.clone(), other.id.clone()]);
    for (field, mutate) in &mutations {
        let mut d = base_draft.clone();
        mutate(&mut d);
        let m = store.commit(d).unwrap();
        assert!(
            seen.insert(m.id.clone()),
            "changing {field} did not change the id"
        );
    }

    // Wall-clock fields are not identity.
    let mut d = base_draft.clone();
    d.train_seconds = 42.0;
    assert_eq!(store.commit(d).unwrap().id, base.id);
}

#[test]
fn objects_are_content_addressed_read_only_and_idempotent() {
    let (_dir, store) = new_store();
    let part = store.put_object(b"hello").unwrap();
    assert_eq!(
        part.object,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(part.bytes, 5);
    let path = store.object_path(&part.object);
    assert_eq!(
        path,
        store
            .root()
            .join("objects")
            .join("2c")
            .join("f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(fs::read(&path).unwrap(), b"hello");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }
    assert_eq!(store.get_object(&part.object).unwrap(), b"hello");
    assert_eq!(store.put_object(b"hello").unwrap(), part);
    assert_eq!(count_objects(&store), 1);

    let d = draft("r", 0, Relation::Initial, None, None);
    let first = store.commit(d.clone()).unwrap();
    let objects = count_objects(&store);
    assert_eq!(objects, 4);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = store.commit(d).unwrap();
    assert_eq!(first, second, "re-commit keeps the existing manifest");
    assert_eq!(count_objects(&store), objects);
    assert_eq!(ids(&store), vec![first.id.clone()]);
    // No temp files left behind.
    for dir in ["manifests", "refs/runs"] {
        for entry in fs::read_dir(store.root().join(dir)).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(!name.to_string_lossy().starts_with(".tmp-"), "{name:?}");
        }
    }
}

#[test]
fn get_object_reports_missing_and_bad_hashes() {
    let (_dir, store) = new_store();
    let err = store.get_object(&"ab".repeat(32)).unwrap_err();
    assert!(matches!(err, StoreError::MissingObject { .. }), "{err:?}");
    assert!(err.to_string().contains("relearn verify"));
    assert!(!err.is_user_error());
    let err = store.get_object("xyz").unwrap_err();
    assert!(matches!(err, StoreError::InvalidHash { .. }), "{err:?}");
}

#[test]
fn run_ref_moves_only_after_the_manifest_is_written() {
    let (_dir, store) = new_store();
    let initial = store
        .commit(draft("r", 0, Relation::Initial, None, None))
        .unwrap();

    // Make the ref unwritable: the commit must fail at the ref, with the manifest already
    // in place and the old head still readable.
    let ref_path = store.root().join("refs/runs/r");
    fs::remove_file(&ref_path).unwrap();
    fs::create_dir(&ref_path).unwrap();
    let next = draft(
        "r",
        1,
        Relation::FineTuned,
        Some(&initial.id),
        Some(&initial.id),
    );
    let err = store.commit(next.clone()).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    let orphan = ids(&store);
    assert_eq!(orphan.len(), 2, "the manifest is written before the ref");
    fs::remove_dir(&ref_path).unwrap();
    fs::write(&ref_path, format!("{}\n", initial.id)).unwrap();

    // The orphan manifest is valid, and committing it again just moves the ref.
    assert!(store.verify().unwrap().is_ok());
    let again = store.commit(next).unwrap();
    assert!(orphan.contains(&again.id));
    assert_eq!(store.run_head("r").unwrap(), Some(again.id));
}

#[test]
fn failed_commit_does_not_move_the_ref() {
    let (_dir, store) = new_store();
    let initial = store
        .commit(draft("r", 0, Relation::Initial, None, None))
        .unwrap();
    let missing = "f".repeat(64);
    let err = store
        .commit(draft("r", 1, Relation::FineTuned, Some(&missing), None))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDraft { .. }), "{err:?}");
    let mut nan = draft("r", 1, Relation::FineTuned, Some(&initial.id), None);
    nan.metrics.train_loss = Some(f64::NAN);
    let err = store.commit(nan).unwrap_err();
    assert!(err.to_string().contains("train_loss"), "{err}");
    let mut dup = draft("r", 1, Relation::FineTuned, Some(&initial.id), None);
    dup.parts.push(("model".into(), vec![1]));
    assert!(store.commit(dup).is_err());
    let err = store
        .commit(draft("bad name", 0, Relation::Initial, None, None))
        .unwrap_err();
    assert!(err.is_user_error());
    assert_eq!(store.run_head("r").unwrap(), Some(initial.id));
    assert_eq!(ids(&store).len(), 1);
}

#[test]
fn run_chain_is_in_creation_order_and_per_run() {
    let (_dir, store) = new_store();
    let a = stateful_chain(&store, "a", 4);
    let b = stateless_star(&store, "b", 2);
    let chain = store.run_chain("a").unwrap();
    assert_eq!(
        chain.iter().map(|m| m.window).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(chain, a);
    assert_eq!(store.run_chain("b").unwrap(), b);
    assert!(store.run_chain("nobody").unwrap().is_empty());
    assert_eq!(
        store.run_chains(&["b", "nobody", "a"]).unwrap(),
        vec![b.clone(), Vec::new(), a.clone()]
    );
    assert!(store.run_chains(&["../x"]).is_err());
    assert_eq!(
        store.runs().unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    let all = store.manifests().unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| w[0].created_at <= w[1].created_at));
}

#[test]
fn resolve_every_ref_form() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "sea", 4);
    let star = stateless_star(&store, "star", 2);
    store.set_tag("best", &chain[2].id).unwrap();

    assert_eq!(store.resolve("best").unwrap(), chain[2].id);
    assert_eq!(store.resolve("sea").unwrap(), chain[4].id);
    assert_eq!(store.resolve("star").unwrap(), star[2].id);
    assert_eq!(store.resolve("sea~0").unwrap(), chain[4].id);
    assert_eq!(store.resolve("sea~1").unwrap(), chain[3].id);
    assert_eq!(store.resolve("sea~4").unwrap(), chain[0].id);
    // Stateless: ~K walks the run's creation order, not `parent`.
    assert_eq!(store.resolve("star~1").unwrap(), star[1].id);
    assert_eq!(store.resolve("sea@2").unwrap(), chain[2].id);
    assert_eq!(store.resolve("sea@0").unwrap(), chain[0].id);
    assert_eq!(store.resolve(&chain[1].id).unwrap(), chain[1].id);
    assert_eq!(store.resolve(&chain[1].id[..10]).unwrap(), chain[1].id);
    assert_eq!(
        store.resolve(&chain[1].id[..10].to_uppercase()).unwrap(),
        chain[1].id
    );

    let err = store.resolve("sea~5").unwrap_err();
    assert!(matches!(err, StoreError::RefOutOfRange { .. }), "{err:?}");
    assert!(err.is_user_error());
    assert!(err.to_string().contains("has 5 checkpoint"), "{err}");
    let err = store.resolve("sea@9").unwrap_err();
    assert!(err.is_user_error());
    assert!(err.to_string().contains("window 9"), "{err}");

    let err = store.resolve("nope").unwrap_err();
    assert!(matches!(err, StoreError::UnknownRef { .. }), "{err:?}");
    assert!(err.is_user_error());
    let msg = err.to_string();
    assert!(
        msg.contains("sea") && msg.contains("star") && msg.contains("best"),
        "{msg}"
    );
    for unknown in ["nope~1", "nope@1", &"0".repeat(64), "sea~x", "a b"] {
        let err = store.resolve(unknown).unwrap_err();
        assert!(err.is_user_error(), "{unknown}: {err}");
    }
    let err = store.resolve(&chain[1].id[..5]).unwrap_err();
    assert!(err.to_string().contains("at least 6 hex digits"), "{err}");
}

#[test]
fn resolve_tag_wins_over_run_and_prefix() {
    let (_dir, store) = new_store();
    let a = stateful_chain(&store, "a", 1);
    let b = stateful_chain(&store, "b", 1);
    store.set_tag("a", &b[0].id).unwrap();
    assert_eq!(store.resolve("a").unwrap(), b[0].id);
    // A tag that looks like an id prefix still resolves as a tag.
    let prefix = a[1].id[..8].to_string();
    store.set_tag(&prefix, &b[1].id).unwrap();
    assert_eq!(store.resolve(&prefix).unwrap(), b[1].id);
    assert!(store.remove_tag(&prefix).unwrap());
    assert!(!store.remove_tag(&prefix).unwrap());
    assert_eq!(store.resolve(&prefix).unwrap(), a[1].id);
}

#[test]
fn resolve_ambiguous_prefix_lists_candidates() {
    let (_dir, store) = new_store();
    let m = store
        .commit(draft("r", 0, Relation::Initial, None, None))
        .unwrap();
    // A second manifest file whose name shares the first 8 hex digits.
    let mut twin: String = m.id[..8].to_string();
    let flip = if m.id.as_bytes()[8] == b'0' { '1' } else { '0' };
    twin.push(flip);
    twin.push_str(&m.id[9..]);
    let twin_manifest = m.clone();
    let mut json = serde_json::to_value(&twin_manifest).unwrap();
    json["id"] = serde_json::Value::String(twin.clone());
    json["window"] = serde_json::json!(7);
    fs::write(
        store.root().join("manifests").join(format!("{twin}.json")),
        serde_json::to_string(&json).unwrap(),
    )
    .unwrap();

    let err = store.resolve(&m.id[..6]).unwrap_err();
    match &err {
        StoreError::AmbiguousRef { candidates, .. } => {
            assert_eq!(candidates.len(), 2);
            assert!(candidates.iter().any(|c| c.starts_with(&m.id[..12])));
            assert!(candidates.iter().any(|c| c.contains("window 7")));
        }
        other => panic!("expected AmbiguousRef, got {other:?}"),
    }
    assert!(err.is_user_error());
    assert_eq!(store.resolve(&m.id[..9]).unwrap(), m.id);
    assert_eq!(store.resolve(&twin[..9]).unwrap(), twin);
}

#[test]
fn set_run_head_rolls_back_and_name_k_follows_the_head() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "r", 3);
    store.set_run_head("r", &chain[1].id).unwrap();
    assert_eq!(store.resolve("r").unwrap(), chain[1].id);
    assert_eq!(store.resolve("r~1").unwrap(), chain[0].id);
    assert!(store.resolve("r~2").is_err());
    assert!(store.set_run_head("r", &"e".repeat(64)).is_err());
    assert!(
        store
            .set_run_head("bad/name", &chain[0].id)
            .unwrap_err()
            .is_user_error()
    );
}

#[test]
fn tags_are_listed_and_filled_into_manifests() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "r", 2);
    store.set_tag("prod", &chain[1].id).unwrap();
    store.set_tag("alpha", &chain[1].id).unwrap();
    store.set_tag("old", &chain[0].id).unwrap();
    let tags = store.tags().unwrap();
    assert_eq!(tags.len(), 3);
    assert_eq!(tags["prod"], chain[1].id);
    assert_eq!(
        store.manifest(&chain[1].id).unwrap().tags,
        vec!["alpha".to_string(), "prod".to_string()]
    );
    let listed = store.manifests().unwrap();
    assert_eq!(listed[0].tags, vec!["old".to_string()]);
    assert!(listed[2].tags.is_empty());
    let json = serde_json::to_value(&listed[1]).unwrap();
    assert_eq!(json["tags"], serde_json::json!(["alpha", "prod"]));

    let err = store.set_tag(".hidden", &chain[0].id).unwrap_err();
    assert!(matches!(err, StoreError::InvalidName { .. }) && err.is_user_error());
    assert!(err.to_string().contains(".hidden"));
    assert!(
        store
            .set_tag("x", &"a".repeat(64))
            .unwrap_err()
            .is_user_error()
    );
}

#[test]
fn open_requires_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.is_user_error());
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("relearn run") && msg.contains("--store"),
        "{msg}"
    );

    Store::open_for_write(dir.path()).unwrap();
    for sub in [
        "objects",
        "manifests",
        "refs/runs",
        "refs/tags",
        "locks",
        "tmp",
    ] {
        assert!(dir.path().join(sub).is_dir(), "{sub}");
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.manifests().unwrap().is_empty());
    assert!(store.runs().unwrap().is_empty());
    assert_eq!(store.run_head("r").unwrap(), None);
}

#[test]
fn lock_run_is_exclusive_per_run() {
    let (_dir, store) = new_store();
    let lock = store.lock_run("a").unwrap();
    assert_eq!(lock.run(), "a");
    assert!(lock.path().ends_with("locks/a.lock"));
    let err = store.lock_run("a").unwrap_err();
    match &err {
        StoreError::RunLocked { run, path } => {
            assert_eq!(run, "a");
            assert_eq!(path, lock.path());
        }
        other => panic!("expected RunLocked, got {other:?}"),
    }
    assert!(!err.is_user_error());
    let msg = err.to_string();
    assert!(
        msg.contains("run 'a' is being written by another relearn process")
            && msg.contains("wait for it to finish"),
        "{msg}"
    );
    // Another handle on the same store folder is refused too.
    let other = Store::open(store.root()).unwrap();
    assert!(other.lock_run("a").is_err());
    // Other runs lock independently.
    let b = store.lock_run("b").unwrap();
    drop(lock);
    let again = store.lock_run("a").unwrap();
    drop((again, b));
    assert!(store.lock_run("bad name").unwrap_err().is_user_error());
}

#[test]
fn open_for_write_removes_stale_temp_files() {
    let (dir, store) = new_store();
    let m = store
        .commit(draft("r", 0, Relation::Initial, None, None))
        .unwrap();
    let obj_dir = store
        .object_path(&m.parts["model"].object)
        .parent()
        .unwrap()
        .to_path_buf();
    let temps = [
        store.root().join("manifests/.tmp-1-2-x.json"),
        obj_dir.join(".tmp-9-9-abc"),
        store.root().join("refs/runs/.tmp-1-1-r"),
        store.root().join("tmp/scratch.bin"),
    ];
    for t in &temps {
        fs::write(t, b"junk").unwrap();
    }
    assert!(store.verify().unwrap().is_ok(), "temp files are ignored");
    assert_eq!(store.manifests().unwrap().len(), 1);
    assert_eq!(store.runs().unwrap(), vec!["r".to_string()]);

    // While a writer holds the shared store lock, cleanup is skipped.
    let writer = fs::File::open(store.root().join("locks/.store.lock")).unwrap();
    fs4::fs_std::FileExt::lock_shared(&writer).unwrap();
    Store::open_for_write(dir.path()).unwrap();
    assert!(temps.iter().all(|t| t.exists()));
    drop(writer);
    let _ = Store::open_for_write(dir.path()).unwrap();
    for t in &temps {
        assert!(!t.exists(), "{} should be removed", t.display());
    }
    assert_eq!(store.manifest(&m.id).unwrap(), m);
}
