//! The config parser: any text either becomes a `RunSpec` whose values are all in range, or
//! an error with a message; it never panics.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use relearn_train::RunSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RunSpec::from_toml(text, Path::new("/fuzz/run.toml")) {
        Ok(spec) => {
            // What validation promises (see config.rs): nothing past it is out of range.
            assert!(!spec.name.is_empty() && spec.name.len() <= 100, "{spec:?}");
            assert!(spec.window_size >= 1 && spec.initial_windows >= 1, "{spec:?}");
            for lr in [spec.train.lr, spec.stateful.lr] {
                assert!(lr.is_finite() && lr > 0.0 && lr <= 10.0, "{spec:?}");
            }
            assert!((0.0..1.0).contains(&spec.stateless.initial_fraction), "{spec:?}");
            assert!((0.0..1.0).contains(&spec.model.dropout), "{spec:?}");
            assert!(spec.train.epochs >= 1 && spec.train.batch_size >= 1, "{spec:?}");
            assert!(spec.stateless.recent_windows >= 1 && spec.stateful.epochs >= 1, "{spec:?}");
            assert!(!spec.model.hidden.contains(&0), "{spec:?}");
            assert!(spec.train.weight_decay.is_finite() && spec.train.weight_decay >= 0.0);
            // The fingerprint is a pure function of the spec.
            let fingerprint = spec.fingerprint();
            assert_eq!(fingerprint.len(), 64);
            assert_eq!(fingerprint, spec.clone().fingerprint());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
