//! Property tests: object round trip and id-prefix resolution.

use std::collections::BTreeSet;
use std::fs;

use proptest::prelude::*;
use relearn_store::{Store, StoreError, find_by_prefix};

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
