//! An update of one window under each policy, at the same config (the defaults: window 1000,
//! hidden [64, 64], batch 32; stateless 10 epochs on 30 % initial + the last 3 windows,
//! stateful 3 epochs on the window, replay 3 epochs on the window + 500 replayed samples,
//! drift as stateful unless its detector fires), on a SEA stream (default drift schedule), through
//! the real run loop (`relearn_train::run`): per-window time includes the prequential score
//! and the commit, as a user of `relearn run` sees it. Also prints the mean `train_seconds`
//! (training alone) of the committed checkpoints.
//!
//! Usage: `cargo bench --bench updates -- [--windows 20] [--backend flex|ndarray]`.

use std::time::Instant;

use relearn_store::Store;
use relearn_train::{RunOptions, RunSpec, run};

fn main() {
    let mut windows = 20usize;
    let mut backend = "flex".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--windows" => windows = it.next().expect("--windows N").parse().expect("a number"),
            "--backend" => backend = it.next().expect("--backend NAME"),
            _ => {}
        }
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut per_window = Vec::new();
    let modes = ["stateful", "stateless", "replay", "drift"];
    for mode in modes {
        let toml = format!(
            "[run]\nname = \"bench-{mode}\"\nmode = \"{mode}\"\nbackend = \"{backend}\"\n\n\
             [data]\ngenerator = \"sea\"\nsamples = {}\nnoise = 0.1\n\n\
             [window]\nsize = 1000\ninitial = 1\n",
            (windows + 1) * 1000
        );
        let config = dir.path().join(format!("{mode}.toml"));
        std::fs::write(&config, &toml).expect("write the config");
        let spec = RunSpec::load(&config).expect("a valid config");
        let store =
            Store::open_for_write(&dir.path().join(format!("store-{mode}"))).expect("a store");
        // The initial model first, then every update, timed apart.
        run(
            &spec,
            &store,
            &RunOptions {
                max_windows: Some(1),
            },
            &mut |_| {},
        )
        .expect("initial model");
        let started = Instant::now();
        let summary = run(&spec, &store, &RunOptions::default(), &mut |_| {}).expect("the updates");
        let secs = started.elapsed().as_secs_f64();
        let n = summary.committed.max(1);
        let train = summary.train_seconds / n as f64;
        println!(
            "update mode={mode} backend={backend} windows={n} ms_per_window={:.2} train_ms_per_window={:.2}",
            secs / n as f64 * 1e3,
            train * 1e3
        );
        per_window.push((secs / n as f64, train));
    }
    let (stateful, stateless) = (per_window[0], per_window[1]);
    println!(
        "update ratio stateful/stateless per_window={:.3} train_only={:.3} (target <= 0.200)",
        stateful.0 / stateless.0,
        stateful.1 / stateless.1
    );
    for (mode, cost) in modes.iter().zip(&per_window).skip(2) {
        println!(
            "update ratio {mode}/stateful per_window={:.3} train_only={:.3}",
            cost.0 / stateful.0,
            cost.1 / stateful.1
        );
    }
}
