//! Bad input: exit code 2, a message saying what and where, and an unchanged store.

use crate::common::{Sandbox, sea_config, stderr};

/// Runs `relearn run` on `config` text after a good run made the store; asserts exit 2,
/// that stderr contains every `needle`, and that the store did not change.
fn rejects(config: &str, files: &[(&str, &str)], needles: &[&str]) {
    let sb = Sandbox::new();
    let good = sb.write("good.toml", &sea_config("good", "stateful", ""));
    sb.ok(&["run", "--config", good.to_str().unwrap(), "--windows", "2"]);
    for (name, text) in files {
        sb.write(name, text);
    }
    let cfg = sb.write("bad.toml", config);
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    assert_eq!(before, sb.snapshot(), "the store changed");
}

const CSV_HEAD: &str = "[run]\nname = \"csv\"\n[data]\ncsv = \"d.csv\"\ntarget = \"y\"\n[window]\nsize = 4\n";

#[test]
fn unknown_config_key_names_key_and_line() {
    let text = sea_config("bad", "stateful", "learning_rate = 0.1\n");
    let line = text.lines().position(|l| l.starts_with("learning_rate")).unwrap() + 1;
    rejects(&text, &[], &["learning_rate", &format!("line {line}")]);
}

#[test]
fn missing_csv_names_the_file() {
    rejects(CSV_HEAD, &[], &["d.csv"]);
}

#[test]
fn non_numeric_cell_names_file_row_and_column() {
    let mut csv = String::from("a,b,y\n");
    for i in 0..12 {
        csv.push_str(&format!("{i},{},{}\n", if i == 6 { "x7".to_string() } else { i.to_string() }, i % 2));
    }
    // Header is line 1, so the sample with i = 6 is row 8.
    rejects(CSV_HEAD, &[("d.csv", &csv)], &["d.csv", "row 8", "\"b\""]);
}

#[test]
fn bad_flag_is_usage_error() {
    let sb = Sandbox::new();
    let out = sb.relearn(&["run", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sb.relearn(&["show", "nothing-here"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
