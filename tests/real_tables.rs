//! Real tables (issue 13): rows whose target was never observed are skipped, not an error.

use serde_json::Value;

use crate::common::{Sandbox, assert_fails, sea_config};

/// 700 rows `x0,x1,label`, label 1 iff `x0 > x1`; every 7th row's label is missing, spelled
/// in turn `""`, `NA`, `N/A`, `NaN`, `null` (and such a row's features are blank too).
fn table_with_missing_targets() -> (String, usize) {
    let tokens = ["", "NA", "N/A", "NaN", "null"];
    let mut text = String::from("x0,x1,label\n");
    let mut state: u64 = 7;
    let mut missing = 0;
    for row in 0..700 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let (a, b) = ((state >> 40) % 1000, (state >> 20) % 1000);
        if row % 7 == 3 {
            text.push_str(&format!(",,{}\n", tokens[missing % tokens.len()]));
            missing += 1;
        } else {
            text.push_str(&format!("{a},{b},{}\n", u8::from(a > b)));
        }
    }
    (text, missing)
}

fn config(extra: &str) -> String {
    format!(
        "[run]\nname = \"t\"\n\n[data]\ncsv = \"t.csv\"\ntarget = \"label\"\n{extra}\n[window]\nsize = 100\n\n\
         [model]\nhidden = [8]\n\n[train]\nepochs = 2\n"
    )
}

#[test]
fn rows_with_a_missing_target_are_skipped_and_counted() {
    let sb = Sandbox::new();
    let (text, missing) = table_with_missing_targets();
    sb.write("t.csv", &text);
    let cfg = sb.write("t.toml", &config(""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("t");
    // 600 labelled rows: six windows of 100 labelled rows each.
    assert_eq!(log.len(), 6);
    let skipped: Vec<u64> = log
        .iter()
        .map(|m| m["samples_skipped"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped.iter().sum::<u64>() as usize, missing);
    assert!(
        skipped.iter().all(|&s| (16..=17).contains(&s)),
        "{skipped:?}"
    );
    for m in &log {
        assert_eq!(m["samples_trained"], 100, "windows hold labelled rows only");
    }
    // Resuming over the same file passes the data check.
    let again = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(again.contains("up to date"), "{again}");
}

#[test]
fn data_missing_names_the_spellings_of_a_missing_target() {
    let sb = Sandbox::new();
    let text = "x0,label\n".to_string()
        + &(0..300)
            .map(|i| match i % 10 {
                5 => "3,?\n".to_string(),
                _ => format!("{},{}\n", i % 7, i % 2),
            })
            .collect::<String>();
    sb.write("t.csv", &text);
    let cfg = sb.write("t.toml", &config("missing = [\"?\"]\n"));
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("t");
    assert_eq!(log.len(), 2, "270 labelled rows: two windows");
    assert_eq!(log[0]["samples_skipped"], 11, "rows 5, 15, ..., 105");
    // Without `?` among the missing spellings it is a third class, first seen in window 0.
    let sb = Sandbox::new();
    sb.write("t.csv", &text);
    let cfg = sb.write("t.toml", &config(""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let shown: Value = serde_json::from_str(&sb.ok(&["show", "t", "--json"])).unwrap();
    assert_eq!(shown["samples_skipped"], 0);
    assert_eq!(
        shown["extra"]["model"]["widths"][2], 3,
        "classes 0, 1 and ?"
    );
    // On a generator the key is refused.
    let bad = sea_config("g", "stateful", "")
        .replace("samples = 2000", "samples = 2000\nmissing = [\"?\"]");
    let bad = sb.write("bad.toml", &bad);
    assert_fails(
        &sb.relearn(&["run", "--config", bad.to_str().unwrap()]),
        2,
        "data.missing",
    );
}

/// A Friedman CSV of 3,000 rows (drift at 1,500) beside a copy whose target is `scale`
/// times larger; returns the two file names.
fn friedman_tables(sb: &Sandbox, scale: f64) -> (&'static str, &'static str) {
    let generator = sb.write(
        "gen.toml",
        "[run]\nname = \"gen\"\n[data]\ngenerator = \"friedman\"\nsamples = 3000\nn_features = 5\n\
         drift_points = [1500]\n[window]\nsize = 250\n",
    );
    let out = crate::common::relearn(
        &[
            "generate",
            "--config",
            generator.to_str().unwrap(),
            "--out",
            "f.csv",
        ],
        sb.dir.path(),
    );
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let text = std::fs::read_to_string(sb.path("f.csv")).unwrap();
    let mut lines = text.lines();
    let mut scaled = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (features, y) = line.rsplit_once(',').unwrap();
        let y: f64 = y.parse().unwrap();
        scaled.push_str(&format!("{features},{}\n", y * scale));
    }
    sb.write("f100.csv", &scaled);
    ("f.csv", "f100.csv")
}

fn regression_config(name: &str, csv: &str, mode: &str) -> String {
    format!(
        "[run]\nname = \"{name}\"\nmode = \"{mode}\"\n[data]\ncsv = \"{csv}\"\ntarget = \"y\"\n\
         task = \"regression\"\n[window]\nsize = 250\n[model]\nhidden = [16]\n"
    )
}

#[test]
fn regression_scores_follow_the_target_s_units_and_training_does_not() {
    let sb = Sandbox::new();
    let (plain, scaled) = friedman_tables(&sb, 100.0);
    for mode in ["stateful", "replay", "drift"] {
        let mut runs = Vec::new();
        for (name, csv) in [("p", plain), ("s", scaled)] {
            let name = format!("{name}-{mode}");
            let cfg = sb.write(
                &format!("{name}.toml"),
                &regression_config(&name, csv, mode),
            );
            sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
            runs.push(sb.log(&name));
        }
        let mse = |log: &[Value]| -> Vec<f64> {
            log[1..]
                .iter()
                .map(|m| m["metrics"]["prequential"]["mse"].as_f64().unwrap())
                .collect()
        };
        let (a, b) = (mse(&runs[0]), mse(&runs[1]));
        for (w, (a, b)) in a.iter().zip(&b).enumerate() {
            let ratio = b / a;
            assert!(
                (ratio / 1e4 - 1.0).abs() < 0.01,
                "{mode} window {}: mse {a} and {b} (x100 target), ratio {ratio}",
                w + 1
            );
        }
        if mode == "drift" {
            let fired = |log: &[Value]| -> Vec<bool> {
                log[1..]
                    .iter()
                    .map(|m| m["extra"]["drift"]["fired"].as_bool().unwrap())
                    .collect()
            };
            assert_eq!(
                fired(&runs[0]),
                fired(&runs[1]),
                "the detector is scale-free"
            );
        }
    }
    // Predictions are in the target's units too.
    let predict = |run: &str, csv: &str| -> Vec<f64> {
        let out = sb.ok(&["predict", run, "--csv", csv]);
        out.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect()
    };
    let (p, s) = (predict("p-stateful", plain), predict("s-stateful", scaled));
    for (p, s) in p.iter().zip(&s).take(50) {
        assert!((s / p / 100.0 - 1.0).abs() < 0.01, "{p} vs {s}");
    }
}
