//! The replay and drift policies: lineage, retained data, reproducible ids on both backends,
//! resume, and the book modes' ids left as they were.

use serde_json::Value;

use crate::common::{Sandbox, assert_fails, ids, sea_config};

/// The drift policy's settings for [`drift_config`].
const DRIFT: &str = "[policy.drift]\nthreshold = 8\n";

/// [`sea_config`] on the feature-drift stream (the inputs move to a new region at sample
/// 1000, window 4), where the drift detector fires once, at window 4.
fn drift_config(name: &str, mode: &str, extra: &str) -> String {
    sea_config(name, mode, &format!("{DRIFT}{extra}"))
        .replace("generator = \"sea\"", "generator = \"feature-drift\"")
}

#[test]
fn replay_fine_tunes_on_the_window_and_a_bounded_reservoir() {
    let mut last_ids = Vec::new();
    for sampling in ["recent", "uniform"] {
        let sb = Sandbox::new();
        let policy = format!("[policy]\nreplay.samples = 300\nreplay.sampling = \"{sampling}\"\n");
        let cfg = sb.write("c.toml", &sea_config("rp", "replay", &policy));
        sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
        let log = sb.log("rp");
        assert_eq!(log.len(), 8);
        for (i, m) in log.iter().enumerate() {
            assert_eq!(m["mode"], "replay");
            // The reservoir holds every sample offered until it is full: 250 per window.
            let kept = (250 * (i + 1)).min(300) as u64;
            assert_eq!(m["retained"]["samples"], kept, "{sampling}: window {i}");
            assert_eq!(m["retained"]["bytes"], kept * 4 * 4, "3 features + target");
            if i > 0 {
                assert_eq!(m["relation"], "fine-tuned");
                assert_eq!(m["parent"], log[i - 1]["id"]);
                // The window plus the reservoir as it was before this window.
                let before = (250 * i).min(300) as u64;
                assert_eq!(m["samples_trained"], 250 + before, "{sampling}: window {i}");
            }
        }
        let shown: Value =
            serde_json::from_str(&sb.ok(&["show", "rp", "--json"])).expect("show --json");
        assert!(shown["parts"]["replay"]["bytes"].as_u64().unwrap() > 300 * 16);
        let windows: Vec<u64> = shown["trained_on"]["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().unwrap())
            .collect();
        assert!(
            windows.len() > 2,
            "{sampling}: replayed samples come from earlier windows: {windows:?}"
        );
        assert_eq!(windows.last(), Some(&7));
        last_ids.push(shown["id"].clone());
    }
    assert_ne!(
        last_ids[0], last_ids[1],
        "the sampling shapes the checkpoints"
    );
}

#[test]
fn drift_resets_when_its_detector_fires_and_records_the_statistic() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &drift_config("dr", "drift", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("dr");
    let resets: Vec<&Value> = log.iter().filter(|m| m["relation"] == "reset").collect();
    assert_eq!(resets.len(), 1, "{log:#?}");
    assert_eq!(resets[0]["window"], 4);
    for m in &log[1..] {
        let drift = &m["extra"]["drift"];
        assert_eq!(drift["detector"], "page-hinkley");
        assert!(drift["statistic"].is_number(), "{drift}");
        assert_eq!(drift["fired"] == true, m["relation"] == "reset", "{m:#}");
        // A chain: every update's parent is the checkpoint it replaces.
        assert_eq!(m["parent"], m["replaces"]);
    }
    // A reset trains on the recent windows (default: 2) from the estimated change on, and
    // at least on the current window; it keeps one window for the next reset.
    let reset = resets[0];
    let since_change = reset["extra"]["drift"]["since_change"].as_u64().unwrap();
    assert_eq!(
        reset["samples_trained"],
        since_change.clamp(250, 500),
        "{reset:#}"
    );
    assert_eq!(reset["retained"]["samples"], 250);
    let windows = &reset["trained_on"]["windows"];
    assert!(
        windows == &serde_json::json!([4]) || windows == &serde_json::json!([3, 4]),
        "{windows}"
    );
    sb.ok(&["verify"]);
    let tree = sb.ok(&["tree", "--run", "dr"]);
    assert!(tree.contains("reset"), "{tree}");
}

#[test]
fn every_policy_resumes_to_the_same_ids_on_both_backends() {
    for mode in ["replay", "drift"] {
        for backend in ["flex", "ndarray"] {
            let text = drift_config("p", mode, "[policy.replay]\nsamples = 400\n").replace(
                "seed = 7\n",
                &format!("seed = 7\nbackend = \"{backend}\"\n"),
            );
            let (whole, parts) = (Sandbox::new(), Sandbox::new());
            let cfg = whole.write("c.toml", &text);
            whole.ok(&["run", "--config", cfg.to_str().unwrap()]);
            let cfg = parts.write("c.toml", &text);
            parts.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
            let out = parts.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "6"]);
            assert!(out.contains("resuming run 'p' after window 2"), "{out}");
            parts.ok(&["run", "--config", cfg.to_str().unwrap()]);
            let log = whole.log("p");
            assert_eq!(ids(&log), ids(&parts.log("p")), "{mode} on {backend}");
            if mode == "drift" {
                assert_eq!(
                    log[4]["relation"], "reset",
                    "{backend}: resumed across a reset"
                );
            }
        }
    }
}

#[test]
fn policy_settings_are_part_of_the_fingerprint_and_the_book_modes_ignore_them() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("fp", "replay", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "2"]);
    let cfg = sb.write(
        "c.toml",
        &sea_config("fp", "replay", "[policy.replay]\nsamples = 10\n"),
    );
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "different config");

    // A stateful run gives the same ids with or without policy settings it does not use.
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let cfg = a.write("c.toml", &sea_config("s", "stateful", ""));
    a.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let cfg = b.write(
        "c.toml",
        &sea_config(
            "s",
            "stateful",
            &format!("{DRIFT}[gate]\nrequire = [\"accuracy>=0.1\"]\n"),
        ),
    );
    b.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(ids(&a.log("s")), ids(&b.log("s")));
}

#[test]
fn a_fresh_model_on_a_small_window_trains_for_train_min_steps() {
    // 250 rows are 8 batches of 32: `epochs = 3` is 24 steps, and the default `min_steps`
    // (150) makes the initial training 19 epochs. Fine-tuning keeps `stateful.epochs`.
    let losses = |config: String| -> Vec<f64> {
        let sb = Sandbox::new();
        let cfg = sb.write("c.toml", &config);
        sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
        let log = sb.log("ms");
        assert_eq!(log.len(), 8);
        log.iter()
            .map(|m| m["metrics"]["train_loss"].as_f64().unwrap())
            .collect()
    };
    let nineteen_epochs =
        |mode| sea_config("ms", mode, "min_steps = 0\n").replace("epochs = 3", "epochs = 19");
    assert_eq!(
        losses(sea_config("ms", "stateful", "")),
        losses(nineteen_epochs("stateful"))
    );
    // Every stateless retraining is fresh: each trains longer, and fits better, than with
    // `epochs` alone.
    let by_default = losses(sea_config("ms", "stateless", ""));
    let three = losses(sea_config("ms", "stateless", "min_steps = 0\n"));
    for (w, (long, short)) in by_default.iter().zip(&three).enumerate() {
        assert!(long < short, "window {w}: {long} vs {short}");
    }
}
