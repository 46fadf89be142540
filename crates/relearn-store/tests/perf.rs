//! Listing speed. Ignored by default (it needs a release build to be meaningful):
//! `cargo test -p relearn-store --release --test perf -- --ignored`.

mod common;

use std::time::Instant;

use common::{draft, new_store};
use relearn_store::Relation;

#[test]
#[ignore = "timing test; run in release"]
fn manifests_lists_10k_checkpoints_quickly() {
    let (_dir, store) = new_store();
    let base = store
        .commit(draft("big", 0, Relation::Initial, None, None))
        .unwrap();
    store.set_tag("t0", &base.id).unwrap();
    for w in 1..10_000u64 {
        let mut m = base.clone();
        m.window = w;
        m.created_at = format!("2026-01-01T00:00:00.{:03}Z", w % 1000);
        m.id = m.compute_id();
        let path = store
            .root()
            .join("manifests")
            .join(format!("{}.json", m.id));
        std::fs::write(path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    }
    // Warm the page cache, then take the best of a few runs (the machine may be busy).
    assert_eq!(store.manifests().unwrap().len(), 10_000);
    let mut elapsed = std::time::Duration::MAX;
    let mut all = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        all = store.manifests().unwrap();
        elapsed = elapsed.min(start.elapsed());
    }
    if std::env::var_os("PERF_BREAKDOWN").is_some() {
        let dir = store.root().join("manifests");
        let start = Instant::now();
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            files.push(std::fs::read(e.unwrap().path()).unwrap());
        }
        eprintln!("read only: {:?}", start.elapsed());
        let start = Instant::now();
        for f in &files {
            let _: relearn_store::Manifest = serde_json::from_slice(f).unwrap();
        }
        eprintln!("parse only: {:?}", start.elapsed());
    }
    assert_eq!(all.len(), 10_000);
    eprintln!("manifests() of 10,000 checkpoints: {elapsed:?}");
    assert!(elapsed.as_millis() < 200, "took {elapsed:?}");
    let start = Instant::now();
    let chain = store.run_chain("big").unwrap();
    eprintln!("run_chain() of 10,000 checkpoints: {:?}", start.elapsed());
    assert_eq!(chain.len(), 10_000);
}
