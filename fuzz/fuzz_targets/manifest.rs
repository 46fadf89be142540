//! The manifest reader: any bytes either parse as a `Manifest` that survives a JSON round
//! trip with the same id, or are rejected; and a store holding them as a manifest file (with
//! a fuzzed run ref) can be listed, resolved and verified without panicking.
//!
//! Input: bytes up to the first 0x00 are the manifest file, the rest the run ref's content.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use relearn_store::{Manifest, Store};

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("relearn-fuzz-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Store::open_for_write(&root).expect("create the fuzz store");
        root
    })
}

/// A fixed id for the manifest file when the input does not name a usable one.
const FALLBACK_ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fuzz_target!(|data: &[u8]| {
    let (file, reference) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let parsed: Option<Manifest> = serde_json::from_slice(file).ok();
    if let Some(m) = &parsed {
        let text = serde_json::to_string(m).expect("a parsed manifest serializes");
        let again: Manifest = serde_json::from_str(&text).expect("and parses back");
        assert_eq!(&again, m);
        assert_eq!(again.compute_id(), m.compute_id());
    }

    let root = root();
    let store = Store::open(root).expect("the fuzz store exists");
    let manifests = root.join("manifests");
    let runs = root.join("refs").join("runs");
    for dir in [&manifests, &runs] {
        for entry in std::fs::read_dir(dir).expect("list") {
            std::fs::remove_file(entry.expect("entry").path()).expect("clear");
        }
    }
    let id = match &parsed {
        Some(m) if relearn_store::is_full_id(&m.id) => m.id.clone(),
        _ => FALLBACK_ID.to_string(),
    };
    std::fs::write(manifests.join(format!("{id}.json")), file).expect("write manifest");
    std::fs::write(runs.join("r"), reference).expect("write ref");

    let _ = store.manifests();
    let _ = store.run_chain("r");
    let _ = store.run_head("r");
    for r in ["r", "r~0", "r~1", "r@0", &id[..6], &id, "nope"] {
        if let Ok(resolved) = store.resolve(r) {
            assert!(relearn_store::is_full_id(&resolved), "{r} -> {resolved}");
        }
    }
    if let Ok(m) = store.manifest(&id) {
        // A manifest is only handed out if its content hashes to its name.
        assert_eq!(m.compute_id(), id);
    }
    let report = store.verify().expect("verify lists the store");
    if parsed.is_none() {
        assert!(!report.is_ok(), "an unparseable manifest passed verify");
    }
});
