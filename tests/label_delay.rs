//! `window.label_delay = K`: a window's labels arrive K windows after its rows. Each update
//! still trains on its own window once its labels are in, but the window's prequential
//! score is that of the model serving when its rows arrived: the checkpoint K updates older
//! than the latest, so the score measures the lag a team really has.

use serde_json::Value;

use crate::common::{Sandbox, ids};

/// 800 rows of a two-feature table whose concept flips at row 400: 8 windows of 100.
fn table() -> String {
    let mut text = String::from("a,b,y\n");
    for i in 0..800 {
        let a = ((i * 37) % 101) as f64 / 10.0 - 5.0;
        let b = ((i * 53) % 97) as f64 / 10.0 - 5.0;
        let positive = if i < 400 { a + b > 0.0 } else { a - b > 0.0 };
        text.push_str(&format!("{a},{b},{}\n", u8::from(positive)));
    }
    text
}

fn config(delay: Option<usize>) -> String {
    let delay = delay.map_or(String::new(), |k| format!("label_delay = {k}\n"));
    format!(
        "[run]\nname = \"d\"\nmode = \"stateful\"\nseed = 5\n\n[data]\ncsv = \"t.csv\"\ntarget = \"y\"\n\n\
         [window]\nsize = 100\ninitial = 1\n{delay}\n[model]\nhidden = [8]\n\n[train]\nepochs = 2\nbatch_size = 16\n"
    )
}

/// A sandbox with the table and the config for `delay`, run through `windows` windows.
fn ran(delay: Option<usize>, windows: Option<&str>) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("t.csv", &table());
    sb.write("d.toml", &config(delay));
    let mut args = vec!["run", "--config", "d.toml"];
    if let Some(w) = windows {
        args.extend(["--windows", w]);
    }
    sb.ok(&args);
    sb
}

/// Rows `from..to` of the table, with its header.
fn rows(from: usize, to: usize) -> String {
    let table = table();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.skip(from).take(to - from).collect();
    format!("{header}\n{}\n", body.join("\n"))
}

#[test]
fn each_window_is_scored_by_the_model_serving_when_its_rows_arrived() {
    let sb = ran(Some(2), None);
    let log = sb.log("d");
    let ids = ids(&log);
    assert_eq!(log.len(), 8);
    for (t, checkpoint) in log.iter().enumerate().skip(1) {
        // The latest model before window t is the checkpoint of window t - 1; with labels two
        // windows late, window t's rows were predicted by the one two updates older.
        let scorer = &ids[t.saturating_sub(3)];
        assert_eq!(
            checkpoint["extra"]["scored_by"],
            scorer.as_str(),
            "window {t}"
        );
        // By hand: that checkpoint, on window t's rows.
        sb.write("w.csv", &rows(t * 100, (t + 1) * 100));
        let eval: Value =
            serde_json::from_str(&sb.ok(&["eval", scorer, "--csv", "w.csv", "--json"])).unwrap();
        let recorded = checkpoint["metrics"]["prequential"]["accuracy"]
            .as_f64()
            .unwrap();
        assert_eq!(
            eval["metrics"]["accuracy"].as_f64(),
            Some(recorded),
            "window {t}"
        );
        // Each update trains on its own window, once its labels are in.
        assert_eq!(checkpoint["trained_on"]["windows"], serde_json::json!([t]));
        assert_eq!(checkpoint["samples_trained"], 100);
    }
}

#[test]
fn the_run_says_labels_are_late() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table());
    sb.write("d.toml", &config(Some(2)));
    let out = sb.ok(&["run", "--config", "d.toml"]);
    assert!(
        out.contains("labels arrive 2 window(s) after their rows"),
        "{out}"
    );
}

#[test]
fn a_resumed_delayed_run_reaches_the_ids_of_an_uninterrupted_one() {
    let whole = ids(&ran(Some(2), None).log("d"));
    let sb = ran(Some(2), Some("5"));
    sb.ok(&["run", "--config", "d.toml"]);
    assert_eq!(ids(&sb.log("d")), whole);
}

#[test]
fn no_delay_keeps_the_ids_of_a_config_without_the_key() {
    let without = ids(&ran(None, None).log("d"));
    assert_eq!(ids(&ran(Some(0), None).log("d")), without);
    // A delay is part of the config's fingerprint; the initial model has no scorer.
    let delayed = ran(Some(1), None).log("d");
    assert_ne!(ids(&delayed), without);
    assert!(delayed[0]["extra"].get("scored_by").is_none());
    assert!(delayed[1]["extra"]["scored_by"].is_string());
}

#[test]
fn compare_scores_every_policy_under_the_lag() {
    let sb = Sandbox::new();
    sb.write("t.csv", &table());
    sb.write("d.toml", &config(Some(2)));
    let out = sb.ok(&["compare", "--config", "d.toml", "--out", "cmp"]);
    assert!(out.contains("labels arrive 2 window(s) late"), "{out}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("cmp/compare.json")).unwrap())
            .unwrap();
    assert_eq!(report["stream"]["label_delay"], 2);
    for run in ["d-stateless", "d-stateful"] {
        let log = sb.log(run);
        let ids = ids(&log);
        assert_eq!(log[4]["extra"]["scored_by"], ids[1].as_str(), "{run}");
    }
}
