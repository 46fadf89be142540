//! Promotion gates (`run --gate`, `[gate]`) and `rollback`: pass, fail, crash mid-way, bad
//! input.

use serde_json::Value;

use crate::common::{Sandbox, assert_fails, ids, sea_config, stderr, temp_files};

fn head(sb: &Sandbox, run: &str) -> String {
    sb.head(run).expect("the run has a head")
}

#[test]
fn a_passing_gate_changes_nothing() {
    let (plain, gated) = (Sandbox::new(), Sandbox::new());
    let text = sea_config("g", "stateful", "");
    let cfg = plain.write("c.toml", &text);
    plain.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let cfg = gated.write("c.toml", &text);
    gated.ok(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--gate",
        "accuracy>=0.5,loss<5",
    ]);
    assert_eq!(ids(&plain.log("g")), ids(&gated.log("g")));
}

#[test]
fn a_failing_candidate_is_stored_tagged_and_not_served() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("g", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "3"]);
    let served = head(&sb, "g");
    for _ in 0..2 {
        // Rejected, and rejected again on a rerun (the same candidate, already stored).
        let out = sb.relearn(&["run", "--config", cfg, "--gate", "accuracy>=0.999"]);
        assert_fails(&out, 1, "rejected the candidate for window 3");
        assert!(stderr(&out).contains("accuracy>=0.999"), "{}", stderr(&out));
        assert_eq!(head(&sb, "g"), served);
    }
    let rejected: Value =
        serde_json::from_str(&sb.ok(&["show", "g.rejected.3", "--json"])).unwrap();
    assert_eq!(rejected["window"], 3);
    assert_eq!(
        rejected["tags"],
        serde_json::json!(["g.rejected.3", "rejected"])
    );
    let latest: Value = serde_json::from_str(&sb.ok(&["show", "rejected", "--json"])).unwrap();
    assert_eq!(latest["id"], rejected["id"]);
    let before = sb.snapshot();
    let out = sb.relearn(&["rollback", "g", "g.rejected.3"]);
    assert_fails(
        &out,
        2,
        "rejected by the promotion gate (it fails accuracy>=0.999)",
    );
    assert_eq!(before, sb.snapshot());
    let tree = sb.ok(&["tree", "--run", "g"]);
    assert!(
        tree.contains("rejected: fails accuracy>=0.999  [g.rejected.3, rejected]"),
        "{tree}"
    );
    assert_eq!(
        rejected["extra"]["gate"]["failed"],
        serde_json::json!(["accuracy>=0.999"])
    );
    assert!(
        rejected["extra"]["gate"]["scores"]["accuracy"]
            .as_f64()
            .unwrap()
            < 0.999
    );
    sb.ok(&["verify"]);
    // The same gate from the config file.
    let gated = sb.write(
        "gated.toml",
        &sea_config("g", "stateful", "[gate]\nrequire = [\"accuracy>=0.999\"]\n"),
    );
    let out = sb.relearn(&["run", "--config", gated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Without the gate the run goes on from the head it kept serving.
    sb.ok(&["run", "--config", cfg]);
    let log = sb.log("g");
    let w3: Vec<&Value> = log.iter().filter(|m| m["window"] == 3).collect();
    assert_eq!(w3.len(), 2, "the rejected candidate and the promoted one");
    let promoted = w3.iter().find(|m| m["extra"]["gate"].is_null()).unwrap();
    assert_eq!(promoted["parent"].as_str().unwrap(), served);
}

#[test]
fn a_crash_while_storing_a_rejected_candidate_leaves_the_head_alone() {
    for point in ["commit:objects", "commit:manifest"] {
        let sb = Sandbox::new();
        let cfg = sb.write("c.toml", &sea_config("g", "stateful", ""));
        let cfg = cfg.to_str().unwrap();
        sb.ok(&["run", "--config", cfg, "--windows", "2"]);
        let served = head(&sb, "g");
        let out = sb
            .command(&["run", "--config", cfg, "--gate", "accuracy>=0.999"])
            .env("RELEARN_CRASH_AT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: {}", stderr(&out));
        sb.ok(&["verify"]);
        assert_eq!(head(&sb, "g"), served, "{point}");
        let out = sb.relearn(&["run", "--config", cfg, "--gate", "accuracy>=0.999"]);
        assert_eq!(out.status.code(), Some(1), "{point}: {}", stderr(&out));
        sb.ok(&["show", "g.rejected.2"]);
    }
}

#[test]
fn bad_gates_exit_2_and_change_nothing() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("g", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "2"]);
    let before = sb.snapshot();
    for (gate, expected) in [
        ("acc>=0.9", "use accuracy, loss or skill"),
        ("accuracy=0.9", "is not a condition"),
        ("mse<=1", "use accuracy, loss or skill"),
        ("accuracy>=", "not a finite number"),
    ] {
        let out = sb.relearn(&["run", "--config", cfg, "--gate", gate]);
        assert_fails(&out, 2, expected);
        assert_fails(&out, 2, "--gate");
    }
    let bad = sb.write(
        "bad.toml",
        &sea_config("g", "stateful", "[gate]\nrequire = [\"accuracy>>0.9\"]\n"),
    );
    let out = sb.relearn(&["run", "--config", bad.to_str().unwrap()]);
    assert_fails(&out, 2, "bad.toml:22: `gate.require`");
    assert_eq!(before, sb.snapshot());
}

#[test]
fn rollback_moves_the_head_back_and_records_it() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("r", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "5"]);
    let log = sb.log("r");
    let (w3, w4) = (
        log[3]["id"].as_str().unwrap(),
        log[4]["id"].as_str().unwrap(),
    );
    let out = sb.ok(&["rollback", "r"]);
    assert!(out.contains("rolled back from"), "{out}");
    assert_eq!(head(&sb, "r"), w3);
    let moved: Value = serde_json::from_str(&sb.ok(&["rollback", "r", "r@1", "--json"])).unwrap();
    assert_eq!(moved["run"], "r");
    assert_eq!(moved["from"], w3);
    assert_eq!(moved["to"], log[1]["id"]);
    assert_eq!(moved["action"], "rollback");
    let history: Vec<Value> =
        serde_json::from_str(&sb.ok(&["rollback", "r", "--history", "--json"])).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["from"], w4);
    sb.ok(&["verify"]);
    // Running again resumes from the served checkpoint, to the same ids as before.
    sb.ok(&["run", "--config", cfg, "--windows", "5"]);
    assert_eq!(head(&sb, "r"), w4);
    // A damaged ref log is a problem `verify` names.
    std::fs::write(sb.store().join("logs/r"), "{\"at\": 1}\n").unwrap();
    let out = sb.relearn(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &stderr(&out);
    assert!(
        text.contains("bad-ref-log") && text.contains("logs/r"),
        "{text}"
    );
}

#[test]
fn a_crash_mid_rollback_leaves_a_consistent_store_and_repeating_it_completes() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("r", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "4"]);
    let log = sb.log("r");
    let out = sb
        .command(&["rollback", "r"])
        .env("RELEARN_CRASH_AT", "move-head:record")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    sb.ok(&["verify"]);
    assert_eq!(
        head(&sb, "r"),
        log[3]["id"].as_str().unwrap(),
        "the ref did not move"
    );
    sb.ok(&["rollback", "r"]);
    assert_eq!(head(&sb, "r"), log[2]["id"].as_str().unwrap());
    assert!(temp_files(&sb.store()).is_empty());
}

#[test]
fn bad_rollbacks_exit_2_and_change_nothing() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("r", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    let other = sb.write("o.toml", &sea_config("o", "stateful", ""));
    sb.ok(&["run", "--config", other.to_str().unwrap(), "--windows", "1"]);
    let before = sb.snapshot();
    for (args, expected) in [
        (vec!["rollback", "nope"], "has no checkpoints"),
        (vec!["rollback", "r", "o"], "belongs to run 'o'"),
        (vec!["rollback", "r", "r"], "already serves"),
        (vec!["rollback", "r", "r@9"], "r@9"),
        (vec!["rollback", "o"], "nothing before it"),
        (vec!["rollback", "r", "--frobnicate"], "--frobnicate"),
    ] {
        assert_fails(&sb.relearn(&args), 2, expected);
    }
    assert_eq!(before, sb.snapshot());
}

#[test]
fn gc_keeps_what_served_not_rejected_candidates_or_what_a_rollback_left() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("r", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "5"]);
    let out = sb.relearn(&["run", "--config", cfg, "--gate", "accuracy>=0.999"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    sb.ok(&["rollback", "r"]);
    let ids = |log: &[Value]| -> Vec<(u64, String)> {
        log.iter()
            .map(|m| {
                (
                    m["window"].as_u64().unwrap(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = ids(&sb.log("r"));
    sb.ok(&["gc", "--keep-last", "2"]);
    let after: Vec<u64> = ids(&sb.log("r")).into_iter().map(|(w, _)| w).collect();
    // Served now: window 3 (the head after the rollback) and window 2 (which it replaced);
    // window 5's rejected candidate stays for its tag; window 4, past the rollback, goes.
    assert_eq!(after, vec![2, 3, 5], "{before:?}");
    sb.ok(&["verify"]);
    sb.ok(&["show", "r.rejected.5"]);
}

#[test]
fn a_gate_on_skill_works_for_classification() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("g", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    // Any real skill passes a gate at -1000 (the worst skill is -1 for classification)...
    sb.ok(&[
        "run",
        "--config",
        cfg,
        "--windows",
        "3",
        "--gate",
        "skill>=-1000",
    ]);
    assert_eq!(sb.log("g").len(), 3);
    // ... and none reaches 1.5: the next candidate is rejected, naming the condition.
    let out = sb.relearn(&[
        "run",
        "--config",
        cfg,
        "--windows",
        "4",
        "--gate",
        "skill>=1.5",
    ]);
    assert_fails(&out, 1, "skill>=1.5");
    let rejected: Value = serde_json::from_str(&sb.ok(&["show", "rejected", "--json"])).unwrap();
    let scores = &rejected["extra"]["gate"]["scores"];
    assert!(scores["skill"].as_f64().unwrap() <= 1.0, "{scores}");
    assert!(scores["baseline"].is_number(), "{scores}");
}
