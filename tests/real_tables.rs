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
fn run_says_which_rows_it_skipped_and_which_wait_for_a_full_window() {
    let sb = Sandbox::new();
    let (mut text, missing) = table_with_missing_targets();
    // 37 labelled rows after the six full windows.
    for i in 0..37 {
        text.push_str(&format!("{i},{},0\n", 500 + i));
    }
    sb.write("t.csv", &text);
    let cfg = sb.write("t.toml", &config(""));
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(
        out.lines().last().unwrap(),
        format!(
            "{missing} rows skipped (blank target) so far; 37 rows after the last full window wait for more rows"
        ),
        "{out}"
    );
    // 63 more rows complete window 6: the run trains it and nothing waits.
    for i in 0..63 {
        text.push_str(&format!("{},{i},1\n", 900 + i));
    }
    sb.write("t.csv", &text);
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(
        out.lines().count(),
        3,
        "resuming, window 6, the note: {out}"
    );
    assert_eq!(
        out.lines().last().unwrap(),
        format!("{missing} rows skipped (blank target) so far"),
        "{out}"
    );
    // A table that uses every row says nothing more.
    let sb = Sandbox::new();
    let clean: String = text
        .lines()
        .filter(|l| !l.starts_with(",,"))
        .take(601)
        .map(|l| format!("{l}\n"))
        .collect();
    sb.write("t.csv", &clean);
    let cfg = sb.write("t.toml", &config(""));
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!out.contains("rows"), "{out}");
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
        let skill = |log: &[Value]| -> f64 {
            let s: Vec<f64> = log[2..]
                .iter()
                .map(|m| m["metrics"]["prequential"]["skill"].as_f64().unwrap())
                .collect();
            s.iter().sum::<f64>() / s.len() as f64
        };
        let (sa, sb) = (skill(&runs[0]), skill(&runs[1]));
        assert!(
            (sa - sb).abs() < 0.01,
            "{mode}: mean skill {sa} and {sb} (x100 target)"
        );
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

/// 900 rows of a mixed table: `user` (an id with 1,200 possible values), `city` (five
/// cities, a sixth from row 400), `temp` (numeric, every 13th cell blank), `amount`,
/// `code` (digits but for an `X` in the first window: categorical), and `label`: `a` or `b`
/// from the cities and amounts, a third class `c` from row 500, and every 17th label
/// missing.
fn mixed_table() -> String {
    let cities = ["Lyon", "Porto", "Graz", "Turku", "Gent"];
    let mut text = String::from("user,city,temp,amount,code,label\n");
    let mut state: u64 = 11;
    for row in 0..900u64 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = state >> 33;
        let city = if row >= 400 && r.is_multiple_of(6) {
            "Oslo"
        } else {
            cities[(r % 5) as usize]
        };
        let amount = (r >> 3) % 100;
        let temp = if row % 13 == 5 {
            String::new()
        } else {
            format!("{}.5", (r >> 10) % 30)
        };
        let code = if row == 40 {
            "X".to_string()
        } else {
            format!("{}", (r >> 14) % 4)
        };
        let label = if row % 17 == 3 {
            ""
        } else if row >= 500 && city == "Oslo" {
            "c"
        } else if (amount > 50) != (city == "Graz" || city == "Gent") {
            "a"
        } else {
            "b"
        };
        text.push_str(&format!(
            "u{},{city},{temp},{amount},{code},{label}\n",
            (r >> 20) % 1200
        ));
    }
    text
}

fn mixed_config(name: &str, extra: &str) -> String {
    format!(
        "[run]\nname = \"{name}\"\n\n[data]\ncsv = \"m.csv\"\ntarget = \"label\"\n{extra}\n\
         [window]\nsize = 100\n\n[model]\nhidden = [16]\n\n[train]\nepochs = 3\n"
    )
}

#[test]
fn a_table_with_strings_blanks_new_categories_and_classes_runs_as_it_is() {
    let sb = Sandbox::new();
    sb.write("m.csv", &mixed_table());
    let cfg = sb.write("m.toml", &mixed_config("m", ""));
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(out.contains("skill"), "run's lines show the skill: {out}");
    let log = sb.log("m");
    assert_eq!(log.len(), 8, "846 labelled rows: 8 windows");
    // Inputs: temp, amount, temp's missing indicator, then user (32 one-hot + 16 hashed:
    // 100 distinct ids in window 0), city (2 x 5 one-hot), code (2 x 5 one-hot: X, 0..3).
    let widths = &log[0]["extra"]["model"]["widths"];
    assert_eq!(widths[0], 2 + 1 + 48 + 10 + 10, "{widths}");
    assert_eq!(widths[2], 2, "classes a and b at first");
    // Class c is learned by the first update that trains on it; the output layer grows.
    let grew: Vec<(u64, Value)> = log
        .iter()
        .filter(|m| m["extra"].get("new_classes").is_some())
        .map(|m| {
            (
                m["window"].as_u64().unwrap(),
                m["extra"]["new_classes"].clone(),
            )
        })
        .collect();
    assert_eq!(grew.len(), 1, "{grew:?}");
    assert_eq!(grew[0].1, serde_json::json!(["c"]));
    let last = log.last().unwrap();
    assert_eq!(last["extra"]["model"]["widths"][2], 3);
    // Every update records the baseline and the skill.
    for m in &log[1..] {
        let p = &m["metrics"]["prequential"];
        assert!(p["baseline"].is_f64() && p["skill"].is_f64(), "{p}");
    }
    assert!(
        log.iter()
            .map(|m| m["samples_skipped"].as_u64().unwrap())
            .sum::<u64>()
            > 40
    );

    // predict takes raw rows: blanks, a city never seen, an unknown id.
    sb.write(
        "new.csv",
        "label,code,amount,temp,city,user\n,2,70,,Reykjavik,u99999\n,X,10,3.5,Oslo,\n",
    );
    let predicted = sb.ok(&["predict", "m", "--csv", "new.csv"]);
    assert_eq!(predicted.lines().count(), 3, "{predicted}");
    // eval skips rows without a label.
    let eval = sb.ok(&["eval", "m", "--csv", "m.csv", "--json"]);
    let eval: Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(eval["samples"], 847, "{eval}");
    // A missing feature column is exit 2, naming it.
    sb.write("short.csv", "code,amount,temp,city\n1,2,3,Lyon\n");
    assert_fails(
        &sb.relearn(&["predict", "m", "--csv", "short.csv"]),
        2,
        "\"user\"",
    );
}

#[test]
fn a_mixed_run_resumes_to_the_ids_of_an_uninterrupted_one() {
    // Replay keeps raw rows, categorical cells included, in a checkpoint part.
    let text = mixed_config("m", "").replace(
        "[run]\nname = \"m\"\n",
        "[run]\nname = \"m\"\nmode = \"replay\"\n",
    );
    let whole = Sandbox::new();
    whole.write("m.csv", &mixed_table());
    let cfg = whole.write("m.toml", &text);
    whole.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let parts = Sandbox::new();
    parts.write("m.csv", &mixed_table());
    let cfg = parts.write("m.toml", &text);
    let cfg = cfg.to_str().unwrap();
    parts.ok(&["run", "--config", cfg, "--windows", "4"]);
    parts.ok(&["run", "--config", cfg]);
    assert_eq!(
        crate::common::ids(&whole.log("m")),
        crate::common::ids(&parts.log("m"))
    );
}

#[test]
fn column_types_are_inferred_from_the_initial_windows_and_declared_in_data_columns() {
    let sb = Sandbox::new();
    // `temp` is numeric in the first window and holds text in row 251.
    let mut text = mixed_table();
    let lines: Vec<&str> = text.lines().collect();
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let cells: Vec<&str> = lines[250].split(',').collect();
    changed[250] = format!(
        "{},{},warm,{},{},{}",
        cells[0], cells[1], cells[3], cells[4], cells[5]
    );
    text = changed.join("\n") + "\n";
    sb.write("m.csv", &mixed_table());
    let ok = sb.write("ok.toml", &mixed_config("ok", ""));
    sb.ok(&["run", "--config", ok.to_str().unwrap()]);
    sb.write("m.csv", &text);
    let cfg = sb.write("m.toml", &mixed_config("m", ""));
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(
        &out,
        2,
        "row 251, column \"temp\": \"warm\" is not a number",
    );
    assert_fails(&out, 2, "[data.columns]");
    assert_eq!(before, sb.snapshot(), "nothing written");
    // Declared categorical, it runs.
    let cfg = sb.write(
        "m.toml",
        &mixed_config(
            "m",
            "\n[data.columns]\ntemp = \"categorical\"\nuser = \"ignore\"\n",
        ),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let widths = &sb.log("m")[0]["extra"]["model"]["widths"];
    // amount; temp (30 values in window 0: 32 one-hot + 16 hashed), city, code.
    assert_eq!(widths[0], 1 + 48 + 10 + 10, "{widths}");
    // Declared numeric, a text cell in the initial windows is exit 2 naming the rule.
    let cfg = sb.write(
        "bad.toml",
        &mixed_config("bad", "\n[data.columns]\ncode = \"numeric\"\n"),
    );
    assert_fails(
        &sb.relearn(&["run", "--config", cfg.to_str().unwrap()]),
        2,
        "row 42, column \"code\": \"X\" is not a number ([data.columns] declares it \"numeric\"",
    );
    let cfg = sb.write(
        "bad.toml",
        &mixed_config("bad", "\n[data.columns]\ncode = \"text\"\n"),
    );
    assert_fails(
        &sb.relearn(&["run", "--config", cfg.to_str().unwrap()]),
        2,
        "data.columns.code",
    );
}

#[test]
fn anchored_fine_tunes_grow_their_anchor_with_a_new_class_and_resume() {
    for anchor in ["l2-init", "ewc"] {
        let text = mixed_config("m", "").replace(
            "[train]\nepochs = 3\n",
            &format!("[train]\nepochs = 3\n\n[stateful]\nanchor = \"{anchor}\"\n"),
        );
        let whole = Sandbox::new();
        whole.write("m.csv", &mixed_table());
        let cfg = whole.write("m.toml", &text);
        whole.ok(&["run", "--config", cfg.to_str().unwrap()]);
        let log = whole.log("m");
        assert_eq!(
            log.last().unwrap()["extra"]["model"]["widths"][2],
            3,
            "{anchor}"
        );
        let parts = Sandbox::new();
        parts.write("m.csv", &mixed_table());
        let cfg = parts.write("m.toml", &text);
        let cfg = cfg.to_str().unwrap();
        // Stop right after the class appears (window 5 holds row 500 on), then resume.
        parts.ok(&["run", "--config", cfg, "--windows", "6"]);
        parts.ok(&["run", "--config", cfg]);
        assert_eq!(
            crate::common::ids(&log),
            crate::common::ids(&parts.log("m")),
            "{anchor}"
        );
    }
}
