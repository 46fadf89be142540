//! The tree family (`model.kind = "gbdt"`): runs under each policy, lineage, resume to the
//! same ids, bit-identical checkpoints, predict, eval, export and diff, and the config
//! checks that keep MLP-only settings away from it.

use crate::common::{Sandbox, Server, assert_fails, ids, sea_config};

/// The shared SEA config with the tree family (a small tree cap, so that the cap's rule is
/// reached within the run by stateful updates).
fn gbdt_config(name: &str, mode: &str, extra: &str) -> String {
    sea_config(name, mode, &format!("[gbdt]\nmax_trees = 400\n{extra}"))
        .replace("[model]\n", "[model]\nkind = \"gbdt\"\n")
}

/// A number under `extra.model.trees` of a `log --json` entry.
fn trees(entry: &serde_json::Value, field: &str) -> u64 {
    entry["extra"]["model"]["trees"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no extra.model.trees.{field} in {entry}"))
}

#[test]
fn stateful_trees_form_a_chain_that_grows_and_stateless_trees_a_star() {
    let sb = Sandbox::new();
    let stateful = sb.write("stateful.toml", &gbdt_config("tf", "stateful", ""));
    let stateless = sb.write("stateless.toml", &gbdt_config("tl", "stateless", ""));
    sb.ok(&["run", "--config", stateful.to_str().unwrap()]);
    sb.ok(&["run", "--config", stateless.to_str().unwrap()]);

    let chain = sb.log("tf");
    assert_eq!(chain.len(), 8);
    for (w, pair) in chain.windows(2).enumerate() {
        // Each update continues its parent: the same boosters plus a stage, on the window
        // alone (a stateful run keeps no data).
        assert_eq!(pair[1]["parent"], pair[0]["id"], "window {}", w + 1);
        assert_eq!(pair[1]["relation"], "fine-tuned");
        assert_eq!(
            pair[1]["retained"]["samples"], 0,
            "a stateful run keeps no data"
        );
        assert_eq!(pair[1]["samples_trained"], 250, "the window alone");
        assert!(
            trees(&pair[1], "trees") > trees(&pair[0], "trees")
                || trees(&pair[0], "trees") + 1 > 400,
            "window {}: the continued model has no more trees",
            w + 1
        );
    }
    assert_eq!(chain[0]["extra"]["model"]["kind"], "gbdt");
    assert_eq!(chain[0]["extra"]["model"]["backend"], "perpetual");
    // Trees keep the scaler of the initial windows: a continued stage's thresholds stay put.
    assert_eq!(chain[0]["extra"]["scaling"], "initial");

    let star = sb.log("tl");
    let root = star[0]["id"].clone();
    for entry in &star[1..] {
        // Retrained from scratch: parented on the initial model, one booster, no more
        // trees than the cap.
        assert_eq!(entry["parent"], root);
        assert_eq!(entry["relation"], "retrained");
        assert_eq!(trees(entry, "boosters"), 1);
    }
    // The serving trees scored every later window, and beat the no-skill baseline on SEA.
    let last = &chain[7]["metrics"]["prequential"];
    assert!(last["accuracy"].as_f64().unwrap() > last["baseline"].as_f64().unwrap());
}

#[test]
fn tree_runs_resume_to_the_ids_of_an_uninterrupted_run() {
    for mode in ["stateful", "stateless", "replay", "drift"] {
        let whole = Sandbox::new();
        let config = whole.write("c.toml", &gbdt_config("t", mode, ""));
        whole.ok(&["run", "--config", config.to_str().unwrap()]);

        let parts = Sandbox::new();
        let config = parts.write("c.toml", &gbdt_config("t", mode, ""));
        let c = config.to_str().unwrap();
        parts.ok(&["run", "--config", c, "--windows", "3"]);
        parts.ok(&["run", "--config", c, "--windows", "5"]);
        parts.ok(&["run", "--config", c]);
        assert_eq!(ids(&parts.log("t")), ids(&whole.log("t")), "{mode}");
    }
}

#[test]
fn tree_checkpoints_predict_export_and_diff() {
    let sb = Sandbox::new();
    let config = sb.write("c.toml", &gbdt_config("t", "stateful", ""));
    sb.ok(&["run", "--config", config.to_str().unwrap()]);
    // `verify` re-hashes every object: the forest's bytes are what the id says.
    sb.ok(&["verify"]);

    let rows = "x0,x1,x2\n1.0,2.0,3.0\n8.0,9.0,1.0\n5.0,5.0,5.0\n";
    let csv = sb.write("rows.csv", rows);
    let a = sb.ok(&["predict", "t", "--csv", csv.to_str().unwrap()]);
    let b = sb.ok(&["predict", "t", "--csv", csv.to_str().unwrap()]);
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 4, "{a}");

    let out = sb.path("t.json");
    sb.ok(&[
        "export",
        "t",
        "--format",
        "perpetual",
        "--out",
        out.to_str().unwrap(),
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["format"], "relearn-gbdt-export");
    assert!(!doc["outputs"][0]["stages"].as_array().unwrap().is_empty());
    // A tree model is not an MLP: the safetensors export says which format to use.
    let st = sb.path("t.safetensors");
    let refused = sb.relearn(&["export", "t", "--out", st.to_str().unwrap()]);
    assert_fails(&refused, 2, "--format perpetual");

    let diff = sb.ok(&["diff", "t@0", "t@1", "--json"]);
    let diff: serde_json::Value = serde_json::from_str(&diff).unwrap();
    assert!(
        diff["trees"]["added"]["boosters"].as_i64().unwrap() >= 1,
        "{diff}"
    );
}

#[test]
fn settings_the_trees_cannot_use_are_refused() {
    let sb = Sandbox::new();
    let anchored = sb.write(
        "a.toml",
        &gbdt_config("t", "stateful", "[stateful]\nanchor = \"ewc\"\n"),
    );
    assert_fails(
        &sb.relearn(&["run", "--config", anchored.to_str().unwrap()]),
        2,
        "stateful.anchor",
    );
    let mlp_with_gbdt = sb.write(
        "m.toml",
        &sea_config("m", "stateful", "[gbdt]\nbudget = 1.0\n"),
    );
    assert_fails(
        &sb.relearn(&["run", "--config", mlp_with_gbdt.to_str().unwrap()]),
        2,
        "model.kind = \"gbdt\"",
    );
    let budget = sb.write("b.toml", &gbdt_config("t", "stateful", "budget = 0\n"));
    assert_fails(
        &sb.relearn(&["run", "--config", budget.to_str().unwrap()]),
        2,
        "gbdt.budget",
    );
    assert!(
        !sb.store().join("refs").exists(),
        "a refused config wrote to the store"
    );
}

#[test]
fn a_server_answers_with_the_trees_and_swaps_to_the_next_promoted_trees() {
    let sb = Sandbox::new();
    let config = gbdt_config("t", "stateful", "");
    let path = sb.write("c.toml", &config);
    let c = path.to_str().unwrap();
    sb.ok(&["run", "--config", c, "--windows", "4"]);
    let first = sb.head("t").unwrap();
    let rows = "x0,x1,x2\n1.0,2.0,3.0\n8.0,9.0,1.0\n5.0,5.0,5.0\n";
    sb.write("rows.csv", rows);
    let expected: serde_json::Value =
        serde_json::from_str(&sb.ok(&["predict", "t", "--csv", "rows.csv", "--json"])).unwrap();

    let server = Server::start(&sb, &["--run", "t", "--poll-ms", "20"]);
    let answer = server.predict("text/csv", rows);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let doc = answer.json();
    assert_eq!(doc["id"], first.as_str());
    assert_eq!(doc["predictions"], expected["predictions"]);

    // The rest of the stream: the run promotes continued trees and the server swaps to them.
    sb.ok(&["run", "--config", c]);
    let last = sb.head("t").unwrap();
    assert_ne!(last, first);
    let started = std::time::Instant::now();
    loop {
        let doc = server.predict("text/csv", rows).json();
        if doc["id"] == last.as_str() {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "the server still answers with {} after 30 s",
            doc["id"]
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn compare_across_families_reports_every_pair_and_one_recommendation() {
    let sb = Sandbox::new();
    let config = sb.write("c.toml", &sea_config("c", "stateful", ""));
    let out = sb.path("out");
    let text = sb.ok(&[
        "compare",
        "--config",
        config.to_str().unwrap(),
        "--models",
        "mlp,gbdt",
        "--policies",
        "stateless,stateful,stateful+ewc",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    // The anchored policy is the MLP's alone: five runs.
    let modes = report["modes"].as_object().unwrap();
    let names: Vec<&str> = modes.keys().map(String::as_str).collect();
    assert_eq!(modes.len(), 5, "{names:?}");
    for (name, family) in [
        ("stateless", "mlp"),
        ("stateful", "mlp"),
        ("stateful+ewc", "mlp"),
        ("gbdt-stateless", "gbdt"),
        ("gbdt-stateful", "gbdt"),
    ] {
        let mode = &modes[name];
        assert_eq!(mode["windows"].as_array().unwrap().len(), 7, "{name}");
        assert!(mode["model_bytes"].as_u64().unwrap() > 0, "{name}");
        let head = mode["head"].as_str().unwrap();
        let shown: serde_json::Value =
            serde_json::from_str(&sb.ok(&["show", head, "--json"])).unwrap();
        let kind = shown["extra"]["model"]["kind"].as_str().unwrap_or("mlp");
        assert_eq!(kind, family, "{name}");
        // Each family with its own default scaling (the config writes none).
        let scaling = if family == "gbdt" {
            "initial"
        } else {
            "running"
        };
        assert_eq!(shown["extra"]["scaling"], scaling, "{name}");
    }
    let words = report["recommendation"].as_str().unwrap();
    assert!(words.contains("retrained per window"), "{words}");
    assert!(text.contains("gbdt-stateful"), "{text}");
}
