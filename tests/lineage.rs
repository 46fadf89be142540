//! A stateful run is a chain, a stateless one a star on the initial model; both record
//! `replaces`, prequential scores and retained data per SPEC.

use serde_json::Value;

use crate::common::{Sandbox, ids, sea_config};

#[test]
fn stateful_run_is_a_chain() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("chain", "stateful", ""));
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    // One line per window: 1 initial + 7 updates.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("window")).count(),
        8,
        "{out}"
    );
    let log = sb.log("chain");
    assert_eq!(log.len(), 8);
    let ids = ids(&log);
    assert_eq!(log[0]["relation"], "initial");
    assert!(log[0]["parent"].is_null() && log[0]["replaces"].is_null());
    assert!(log[0]["metrics"]["prequential"].is_null());
    for (k, m) in log.iter().enumerate().skip(1) {
        assert_eq!(m["relation"], "fine-tuned");
        assert_eq!(m["parent"], ids[k - 1].as_str());
        assert_eq!(m["replaces"], ids[k - 1].as_str());
        assert_eq!(m["window"], k as u64);
        assert_eq!(m["samples_trained"], 250);
        assert_eq!(m["retained"]["samples"], 0);
        assert_eq!(m["retained"]["bytes"], 0);
        let acc = m["metrics"]["prequential"]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(m["metrics"]["prequential"]["loss"].as_f64().unwrap() > 0.0);
        assert!(m["train_seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(m["id"].as_str().unwrap().len(), 64);
    }
    // The run learns SEA: late windows of the same concept score well.
    let last = log[7]["metrics"]["prequential"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(last > 0.85, "final prequential accuracy {last}");
}

#[test]
fn stateless_run_is_a_star_on_the_initial_model() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "c.toml",
        &sea_config(
            "star",
            "stateless",
            "[stateless]\ninitial_fraction = 0.3\nrecent_windows = 3\n",
        ),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("star");
    assert_eq!(log.len(), 8);
    let ids = ids(&log);
    for (k, m) in log.iter().enumerate().skip(1) {
        assert_eq!(m["relation"], "retrained");
        assert_eq!(
            m["parent"],
            ids[0].as_str(),
            "every retraining hangs off the initial model"
        );
        assert_eq!(m["replaces"], ids[k - 1].as_str());
        // Recent windows (at most 3, after the initial one) plus 30/70 initial share.
        let recent = k.min(3) * 250;
        let initial = ((0.3f64 / 0.7) * recent as f64).round() as u64;
        assert_eq!(m["samples_trained"], recent as u64 + initial.min(250));
        // Keeps the initial window plus the recent windows the next update reuses.
        let reused = k.min(2) as u64;
        assert_eq!(m["retained"]["samples"], 250 * (1 + reused));
        assert_eq!(m["retained"]["bytes"], 250 * (1 + reused) * 4 * 4);
    }
    let tree = sb.ok(&["tree", "--run", "star"]);
    assert!(tree.contains("star (stateless, 8 checkpoints"), "{tree}");
    assert_eq!(
        tree.matches("├─").count() + tree.matches("└─").count(),
        7,
        "{tree}"
    );
}

#[test]
fn ids_are_reproducible_across_fresh_stores_on_both_backends() {
    for backend in ["flex", "ndarray"] {
        let text = sea_config("repro", "stateful", "")
            .replace("seed = 7", &format!("seed = 7\nbackend = \"{backend}\""));
        let (a, b) = (Sandbox::new(), Sandbox::new());
        for sb in [&a, &b] {
            let cfg = sb.write("c.toml", &text);
            sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "4"]);
        }
        assert_eq!(ids(&a.log("repro")), ids(&b.log("repro")), "{backend}");
    }
}

#[test]
fn show_and_tree_describe_the_run() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("insp", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "4"]);
    let show = sb.ok(&["show", "insp"]);
    assert!(
        show.contains("relation   fine-tuned") && show.contains("window     3"),
        "{show}"
    );
    let json: Value = serde_json::from_str(&sb.ok(&["show", "insp~1", "--json"])).unwrap();
    assert_eq!(json["window"], 2);
    for key in [
        "id",
        "run",
        "mode",
        "window",
        "parent",
        "relation",
        "replaces",
        "samples_trained",
        "retained",
        "metrics",
        "train_seconds",
        "created_at",
        "tags",
    ] {
        assert!(json.get(key).is_some(), "show --json lacks {key}");
    }
    let tree: Value = serde_json::from_str(&sb.ok(&["tree", "--format", "json"])).unwrap();
    // Flat: nodes in creation order linked by ids, whatever the chain's length.
    let run = &tree["runs"][0];
    let nodes = run["nodes"].as_array().unwrap();
    assert_eq!(run["roots"], serde_json::json!([nodes[0]["id"]]));
    assert_eq!(nodes[0]["relation"], "initial");
    assert_eq!(nodes[0]["parent"], Value::Null);
    for pair in nodes.windows(2) {
        assert_eq!(pair[1]["parent"], pair[0]["id"]);
        assert_eq!(pair[0]["children"], serde_json::json!([pair[1]["id"]]));
    }
    assert_eq!(nodes[3]["window"], 3);
    assert_eq!(run["head"], nodes.last().unwrap()["id"]);
    let text = sb.ok(&["tree"]);
    assert!(text.contains("<- head"), "{text}");
}

#[test]
fn burn_autodiff_trains_on_flex_too_reproducibly_and_resumably() {
    let text = sea_config("ad", "stateful", "")
        .replace("seed = 7\n", "seed = 7\ntrainer = \"autodiff\"\n");
    let (a, b, fused) = (Sandbox::new(), Sandbox::new(), Sandbox::new());
    let cfg = a.write("c.toml", &text);
    a.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let cfg = b.write("c.toml", &text);
    b.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "4"]);
    b.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(ids(&a.log("ad")), ids(&b.log("ad")));
    // The fused trainer computes the same mathematics in another order: close, not equal.
    let cfg = fused.write("c.toml", &sea_config("ad", "stateful", ""));
    fused.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let (burn, ours) = (a.log("ad"), fused.log("ad"));
    assert_ne!(ids(&burn), ids(&ours));
    for (x, y) in burn.iter().zip(&ours).skip(1) {
        let (x, y) = (
            x["metrics"]["prequential"]["accuracy"].as_f64().unwrap(),
            y["metrics"]["prequential"]["accuracy"].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 0.02,
            "window accuracy {x} (autodiff) vs {y} (fused)"
        );
    }
}
