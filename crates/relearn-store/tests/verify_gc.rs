//! verify and gc.

mod common;

use std::fs;

use common::{count_objects, draft, ids, make_writable, new_store, stateful_chain, stateless_star};
use relearn_store::{Relation, StoreError};

#[test]
fn verify_passes_on_a_clean_store() {
    let (_dir, store) = new_store();
    stateful_chain(&store, "a", 3);
    stateless_star(&store, "b", 2);
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.manifests_checked, 7);
    assert_eq!(report.objects_checked, count_objects(&store));
    assert!(report.objects_checked > 7);
}

#[test]
fn verify_names_a_corrupt_object() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "a", 1);
    let object = chain[1].parts["model"].object.clone();
    let path = store.object_path(&object);
    make_writable(&path);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0x01;
    fs::write(&path, &bytes).unwrap();

    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!(problem.kind, "corrupt-object");
    assert_eq!(problem.path, path);
    assert!(problem.message.contains(&object));

    let err = store.load_part(&chain[1], "model").unwrap_err();
    match &err {
        StoreError::CorruptObject {
            path: p, expected, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(expected, &object);
        }
        other => panic!("expected CorruptObject, got {other:?}"),
    }
    assert!(err.is_corruption() && !err.is_user_error());
    assert!(err.to_string().contains("relearn verify"));
    // Other parts are still fine.
    store.load_part(&chain[1], "optimizer").unwrap();
}

#[test]
fn verify_reports_every_problem() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "a", 2);
    let other = stateful_chain(&store, "b", 0);
    store.set_tag("t", &other[0].id).unwrap();

    // The manifest the run ref points at is gone.
    fs::remove_file(store.root().join(format!("manifests/{}.json", chain[2].id))).unwrap();
    // An object a manifest needs is gone.
    let opt = store.object_path(&chain[0].parts["model"].object);
    fs::remove_file(&opt).unwrap();
    // A manifest was edited.
    let edited = store.root().join(format!("manifests/{}.json", other[0].id));
    let text = fs::read_to_string(&edited).unwrap();
    fs::write(&edited, text.replace("\"window\": 0", "\"window\": 5")).unwrap();
    // A garbage manifest and a garbage ref.
    let garbage = store
        .root()
        .join(format!("manifests/{}.json", "c".repeat(64)));
    fs::write(&garbage, "{ not json").unwrap();
    fs::write(store.root().join("refs/tags/broken"), "hello\n").unwrap();
    // Temp files are not problems.
    fs::write(store.root().join("manifests/.tmp-5-5-zz.json"), "x").unwrap();

    let report = store.verify().unwrap();
    let kinds: Vec<(&str, String)> = report
        .problems
        .iter()
        .map(|p| {
            (
                p.kind.as_str(),
                p.path.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect();
    let has = |kind: &str, file: &str| kinds.iter().any(|(k, f)| *k == kind && f == file);
    assert!(has("dangling-ref", "a"), "{kinds:?}");
    assert!(
        has("missing-object", opt.file_name().unwrap().to_str().unwrap()),
        "{kinds:?}"
    );
    assert!(
        has("manifest-id-mismatch", &format!("{}.json", other[0].id)),
        "{kinds:?}"
    );
    assert!(
        has("bad-manifest", &format!("{}.json", "c".repeat(64))),
        "{kinds:?}"
    );
    assert!(has("bad-ref", "broken"), "{kinds:?}");
    assert_eq!(report.problems.len(), 5, "{:?}", report.problems);
}

#[test]
fn verify_reports_dangling_lineage() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "a", 2);
    fs::remove_file(store.root().join(format!("manifests/{}.json", chain[1].id))).unwrap();
    let report = store.verify().unwrap();
    let kinds: Vec<&str> = report.problems.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, vec!["dangling-parent", "dangling-replaces"]);
    assert!(report.problems[0].message.contains(chain[1].id.as_str()));
}

#[test]
fn gc_keeps_the_last_n_of_a_stateful_chain_plus_tags() {
    let (_dir, store) = new_store();
    let chain = stateful_chain(&store, "s", 9); // 10 checkpoints
    store.set_tag("keep-me", &chain[2].id).unwrap();
    let objects_before = count_objects(&store);

    let report = store.gc(3, None, false).unwrap();
    assert!(!report.dry_run);
    let mut expected: Vec<_> = [2, 7, 8, 9].iter().map(|&i| chain[i].id.clone()).collect();
    expected.sort();
    assert_eq!(ids(&store), expected);
    let removed: Vec<_> = [0, 1, 3, 4, 5, 6]
        .iter()
        .map(|&i| chain[i].id.clone())
        .collect();
    assert_eq!(report.removed_checkpoints, removed);
    // Each removed checkpoint had a unique model and optimizer blob.
    assert_eq!(report.removed_objects, 12);
    assert_eq!(count_objects(&store), objects_before - 12);
    assert!(report.freed_bytes > 0);

    let verify = store.verify().unwrap();
    assert!(verify.is_ok(), "{:?}", verify.problems);
    assert_eq!(store.resolve("s").unwrap(), chain[9].id);
    assert_eq!(store.resolve("s~2").unwrap(), chain[7].id);
    assert_eq!(store.resolve("keep-me").unwrap(), chain[2].id);
    for m in store.manifests().unwrap() {
        for part in m.parts.keys() {
            store.load_part(&m, part).unwrap();
        }
    }
    // A later commit on top of the kept head still works, and a second gc is a no-op.
    let head = chain[9].id.clone();
    store
        .commit(draft(
            "s",
            10,
            Relation::FineTuned,
            Some(&head),
            Some(&head),
        ))
        .unwrap();
    let again = store.gc(3, Some("s"), false).unwrap();
    assert_eq!(again.removed_checkpoints, vec![chain[7].id.clone()]);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn gc_keeps_the_initial_model_of_a_stateless_star() {
    let (_dir, store) = new_store();
    let star = stateless_star(&store, "st", 6);
    let report = store.gc(2, Some("st"), false).unwrap();
    let mut expected = vec![star[0].id.clone(), star[5].id.clone(), star[6].id.clone()];
    expected.sort();
    assert_eq!(ids(&store), expected);
    assert_eq!(report.removed_checkpoints.len(), 4);
    let verify = store.verify().unwrap();
    assert!(verify.is_ok(), "{:?}", verify.problems);
    // keep_last 0 still keeps the head and what it needs.
    store.gc(0, None, false).unwrap();
    let mut expected = vec![star[0].id.clone(), star[6].id.clone()];
    expected.sort();
    assert_eq!(ids(&store), expected);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn gc_dry_run_deletes_nothing() {
    let (_dir, store) = new_store();
    stateful_chain(&store, "s", 5);
    let before_ids = ids(&store);
    let before_objects = count_objects(&store);
    let dry = store.gc(1, None, true).unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.removed_checkpoints.len(), 5);
    assert_eq!(ids(&store), before_ids);
    assert_eq!(count_objects(&store), before_objects);
    assert!(!store.root().join("pruned").exists());

    let real = store.gc(1, None, false).unwrap();
    assert_eq!(real.removed_checkpoints, dry.removed_checkpoints);
    assert_eq!(real.removed_objects, dry.removed_objects);
    assert_eq!(real.freed_bytes, dry.freed_bytes);
    assert_eq!(ids(&store).len(), 1);
}

#[test]
fn gc_of_one_run_leaves_other_runs_alone() {
    let (_dir, store) = new_store();
    let a = stateful_chain(&store, "a", 4);
    let b = stateful_chain(&store, "b", 4);
    store.gc(1, Some("a"), false).unwrap();
    assert_eq!(store.run_chain("a").unwrap().len(), 1);
    assert_eq!(store.run_chain("b").unwrap(), b);
    assert_eq!(store.run_chain("a").unwrap()[0].id, a[4].id);
    assert!(store.verify().unwrap().is_ok());

    let err = store.gc(1, Some("nobody"), false).unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err:?}");
    assert!(err.is_user_error());
    assert!(err.to_string().contains("a, b"), "{err}");
}

#[test]
fn gc_refuses_a_locked_run_and_removes_orphan_objects() {
    let (_dir, store) = new_store();
    stateful_chain(&store, "a", 2);
    let lock = store.lock_run("a").unwrap();
    let err = store.gc(1, None, false).unwrap_err();
    assert!(matches!(err, StoreError::RunLocked { .. }), "{err:?}");
    assert_eq!(ids(&store).len(), 3);
    // A dry run needs no lock.
    assert_eq!(
        store.gc(1, None, true).unwrap().removed_checkpoints.len(),
        2
    );
    drop(lock);

    // An object left by a crashed commit (no manifest references it) is collected.
    let orphan = store.put_object(b"orphan blob").unwrap();
    let report = store.gc(5, None, false).unwrap();
    assert!(report.removed_checkpoints.is_empty());
    assert_eq!(report.removed_objects, 1);
    assert!(!store.object_path(&orphan.object).exists());
    assert!(store.verify().unwrap().is_ok());
}
