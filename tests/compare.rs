//! `relearn compare`: both modes side by side, the JSON, the plots, reuse of stored runs.

use serde_json::Value;

use crate::common::{Sandbox, sea_config, stderr};

fn read_json(sb: &Sandbox, path: &str) -> Value {
    let text = std::fs::read_to_string(sb.path(path)).expect("compare.json written");
    serde_json::from_str(&text).expect("compare.json is JSON")
}

/// Every per-window row of one mode in compare.json equals the same checkpoint in
/// `log --json`: id, window, prequential metrics, train_seconds, samples_trained.
fn assert_agrees_with_log(sb: &Sandbox, report: &Value, mode: &str, metric: &str) {
    let run = report["modes"][mode]["run"].as_str().unwrap().to_string();
    let log = sb.log(&run);
    let rows = report["modes"][mode]["windows"].as_array().unwrap();
    let updates: Vec<&Value> = log.iter().filter(|m| m["relation"] != "initial").collect();
    assert_eq!(
        rows.len(),
        updates.len(),
        "{mode}: one row per update checkpoint"
    );
    for (row, m) in rows.iter().zip(&updates) {
        assert_eq!(row["id"], m["id"], "{mode}");
        assert_eq!(row["window"], m["window"], "{mode}");
        assert_eq!(row["train_seconds"], m["train_seconds"], "{mode}");
        assert_eq!(row["samples_trained"], m["samples_trained"], "{mode}");
        assert_eq!(row["prequential"], m["metrics"]["prequential"], "{mode}");
        assert_eq!(row["score"], m["metrics"]["prequential"][metric], "{mode}");
    }
    let initial = log.iter().find(|m| m["relation"] == "initial").unwrap();
    assert_eq!(report["modes"][mode]["initial"]["id"], initial["id"]);
    assert_eq!(report["modes"][mode]["head"], log.last().unwrap()["id"]);
    let total: f64 = updates
        .iter()
        .map(|m| m["train_seconds"].as_f64().unwrap())
        .sum();
    let reported = report["modes"][mode]["train_seconds"]["updates_total"]
        .as_f64()
        .unwrap();
    assert!(
        (total - reported).abs() < 1e-9,
        "{mode}: {total} vs {reported}"
    );
    let last = log.last().unwrap();
    assert_eq!(report["modes"][mode]["retained_at_end"], last["retained"]);
}

fn window_ids(report: &Value, mode: &str) -> Vec<Value> {
    report["modes"][mode]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect()
}

#[test]
fn compare_sea_prints_table_writes_json_and_plots_and_reuses_checkpoints() {
    let sb = Sandbox::new();
    sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    let out = sb.ok(&["compare", "--config", "sea.toml", "--out", "cmp"]);
    assert_prints_the_table(&out);
    let report = read_json(&sb, "cmp/compare.json");
    assert_reports_both_sea_runs(&sb, &report);
    assert_recommends_in_table_and_json(&out, &report);
    assert_draws_the_plots(&sb);
    assert_a_rerun_reuses_every_checkpoint(&sb, &report);
}

/// The SEA compare's table on stdout: its rows, one per update window (1..=7), the drift
/// marker and the recommendation.
fn assert_prints_the_table(out: &str) {
    assert!(out.starts_with("compare 'sea'"), "{out}");
    for needle in [
        "stateless",
        "stateful",
        "mean accuracy",
        "final accuracy",
        "worst window",
        "recovery after sample 1000",
        "train seconds / update (mean)",
        "samples trained (total)",
        "past data kept at the end",
        "peak memory",
        "<- drift at sample 1000",
        "recommendation: ",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // One row per update window (windows 1..=7).
    for w in 1..=7 {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{w} "))),
            "window {w}:\n{out}"
        );
    }
}

/// compare.json of the SEA compare: both runs under their compare names, each agreeing with
/// `log --json`, 7 update windows, the recovery after the drift, the peak memory and what each
/// keeps at the end.
fn assert_reports_both_sea_runs(sb: &Sandbox, report: &Value) {
    assert_eq!(report["metric"], "accuracy");
    assert_eq!(report["higher_is_better"], true);
    assert_eq!(report["stream"]["drift_points"], serde_json::json!([1000]));
    assert_eq!(report["modes"]["stateless"]["run"], "sea-stateless");
    assert_eq!(report["modes"]["stateful"]["run"], "sea-stateful");
    assert_agrees_with_log(sb, report, "stateless", "accuracy");
    assert_agrees_with_log(sb, report, "stateful", "accuracy");
    for mode in ["stateless", "stateful"] {
        let m = &report["modes"][mode];
        assert_eq!(m["windows"].as_array().unwrap().len(), 7, "{mode}");
        assert_eq!(m["trained_now"], 8, "{mode}");
        assert_eq!(m["recovery"].as_array().unwrap().len(), 1, "{mode}");
        assert_eq!(m["recovery"][0]["drift_window"], 4, "{mode}");
        let mean = m["score"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&mean), "{mode}: {mean}");
        // Measured in a child process per mode (Linux).
        if cfg!(target_os = "linux") {
            let peak = m["peak_memory"]["mib"].as_f64().unwrap();
            assert!(peak > 1.0 && peak < 16384.0, "{mode}: {peak}");
            assert_eq!(m["peak_memory"]["measured"], "now");
        }
    }
    assert_eq!(report["modes"]["stateful"]["retained_at_end"]["samples"], 0);
    assert!(
        report["modes"]["stateless"]["retained_at_end"]["samples"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// The recommendation is printed as the JSON has it, and names a mode or `either`.
fn assert_recommends_in_table_and_json(out: &str, report: &Value) {
    let recommendation = report["recommendation"].as_str().unwrap();
    assert!(!recommendation.is_empty());
    assert!(
        out.contains(recommendation),
        "the printed recommendation is the JSON's"
    );
    assert!(
        ["stateful", "stateless", "either"]
            .contains(&report["comparison"]["recommended"].as_str().unwrap()),
        "{report}"
    );
}

/// compare.png (a real image) and compare.svg (two curves and the drift marker, labelled).
fn assert_draws_the_plots(sb: &Sandbox) {
    let png = std::fs::read(sb.path("cmp/compare.png")).expect("compare.png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    assert!(
        png.len() > 5_000,
        "a real image, not a blank: {} bytes",
        png.len()
    );
    let svg = std::fs::read_to_string(sb.path("cmp/compare.svg")).expect("compare.svg");
    assert!(
        svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
        "SVG document"
    );
    assert!(
        svg.matches("<polyline").count() >= 3,
        "two curves and the drift marker"
    );
    assert!(
        svg.contains("stateless (mean")
            && svg.contains("stateful (mean")
            && svg.contains("drift point")
    );
}

/// Rerun: every checkpoint is reused, nothing new is trained, the ids, scores, peak memory and
/// recommendation are `report`'s.
fn assert_a_rerun_reuses_every_checkpoint(sb: &Sandbox, report: &Value) {
    let before: Vec<Value> = [sb.log("sea-stateless"), sb.log("sea-stateful")].concat();
    let again = sb.relearn(&["compare", "--config", "sea.toml", "--out", "cmp"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let after: Vec<Value> = [sb.log("sea-stateless"), sb.log("sea-stateful")].concat();
    assert_eq!(before, after, "no new checkpoints on a rerun");
    let rerun = read_json(sb, "cmp/compare.json");
    for mode in ["stateless", "stateful"] {
        assert_eq!(window_ids(report, mode), window_ids(&rerun, mode), "{mode}");
        assert_eq!(rerun["modes"][mode]["trained_now"], 0, "{mode}");
        assert_eq!(rerun["modes"][mode]["reused"], 8, "{mode}");
        assert_eq!(
            rerun["modes"][mode]["score"], report["modes"][mode]["score"],
            "{mode}"
        );
        if cfg!(target_os = "linux") {
            // Nothing trained now: the peak measured by the first compare stands.
            assert_eq!(
                rerun["modes"][mode]["peak_memory"]["measured"], "earlier",
                "{mode}"
            );
            assert_eq!(
                rerun["modes"][mode]["peak_memory"]["mib"],
                report["modes"][mode]["peak_memory"]["mib"]
            );
        }
    }
    assert_eq!(rerun["recommendation"], report["recommendation"]);
    assert!(
        stderr(&again).contains("reusing stored checkpoints"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn compare_regression_uses_mse() {
    let sb = Sandbox::new();
    sb.write(
        "friedman.toml",
        r#"[run]
name = "fr"
seed = 3

[data]
generator = "friedman"
samples = 1500
n_features = 5
drift_points = [750]

[window]
size = 250

[model]
hidden = [16]

[train]
epochs = 3
"#,
    );
    let out = sb.ok(&["compare", "--config", "friedman.toml", "--out", "fr-out"]);
    assert!(
        out.contains("mean mse") && out.contains("recommendation: "),
        "{out}"
    );
    let report = read_json(&sb, "fr-out/compare.json");
    assert_eq!(report["metric"], "mse");
    assert_eq!(report["higher_is_better"], false);
    assert_agrees_with_log(&sb, &report, "stateless", "mse");
    assert_agrees_with_log(&sb, &report, "stateful", "mse");
    assert!(
        std::fs::read(sb.path("fr-out/compare.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}

#[test]
fn compare_with_windows_and_default_out_folder() {
    let sb = Sandbox::new();
    sb.write("sea.toml", &sea_config("short", "stateless", ""));
    let out = sb.ok(&["compare", "--config", "sea.toml", "--windows", "4"]);
    assert!(out.contains("compare-out/short"), "{out}");
    let report = read_json(&sb, "compare-out/short/compare.json");
    for mode in ["stateless", "stateful"] {
        assert_eq!(
            report["modes"][mode]["windows"].as_array().unwrap().len(),
            3,
            "{mode}"
        );
    }
    // The drift at sample 1000 lies in window 4, outside the 4 windows compared.
    assert_eq!(
        report["modes"]["stateful"]["recovery"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn compare_bad_input_is_exit_2_and_trains_nothing() {
    let sb = Sandbox::new();
    sb.write(
        "bad.toml",
        "[run]\nname = \"bad\"\n[data]\ncsv = \"missing.csv\"\ntarget = \"y\"\n",
    );
    let out = sb.relearn(&["compare", "--config", "bad.toml", "--out", "o"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.csv"), "{}", stderr(&out));
    assert!(!sb.store().exists(), "bad input never changes the store");
    assert!(!sb.path("o").exists());
}

#[test]
fn compare_runs_any_set_of_policies_with_forgetting() {
    let sb = Sandbox::new();
    sb.write(
        "sea.toml",
        &sea_config("sea", "stateful", "[policy.drift]\nthreshold = 8\n"),
    );
    let out = sb.ok(&[
        "compare",
        "--config",
        "sea.toml",
        "--out",
        "cmp",
        "--policies",
        "stateless,stateful,replay,drift",
    ]);
    for needle in [
        "replay",
        "drift",
        "accuracy on the previous concept",
        "Forgetting: ",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let report = read_json(&sb, "cmp/compare.json");
    assert_eq!(
        report["policies"],
        serde_json::json!(["stateless", "stateful", "replay", "drift"])
    );
    for policy in ["stateless", "stateful", "replay", "drift"] {
        assert_agrees_with_log(&sb, &report, policy, "accuracy");
        let backward = &report["modes"][policy]["backward"];
        // Windows 4.. (concept 1) are scored on windows 0..4 (concept 0).
        assert_eq!(backward["checkpoints"], 4, "{policy}: {backward}");
        let rows = report["modes"][policy]["windows"].as_array().unwrap();
        assert!(rows[0]["previous_concept"].is_null());
        assert!(rows[3]["previous_concept"].is_number(), "{policy}");
    }
    assert_eq!(report["ranking"].as_array().unwrap().len(), 4);
    let recommended = report["recommended"].as_str().unwrap();
    assert!(
        out.contains(&format!("recommendation: Use {recommended}")),
        "{out}"
    );
    assert!(report["comparison"]["paired_windows"].is_number());
    assert!(sb.path("cmp/compare.png").is_file() && sb.path("cmp/compare.svg").is_file());

    // A subset without the book pair: no stateful-vs-stateless comparison.
    sb.ok(&[
        "compare",
        "--config",
        "sea.toml",
        "--out",
        "two",
        "--policies",
        "replay,stateful",
    ]);
    let report = read_json(&sb, "two/compare.json");
    assert!(report["comparison"].is_null());
    assert_eq!(
        report["modes"]["replay"]["trained_now"], 0,
        "replay's run was reused"
    );
}

#[test]
fn compare_rejects_unknown_or_repeated_policies() {
    let sb = Sandbox::new();
    sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    for (policies, expected) in [("stateless,bogus", "bogus"), ("replay,replay", "twice")] {
        let out = sb.relearn(&["compare", "--config", "sea.toml", "--policies", policies]);
        assert_eq!(out.status.code(), Some(2), "{policies}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{policies}: {}",
            stderr(&out)
        );
        assert!(!sb.store().exists(), "{policies}: nothing written");
    }
}

#[test]
fn the_difference_column_is_stateful_minus_stateless_in_either_order() {
    let sb = Sandbox::new();
    sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    let rows = |policies: &str, out: &str| -> Vec<(String, String)> {
        let text = sb.ok(&[
            "compare",
            "--config",
            "sea.toml",
            "--out",
            out,
            "--policies",
            policies,
        ]);
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|t| t.len() >= 4 && t[0].parse::<u64>().is_ok() && t[1].parse::<f64>().is_ok())
            .map(|t| (t[0].to_string(), t[3].to_string()))
            .collect()
    };
    let book = rows("stateless,stateful", "a");
    let reversed = rows("stateful,stateless", "b");
    assert_eq!(book.len(), 7, "{book:?}");
    assert_eq!(book, reversed);
    assert!(book.iter().any(|(_, d)| d != "+0.0000"), "{book:?}");
}

#[test]
fn identical_scores_recommend_the_data_free_policy() {
    // A drift detector that never fires: drift fine-tunes exactly as stateful does, so the
    // two score the same on every window, but drift keeps past samples. Whichever is listed
    // first (and so ranks as the most accurate), and whichever happened to train faster,
    // stateful, which keeps no data, is recommended.
    let sb = Sandbox::new();
    sb.write(
        "sea.toml",
        &sea_config("sea", "stateful", "[policy.drift]\nthreshold = 1e12\n"),
    );
    for (out, policies) in [("a", "drift,stateful"), ("b", "stateful,drift")] {
        sb.ok(&[
            "compare",
            "--config",
            "sea.toml",
            "--out",
            out,
            "--policies",
            policies,
        ]);
        let report = read_json(&sb, &format!("{out}/compare.json"));
        let scores = |mode: &str| -> Vec<Value> {
            report["modes"][mode]["windows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["score"].clone())
                .collect()
        };
        assert_eq!(
            scores("drift"),
            scores("stateful"),
            "the detector never fired"
        );
        assert!(
            report["modes"]["drift"]["retained_at_end"]["samples"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert_eq!(report["recommended"], "stateful", "{policies}: {report}");
    }
}

#[test]
fn compare_counts_dropped_rows_and_reports_pooled_skill() {
    // 1,030 labelled rows in windows of 100: 10 windows, 30 rows after the last one; a
    // blank target every 50 rows among the first 900 (18 rows) and one in the tail.
    let sb = Sandbox::new();
    let mut csv = String::from("x1,x2,y\n");
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..1030 {
        let (a, b) = (next(), next());
        if i % 50 == 25 && i < 900 || i == 1010 {
            csv.push_str(&format!("{a:.4},{b:.4},\n"));
        }
        let y = 3.0 * a - 2.0 * b + 0.1 * next();
        csv.push_str(&format!("{a:.4},{b:.4},{y:.4}\n"));
    }
    sb.write("rows.csv", &csv);
    sb.write(
        "rows.toml",
        "[run]\nname = \"rows\"\nseed = 1\n[data]\ncsv = \"rows.csv\"\ntarget = \"y\"\n\
         task = \"regression\"\n[window]\nsize = 100\n[model]\nhidden = [8]\n[train]\nepochs = 2\n",
    );
    let out = sb.ok(&["compare", "--config", "rows.toml", "--out", "o"]);
    let report = read_json(&sb, "o/compare.json");
    assert_eq!(report["stream"]["samples"], 1030);
    assert_eq!(report["stream"]["samples_unused_at_end"], 30, "{report}");
    for mode in ["stateless", "stateful"] {
        assert_eq!(report["modes"][mode]["samples_skipped"], 18, "{mode}");
        let skipped: u64 = sb
            .log(report["modes"][mode]["run"].as_str().unwrap())
            .iter()
            .map(|m| m["samples_skipped"].as_u64().unwrap())
            .sum();
        assert_eq!(skipped, 18, "{mode}: the checkpoints' own count");
        let baseline = &report["modes"][mode]["score"]["baseline"];
        assert!(baseline["pooled_skill"].is_number(), "{baseline}");
        assert!(baseline["skill"].is_number(), "{baseline}");
    }
    for needle in [
        "not used: 30 samples after the last full window",
        "rows skipped (blank target)",
        "skill over the baseline (pooled)",
        "so a difference of one point is 0.01 of pooled skill",
        "points of skill",
        "Pooled skill over the no-skill baseline",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(!out.contains("R²"), "{out}");
}
