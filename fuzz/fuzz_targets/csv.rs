//! The CSV reader: any file either opens as a stream whose windows hold finite features and
//! valid targets, or fails with an error naming the file; it never panics.
//!
//! Input: the first byte picks the task and the window size, the rest is the file.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use relearn_data::{CsvSource, Stream, StreamSource, Task};

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("relearn-fuzz-{}.csv", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, file)) = data.split_first() else {
        return;
    };
    let task = if control & 1 == 0 { Task::Classification } else { Task::Regression };
    let window_size = 1 + usize::from((control >> 1) & 3);
    let initial_windows = 1 + usize::from((control >> 3) & 1);
    let features = if control & 0x10 != 0 { vec!["a".to_string()] } else { Vec::new() };
    std::fs::write(path(), file).expect("write the fuzz input");
    let source = StreamSource::Csv(CsvSource { path: path().clone(), target: "y".to_string(), features, task });
    let stream = match Stream::open(&source, window_size, initial_windows) {
        Ok(stream) => stream,
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("relearn-fuzz-") || message.contains("csv:"), "{message}");
            return;
        }
    };
    let info = stream.info().clone();
    assert!(stream.n_windows() > initial_windows);
    if task == Task::Classification {
        assert!(info.classes.len() >= 2, "{info:?}");
    }
    let mut seen = 0;
    for window in stream.windows().expect("a validated file reopens") {
        let window = window.expect("a validated file reads");
        assert_eq!(window.index, seen);
        assert_eq!(window.batch.len(), window_size);
        assert_eq!(window.batch.n_features, info.n_features());
        assert!(window.batch.features.iter().all(|v| v.is_finite()));
        for &t in &window.batch.targets {
            assert!(t.is_finite());
            if task == Task::Classification {
                assert!(t >= 0.0 && (t as usize) < info.classes.len() && t.fract() == 0.0, "{t}");
            }
        }
        seen += 1;
    }
    assert_eq!(seen, stream.n_windows());
});
