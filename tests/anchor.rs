//! Anchored fine-tuning (`stateful.anchor`) and shrink-and-perturb retraining
//! (`stateless.init`): ids, parts, resume, lineage, and `compare` of anchored policies.

use serde_json::Value;

use crate::common::{Sandbox, ids, sea_config};

fn run_all(sb: &Sandbox, text: &str) {
    let cfg = sb.write("c.toml", text);
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
}

fn part<'a>(m: &'a Value, name: &str) -> Option<&'a Value> {
    m["parts"].get(name)
}

#[test]
fn anchor_none_written_out_gives_the_ids_of_a_config_without_it() {
    for mode in ["stateful", "replay", "drift"] {
        let (plain, none) = (Sandbox::new(), Sandbox::new());
        run_all(&plain, &sea_config("a", mode, ""));
        run_all(
            &none,
            &sea_config(
                "a",
                mode,
                "[stateful]\nanchor = \"none\"\nanchor_strength = 5.0\n",
            ),
        );
        assert_eq!(ids(&plain.log("a")), ids(&none.log("a")), "{mode}");
        assert!(part(&plain.log("a")[1], "fisher").is_none());
        assert!(part(&plain.log("a")[1], "anchor").is_none());
    }
}

#[test]
fn anchored_runs_store_their_parts_and_resume_to_the_same_ids() {
    for (mode, anchor) in [
        ("stateful", "ewc"),
        ("stateful", "l2-init"),
        ("replay", "ewc"),
        ("drift", "ewc"),
    ] {
        let extra = format!("[stateful]\nanchor = \"{anchor}\"\n");
        let text = sea_config("e", mode, &extra);
        let (whole, parts) = (Sandbox::new(), Sandbox::new());
        run_all(&whole, &text);
        let cfg = parts.write("c.toml", &text);
        parts.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
        let out = parts.ok(&["run", "--config", cfg.to_str().unwrap()]);
        assert!(out.contains("resuming run 'e' after window 2"), "{out}");
        let log = whole.log("e");
        assert_eq!(ids(&log), ids(&parts.log("e")), "{mode} {anchor}");
        let name = if anchor == "ewc" { "fisher" } else { "anchor" };
        for m in &log {
            assert!(part(m, name).is_some(), "{mode} {anchor}: {m}");
        }
        if anchor == "l2-init" {
            // The initial weights, the same object in every checkpoint.
            let initial_model = &part(&log[0], "model").unwrap()["object"];
            for m in &log {
                assert_eq!(&part(m, "anchor").unwrap()["object"], initial_model);
            }
        } else {
            // A new Fisher per checkpoint.
            assert_ne!(
                part(&log[1], "fisher").unwrap()["object"],
                part(&log[2], "fisher").unwrap()["object"]
            );
        }
        // An anchor changes what fine-tuning trains, and so the ids.
        let plain = Sandbox::new();
        run_all(&plain, &sea_config("e", mode, ""));
        let plain_log = plain.log("e");
        assert_ne!(
            plain_log[0]["config_fingerprint"],
            log[0]["config_fingerprint"]
        );
        assert_ne!(
            part(&plain_log[2], "model").unwrap()["object"],
            part(&log[2], "model").unwrap()["object"]
        );
    }
}

#[test]
fn a_stateless_run_ignores_the_anchor() {
    let (plain, anchored) = (Sandbox::new(), Sandbox::new());
    run_all(&plain, &sea_config("s", "stateless", ""));
    run_all(
        &anchored,
        &sea_config("s", "stateless", "[stateful]\nanchor = \"ewc\"\n"),
    );
    assert_eq!(ids(&plain.log("s")), ids(&anchored.log("s")));
}

#[test]
fn shrink_perturb_starts_from_the_previous_weights_and_names_them_as_parent() {
    let fresh = Sandbox::new();
    run_all(&fresh, &sea_config("s", "stateless", ""));
    // λ = 0, σ = 1 is fresh retraining: the same weights, but its own fingerprint and a
    // parent that is the previous checkpoint.
    let same = Sandbox::new();
    let text = sea_config(
        "s",
        "stateless",
        "[stateless]\ninit = \"shrink-perturb\"\nshrink = 0.0\nperturb = 1.0\n",
    );
    run_all(&same, &text);
    let (a, b) = (fresh.log("s"), same.log("s"));
    for (x, y) in a.iter().zip(&b).skip(1) {
        assert_eq!(
            part(x, "model").unwrap()["object"],
            part(y, "model").unwrap()["object"]
        );
    }
    // (Without dropout: with it, the masks are drawn after the fresh weights are read.)
    assert_eq!(
        part(&a[0], "model").unwrap()["object"],
        part(&b[0], "model").unwrap()["object"]
    );
    for t in 1..b.len() {
        assert_eq!(b[t]["relation"], "retrained");
        assert_eq!(b[t]["parent"], b[t - 1]["id"], "window {t}");
        assert_eq!(a[t]["parent"], a[0]["id"], "fresh retraining: a star");
    }
    // λ = 1, σ = 0 continues the previous weights (a retraining that is a fine-tune of
    // them): it differs from fresh retraining, and resumes to the same ids.
    let warm = sea_config(
        "w",
        "stateless",
        "[stateless]\ninit = \"shrink-perturb\"\nshrink = 1.0\nperturb = 0.0\n",
    );
    let (whole, parts) = (Sandbox::new(), Sandbox::new());
    run_all(&whole, &warm);
    let cfg = parts.write("c.toml", &warm);
    parts.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    parts.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(ids(&whole.log("w")), ids(&parts.log("w")));
    let w = whole.log("w");
    assert_ne!(
        part(&w[1], "model").unwrap()["object"],
        part(&a[1], "model").unwrap()["object"]
    );
    // Its weights moved less from the previous checkpoint's than fresh ones do.
    let moved = |sb: &Sandbox, log: &[Value]| -> f64 {
        let out = sb.ok(&[
            "diff",
            log[1]["id"].as_str().unwrap(),
            log[2]["id"].as_str().unwrap(),
            "--json",
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["total"]["delta_norm"].as_f64().unwrap()
    };
    assert!(
        moved(&whole, &w) < moved(&fresh, &a),
        "{} vs {}",
        moved(&whole, &w),
        moved(&fresh, &a)
    );
    whole.ok(&["verify"]);
}

#[test]
fn compare_runs_anchored_policies_beside_the_others() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("cmp", "stateful", ""));
    let out = sb.ok(&[
        "compare",
        "--config",
        cfg.to_str().unwrap(),
        "--policies",
        "stateful,stateful+ewc,stateful+l2-init",
        "--out",
        sb.path("out").to_str().unwrap(),
    ]);
    assert!(out.contains("stateful+ewc"), "{out}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("out/compare.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["policies"],
        serde_json::json!(["stateful", "stateful+ewc", "stateful+l2-init"])
    );
    assert_eq!(json["modes"]["stateful+ewc"]["run"], "cmp-stateful-ewc");
    let ewc = sb.log("cmp-stateful-ewc");
    assert!(part(&ewc[1], "fisher").is_some());
    // The plain policy is the config's own run: the ids of `run`.
    let alone = Sandbox::new();
    run_all(&alone, &sea_config("cmp-stateful", "stateful", ""));
    assert_eq!(
        ids(&sb.log("cmp-stateful")),
        ids(&alone.log("cmp-stateful"))
    );
}
