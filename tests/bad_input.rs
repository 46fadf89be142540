//! Bad input: exit code 2, a message saying what and where, and an unchanged store.
//!
//! One table, [`catalogue`], lists every class of bad input (config, CSV, REF, flags); each
//! entry runs against a store that already holds a run, two tags and two checkpoints whose
//! ids share their first 6 hex digits, and must leave every file of it byte for byte as it
//! was.

use std::collections::HashMap;
use std::path::Path;

use relearn_store::{CheckpointDraft, Metrics, Relation, Retained, Store, TrainedOn};

use crate::common::{Sandbox, sea_config, stderr};

/// One bad input.
struct Case {
    /// What is wrong, for the failure report.
    name: &'static str,
    /// Files written into the sandbox before the command (`bad.toml`, `d.csv`, ...).
    files: Vec<(&'static str, Vec<u8>)>,
    /// The command line (the store is added as `--store`).
    args: Vec<String>,
    /// Every one of these must appear in stderr.
    needles: Vec<String>,
}

fn case(
    name: &'static str,
    files: Vec<(&'static str, String)>,
    args: &[&str],
    needles: &[&str],
) -> Case {
    Case {
        name,
        files: files
            .into_iter()
            .map(|(n, t)| (n, t.into_bytes()))
            .collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// `relearn run --config bad.toml` on `text`; `needles` may use `{line}` for the 1-based line
/// of the first line of `text` that contains `marker`.
fn config_case(name: &'static str, text: String, marker: &str, needles: &[&str]) -> Case {
    let line = text
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{name}: marker {marker:?} not in the config"))
        + 1;
    let needles: Vec<String> = needles
        .iter()
        .map(|n| n.replace("{line}", &line.to_string()))
        .collect();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    case(
        name,
        vec![("bad.toml", text)],
        &["run", "--config", "bad.toml"],
        &needles,
    )
}

/// The good SEA config of the sandbox's run with `from` replaced by `to`.
fn sea_with(from: &str, to: &str) -> String {
    let text = sea_config("bad", "stateful", "");
    assert!(text.contains(from), "{from:?} is not in the SEA config");
    text.replace(from, to)
}

/// A CSV config (window size 4, one initial window) plus `extra` lines under `[data]`.
fn csv_config(extra: &str) -> String {
    format!(
        "[run]\nname = \"csv\"\n[data]\ncsv = \"d.csv\"\ntarget = \"y\"\n{extra}[window]\nsize = 4\ninitial = 1\n"
    )
}

/// `relearn run` on [`csv_config`] with `d.csv` = `csv`.
fn csv_case(name: &'static str, extra: &str, csv: Option<String>, needles: &[&str]) -> Case {
    let mut files = vec![("bad.toml", csv_config(extra))];
    if let Some(csv) = csv {
        files.push(("d.csv", csv));
    }
    case(name, files, &["run", "--config", "bad.toml"], needles)
}

/// A CSV of `rows` samples with columns a, b, y (y alternating 0/1), where `edit` may
/// change row `i`'s line (0-based sample index; the header is file row 1, sample i is row
/// i + 2).
fn csv_rows(rows: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut csv = String::from("a,b,y\n");
    for i in 0..rows {
        csv.push_str(&edit(i, format!("{i},{},{}", i * 2, i % 2)));
        csv.push('\n');
    }
    csv
}

/// `relearn run` on `config` (a whole config, as `bad.toml`) with `d.csv` = `csv`.
fn table_case(name: &'static str, config: &str, csv: String, needles: &[&str]) -> Case {
    case(
        name,
        vec![("bad.toml", config.to_string()), ("d.csv", csv)],
        &["run", "--config", "bad.toml"],
        needles,
    )
}

/// A latin-1 CSV: `É` is the single byte 0xC9, `È` 0xC8 (placeholders replaced below).
fn latin1_case() -> Case {
    let mut latin1 = csv_case(
        "csv: a latin-1 file",
        "",
        Some(csv_rows(12, |i, _| match i {
            4 => "4,8,<E9>T<E9>".into(),
            5 => "5,10,HIV<E8>R".into(),
            _ => format!("{i},{},{}", 2 * i, ["ETE", "HIVER"][i % 2]),
        })),
        &[
            "d.csv",
            "row 6",
            "column \"y\"",
            "\\xc9T\\xc9",
            "not UTF-8",
            "iconv -f latin1 -t utf-8",
        ],
    );
    let text = String::from_utf8(latin1.files[1].1.clone()).unwrap();
    latin1.files[1].1 = text
        .replace("<E9>", "\u{1}")
        .replace("<E8>", "\u{2}")
        .into_bytes()
        .into_iter()
        .map(|b| match b {
            1 => 0xC9,
            2 => 0xC8,
            b => b,
        })
        .collect();
    latin1
}

/// A target of 25 distinct counts and no `data.task`.
fn numeric_target_case() -> Case {
    let numeric_target = "[run]\nname = \"csv\"\n[data]\ncsv = \"d.csv\"\ntarget = \"y\"\n[window]\nsize = 30\ninitial = 1\n";
    let counts: String = std::iter::once("a,y\n".to_string())
        .chain((0..60).map(|i| format!("{i},{}\n", (i * 3) % 25)))
        .collect();
    table_case(
        "csv: a numeric target without data.task",
        numeric_target,
        counts,
        &[
            "d.csv",
            "data.task is not set and target \"y\" looks numeric (25 distinct values in the initial windows)",
            "set data.task = \"regression\" or \"classification\"",
        ],
    )
}

/// A window whose encoding would not fit in memory.
fn wide_window_case() -> Case {
    // Ten text columns of 40 values, each hashed into 65,536 inputs: 655,680 inputs x
    // 40,000 rows x 4 bytes = 98 GiB.
    let wide_config = "[run]\nname = \"csv\"\n[data]\ncsv = \"d.csv\"\ntarget = \"y\"\nhash_buckets = 65536\n[window]\nsize = 20000\ninitial = 1\n";
    let mut wide = String::from("c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,y\n");
    for i in 0..40_000 {
        for c in 0..10 {
            wide.push_str(&format!("v{},", (i + c) % 40));
        }
        wide.push_str(&format!("{}\n", i % 2));
    }
    table_case(
        "csv: an encoded window too large for memory",
        wide_config,
        wide,
        &[
            "data.hash_buckets",
            "655680 model inputs per row",
            "40000 rows",
            "GiB",
        ],
    )
}

/// Input cases of issue 22: encodings, delimiters, targets and sizes.
fn table_cases() -> Vec<Case> {
    vec![
        latin1_case(),
        csv_case(
            "csv: tab-separated without data.delimiter",
            "",
            Some(csv_rows(12, |_, l| l).replace(',', "\t")),
            &[
                "d.csv",
                "single column",
                "tab-separated",
                "data.delimiter = \"\\t\"",
            ],
        ),
        csv_case(
            "csv: semicolon-separated without data.delimiter",
            "",
            Some(csv_rows(12, |_, l| l).replace(',', ";")),
            &["d.csv", "single column", "data.delimiter = \";\""],
        ),
        config_case(
            "config: data.delimiter of two characters",
            csv_config("delimiter = \";;\"\n"),
            "delimiter",
            &["bad.toml:{line}", "data.delimiter", "one character"],
        ),
        numeric_target_case(),
        csv_case(
            "csv: a NaN spelling not in data.missing",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 7 { "7,nan,1".into() } else { l },
            )),
            &[
                "d.csv",
                "row 9",
                "column \"b\"",
                "\"nan\"",
                "listed in data.missing",
            ],
        ),
        config_case(
            "config: data.max_categories beyond its bound",
            csv_config("max_categories = 1000000\n"),
            "max_categories",
            &["bad.toml:{line}", "data.max_categories", "65536"],
        ),
        wide_window_case(),
    ]
}

/// Every bad input: [`table_cases`] and the config, CSV, REF and flag cases, in that order.
fn catalogue(ambiguous_prefix: &str, twins: &[String]) -> Vec<Case> {
    let mut cases = table_cases();
    cases.extend(config_syntax_cases());
    cases.extend(config_training_cases());
    cases.extend(config_range_cases());
    cases.extend(config_policy_cases());
    cases.extend(config_vocabulary_and_source_cases());
    cases.extend(csv_parse_cases());
    cases.extend(csv_column_cases());
    cases.extend(ref_show_cases(ambiguous_prefix, twins));
    cases.extend(ref_command_cases());
    cases.extend(flag_cases());
    cases
}

/// Config cases: TOML syntax errors, unknown keys and tables, values of the wrong type.
fn config_syntax_cases() -> Vec<Case> {
    vec![
        config_case(
            "config: TOML syntax error",
            sea_with("seed = 7", "seed = 7 7"),
            "seed = 7 7",
            &["bad.toml", "line {line}"],
        ),
        config_case(
            "config: unclosed table header",
            sea_with("[model]", "[model"),
            "[model",
            &["bad.toml", "line {line}"],
        ),
        config_case(
            "config: unknown key",
            sea_config("bad", "stateful", "learning_rate = 0.1\n"),
            "learning_rate",
            &["bad.toml", "learning_rate", "line {line}"],
        ),
        config_case(
            "config: unknown table",
            sea_config("bad", "stateful", "[optimizer]\nkind = \"sgd\"\n"),
            "[optimizer]",
            &["bad.toml", "optimizer", "line {line}"],
        ),
        config_case(
            "config: wrong type",
            sea_with("epochs = 3", "epochs = \"three\""),
            "epochs = \"three\"",
            &["bad.toml", "line {line}", "\"three\""],
        ),
        config_case(
            "config: wrong type (list for a number)",
            sea_with("size = 250", "size = [250]"),
            "size = [250]",
            &["bad.toml", "line {line}"],
        ),
    ]
}

/// Config cases: a negative learning rate, anchored fine-tuning and shrink-and-perturb settings.
fn config_training_cases() -> Vec<Case> {
    vec![
        config_case(
            "config: negative learning rate",
            sea_config("bad", "stateful", "lr = -0.001\n"),
            "lr = -0.001",
            &["bad.toml:{line}", "`train.lr`", "-0.001", "> 0"],
        ),
        // Anchored fine-tuning and shrink-and-perturb (issue 14 B).
        config_case(
            "config: unknown anchor",
            sea_config("bad", "stateful", "[stateful]\nanchor = \"l1\"\n"),
            "anchor = ",
            &[
                "bad.toml:{line}",
                "`stateful.anchor`",
                "\"l2-init\" or \"ewc\"",
            ],
        ),
        config_case(
            "config: negative anchor strength",
            sea_config(
                "bad",
                "stateful",
                "[stateful]\nanchor = \"ewc\"\nanchor_strength = -1.0\n",
            ),
            "anchor_strength",
            &["bad.toml:{line}", "`stateful.anchor_strength`", "> 0"],
        ),
        config_case(
            "config: unknown stateless init",
            sea_config("bad", "stateless", "[stateless]\ninit = \"warm\"\n"),
            "init = ",
            &["bad.toml:{line}", "`stateless.init`", "\"shrink-perturb\""],
        ),
        config_case(
            "config: shrink above 1",
            sea_config(
                "bad",
                "stateless",
                "[stateless]\ninit = \"shrink-perturb\"\nshrink = 1.5\n",
            ),
            "shrink = ",
            &["bad.toml:{line}", "`stateless.shrink`", "[0, 1]"],
        ),
        config_case(
            "config: perturb without shrink-perturb",
            sea_config("bad", "stateless", "[stateless]\nperturb = 0.1\n"),
            "perturb = ",
            &["bad.toml:{line}", "`stateless.perturb`", "shrink-perturb"],
        ),
    ]
}

/// Config cases: numbers out of their range (learning rate, fractions, window, epochs, layers).
fn config_range_cases() -> Vec<Case> {
    vec![
        config_case(
            "config: learning rate too large",
            sea_config("bad", "stateful", "[stateful]\nlr = 100.0\n"),
            "lr = 100.0",
            &["bad.toml:{line}", "`stateful.lr`", "100"],
        ),
        config_case(
            "config: initial_fraction above 1",
            sea_config("bad", "stateless", "[stateless]\ninitial_fraction = 1.5\n"),
            "initial_fraction",
            &[
                "bad.toml:{line}",
                "`stateless.initial_fraction`",
                "1.5",
                "[0, 1)",
            ],
        ),
        config_case(
            "config: initial_fraction below 0",
            sea_config("bad", "stateless", "[stateless]\ninitial_fraction = -0.2\n"),
            "initial_fraction",
            &["bad.toml:{line}", "`stateless.initial_fraction`", "-0.2"],
        ),
        config_case(
            "config: window larger than the stream",
            sea_with("size = 250", "size = 5000"),
            "size = 5000",
            &["2000 samples", "window.size = 5000", "lower window.size"],
        ),
        config_case(
            "config: initial windows fill the whole stream",
            sea_with("initial = 1", "initial = 8"),
            "initial = 8",
            &["2000 samples", "window.initial = 8"],
        ),
        config_case(
            "config: zero window size",
            sea_with("size = 250", "size = 0"),
            "size = 0",
            &["bad.toml:{line}", "`window.size`", "at least 1"],
        ),
        config_case(
            "config: zero epochs",
            sea_with("epochs = 3", "epochs = 0"),
            "epochs = 0",
            &["bad.toml:{line}", "`train.epochs`", "at least 1"],
        ),
        config_case(
            "config: dropout of 1",
            sea_with("hidden = [16]", "hidden = [16]\ndropout = 1.0"),
            "dropout",
            &["bad.toml:{line}", "`model.dropout`", "[0, 1)"],
        ),
        config_case(
            "config: a zero-width layer",
            sea_with("hidden = [16]", "hidden = [16, 0]"),
            "hidden",
            &["bad.toml:{line}", "`model.hidden`"],
        ),
    ]
}

/// Config cases: policy tables (replay, drift), the trainer's backend and the gate's metrics.
fn config_policy_cases() -> Vec<Case> {
    vec![
        config_case(
            "config: unknown policy key",
            sea_config("bad", "replay", "[policy.replay]\nsize = 300\n"),
            "size = 300",
            &["bad.toml", "line {line}", "size"],
        ),
        config_case(
            "config: empty reservoir",
            sea_config("bad", "replay", "[policy]\nreplay.samples = 0\n"),
            "replay.samples",
            &["bad.toml:{line}", "`policy.replay.samples`", "at least 1"],
        ),
        config_case(
            "config: the fused trainer on ndarray",
            sea_with(
                "seed = 7",
                "seed = 7\nbackend = \"ndarray\"\ntrainer = \"fused\"",
            ),
            "trainer",
            &["bad.toml:{line}", "`run.trainer`", "flex backend only"],
        ),
        config_case(
            "config: unknown reservoir sampling",
            sea_config("bad", "replay", "[policy.replay]\nsampling = \"newest\"\n"),
            "newest",
            &[
                "bad.toml:{line}",
                "`policy.replay.sampling`",
                "\"recent\" or \"uniform\"",
            ],
        ),
        config_case(
            "config: unknown drift detector",
            sea_config("bad", "drift", "[policy.drift]\ndetector = \"cusum\"\n"),
            "cusum",
            &[
                "bad.toml:{line}",
                "`policy.drift.detector`",
                "\"page-hinkley\" or \"adwin\"",
            ],
        ),
        config_case(
            "config: a parameter of the other detector",
            sea_config("bad", "drift", "[policy.drift]\nconfidence = 0.01\n"),
            "confidence",
            &[
                "bad.toml:{line}",
                "`policy.drift.confidence`",
                "adwin detector only",
            ],
        ),
        config_case(
            "config: negative drift threshold",
            sea_config("bad", "drift", "[policy.drift]\nthreshold = -1\n"),
            "threshold",
            &["bad.toml:{line}", "`policy.drift.threshold`", "> 0"],
        ),
        config_case(
            "config: a gate metric the task lacks",
            sea_config("bad", "stateful", "[gate]\nrequire = [\"mse<=0.1\"]\n"),
            "require",
            &[
                "bad.toml:{line}",
                "`gate.require`",
                "use accuracy, loss or skill",
            ],
        ),
    ]
}

/// Config cases: unknown words (mode, scaling, generator), the run's name, the data source and
/// a missing config file.
fn config_vocabulary_and_source_cases() -> Vec<Case> {
    vec![
        config_case(
            "config: unknown mode",
            sea_with("mode = \"stateful\"", "mode = \"sideways\""),
            "sideways",
            &[
                "bad.toml:{line}",
                "`run.mode`",
                "\"sideways\"",
                "\"stateless\"",
                "\"replay\" or \"drift\"",
            ],
        ),
        config_case(
            "config: unknown scaling",
            sea_with(
                "generator = \"sea\"",
                "generator = \"sea\"\nscaling = \"max\"",
            ),
            "scaling",
            &[
                "bad.toml:{line}",
                "`data.scaling`",
                "\"max\"",
                "\"running\"",
            ],
        ),
        config_case(
            "config: unknown generator",
            sea_with("generator = \"sea\"", "generator = \"seaa\""),
            "seaa",
            &[
                "bad.toml:{line}",
                "`data.generator`",
                "\"seaa\"",
                "hyperplane",
            ],
        ),
        config_case(
            "config: invalid run name",
            sea_with("name = \"bad\"", "name = \"a/b\""),
            "a/b",
            &["bad.toml:{line}", "`run.name`", "\"a/b\""],
        ),
        config_case(
            "config: missing run name",
            sea_with("name = \"bad\"", ""),
            "[run]",
            &["bad.toml:{line}", "`run.name`", "required"],
        ),
        config_case(
            "config: no data source",
            sea_with("generator = \"sea\"", ""),
            "[data]",
            &["bad.toml:{line}", "`data`", "needs a source"],
        ),
        config_case(
            "config: csv and generator together",
            sea_with(
                "generator = \"sea\"",
                "generator = \"sea\"\ncsv = \"d.csv\"",
            ),
            "generator",
            &["bad.toml:{line}", "`data.generator`", "cannot be combined"],
        ),
        case(
            "config: missing file",
            vec![],
            &["run", "--config", "nowhere.toml"],
            &["nowhere.toml"],
        ),
    ]
}

/// CSV cases: missing, empty or ragged files and cells that are not finite f32 numbers.
fn csv_parse_cases() -> Vec<Case> {
    vec![
        csv_case("csv: missing file", "", None, &["d.csv", "no such file"]),
        csv_case(
            "csv: empty file",
            "",
            Some(String::new()),
            &["d.csv", "empty"],
        ),
        csv_case(
            "csv: header only",
            "",
            Some("a,b,y\n".into()),
            &["d.csv", "no data rows"],
        ),
        csv_case(
            "csv: ragged row",
            "",
            Some(csv_rows(12, |i, l| if i == 5 { "5,10".into() } else { l })),
            &["d.csv", "row 7", "2 fields", "header has 3"],
        ),
        csv_case(
            "csv: non-numeric cell",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 6 { "6,x7,0".into() } else { l },
            )),
            &["d.csv", "row 8", "column \"b\"", "\"x7\"", "not a number"],
        ),
        csv_case(
            "csv: infinite cell",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 9 { "inf,18,1".into() } else { l },
            )),
            &[
                "d.csv",
                "row 11",
                "column \"a\"",
                "\"inf\"",
                "not a finite number",
            ],
        ),
        csv_case(
            "csv: infinite cell",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 2 { "2,inf,0".into() } else { l },
            )),
            &[
                "d.csv",
                "row 4",
                "column \"b\"",
                "\"inf\"",
                "not a finite number",
            ],
        ),
        csv_case(
            "csv: number too large for f32",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 3 { "1e39,6,1".into() } else { l },
            )),
            &["d.csv", "row 5", "column \"a\"", "\"1e39\""],
        ),
    ]
}

/// CSV cases: columns (text where numbers were, unknown names, empty targets, one class), a
/// stream too short and an unterminated quote.
fn csv_column_cases() -> Vec<Case> {
    vec![
        csv_case(
            "csv: text in a column the initial windows show numeric",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 9 { "9,warm,1".into() } else { l },
            )),
            &[
                "d.csv",
                "row 11",
                "column \"b\"",
                "\"warm\" is not a number",
                "[data.columns]",
            ],
        ),
        csv_case(
            "csv: unknown target column",
            "",
            Some(csv_rows(12, |_, l| l).replace("a,b,y", "a,b,label")),
            &["d.csv", "target column \"y\" not found", "a, b, label"],
        ),
        csv_case(
            "csv: unknown feature column",
            "features = [\"a\", \"zz\"]\n",
            Some(csv_rows(12, |_, l| l)),
            &["d.csv", "feature column \"zz\" not found"],
        ),
        csv_case(
            "csv: a target column with no value",
            "",
            Some(csv_rows(12, |i, _| format!("{i},{},", i * 2))),
            &["d.csv", "column \"y\" is missing", "all 12 data rows"],
        ),
        csv_case(
            "csv: one class in the initial windows",
            "",
            Some(csv_rows(12, |i, l| {
                if i < 4 { format!("{i},{},1", 2 * i) } else { l }
            })),
            &["d.csv", "only one class", "\"1\""],
        ),
        csv_case(
            "csv: regression target not a number",
            "task = \"regression\"\n",
            Some(csv_rows(
                12,
                |i, l| if i == 7 { "7,14,high".into() } else { l },
            )),
            &["d.csv", "row 9", "column \"y\"", "\"high\""],
        ),
        csv_case(
            "csv: too short for one update window",
            "",
            Some(csv_rows(6, |_, l| l)),
            &["d.csv", "6 samples", "window.size = 4"],
        ),
        csv_case(
            "csv: unterminated quote",
            "",
            Some(csv_rows(
                12,
                |i, l| if i == 8 { "8,\"16,0".into() } else { l },
            )),
            &["d.csv"],
        ),
    ]
}

/// REF cases of `show`: unknown, ambiguous or too short ids, and `NAME~K` and `NAME@W` out
/// of reach.
fn ref_show_cases(ambiguous_prefix: &str, twins: &[String]) -> Vec<Case> {
    let short = |id: &String| id[..12].to_string();
    vec![
        case(
            "ref: unknown",
            vec![],
            &["show", "nope"],
            &["unknown REF 'nope'", "Known runs: good", "t-first"],
        ),
        case(
            "ref: ambiguous id prefix",
            vec![],
            &["show", ambiguous_prefix],
            &[
                "ambiguous",
                &short(&twins[0]),
                &short(&twins[1]),
                "more hex digits",
            ],
        ),
        case(
            "ref: id prefix under 6 digits",
            vec![],
            &["show", &ambiguous_prefix[..5]],
            &["at least 6 hex digits"],
        ),
        case(
            "ref: full id not in the store",
            vec![],
            &["show", &"0".repeat(64)],
            &["unknown REF", &"0".repeat(64)],
        ),
        case(
            "ref: NAME~K past the first checkpoint",
            vec![],
            &["show", "good~9"],
            &["good~9", "at most 1"],
        ),
        case(
            "ref: NAME@W of a window not stored",
            vec![],
            &["show", "good@7"],
            &["good@7", "window 7"],
        ),
    ]
}

/// REF cases of the other commands: unknown REFs in `diff`, `export`, `tag` and `log`, and an
/// invalid tag name.
fn ref_command_cases() -> Vec<Case> {
    vec![
        case(
            "ref: unknown in diff",
            vec![],
            &["diff", "good", "nope"],
            &["unknown REF 'nope'"],
        ),
        case(
            "ref: unknown in export",
            vec![],
            &[
                "export",
                "nope",
                "--format",
                "safetensors",
                "--out",
                "w.safetensors",
            ],
            &["unknown REF 'nope'"],
        ),
        case(
            "ref: unknown in tag",
            vec![],
            &["tag", "nope", "t-new"],
            &["unknown REF 'nope'"],
        ),
        case(
            "ref: invalid tag name",
            vec![],
            &["tag", "good", "bad name"],
            &["invalid tag name", "\"bad name\""],
        ),
        case(
            "ref: unknown run in log",
            vec![],
            &["log", "--run", "nope"],
            &["nope", "good"],
        ),
    ]
}

/// Flag cases: unknown flags, subcommands and values, and `--windows` below `window.initial`.
fn flag_cases() -> Vec<Case> {
    let good = "good.toml";
    vec![
        case(
            "flags: unknown flag",
            vec![],
            &["run", "--bogus"],
            &["--bogus"],
        ),
        case("flags: missing --config", vec![], &["run"], &["--config"]),
        case(
            "flags: unknown subcommand",
            vec![],
            &["frobnicate"],
            &["frobnicate"],
        ),
        case(
            "flags: non-numeric --windows",
            vec![],
            &["run", "--config", good, "--windows", "x"],
            &["--windows", "'x'"],
        ),
        case(
            "flags: unknown --mode",
            vec![],
            &["run", "--config", good, "--mode", "sideways"],
            &["--mode", "'sideways'"],
        ),
        case(
            "flags: --windows fewer than the initial windows",
            vec![],
            &["run", "--config", good, "--windows", "0"],
            &["--windows 0", "window.initial"],
        ),
        case(
            "flags: unknown tree format",
            vec![],
            &["tree", "--format", "png"],
            &["--format", "'png'"],
        ),
    ]
}

/// Commits checkpoints with made-up content until two have ids sharing their first 6 hex
/// digits, and returns the two ids (sorted).
///
/// Ids are content hashes, so an ambiguous prefix cannot be chosen: it has to be found.
/// The search runs in memory (a birthday search over the ids of drafts that differ in one
/// `extra` field: about 5,000 tries for 6 hex digits), then only the colliding pair is
/// committed, so both are genuine checkpoints that `verify` accepts.
fn commit_ambiguous_pair(store_dir: &Path) -> Vec<String> {
    let store = Store::open_for_write(store_dir).unwrap();
    let draft = |salt: u64| CheckpointDraft {
        run: "twins".into(),
        mode: "stateful".into(),
        window: 0,
        parent: None,
        relation: Relation::Initial,
        replaces: None,
        samples_trained: 1,
        samples_skipped: 0,
        retained: Retained {
            samples: 0,
            bytes: 0,
        },
        metrics: Metrics {
            prequential: None,
            train_loss: Some(0.5),
        },
        train_seconds: 0.0,
        config_fingerprint: "ambiguous-prefix-test".into(),
        trained_on: TrainedOn {
            windows: vec![0],
            samples: 1,
        },
        extra: serde_json::json!({ "salt": salt }),
        parts: vec![("model".into(), b"twin".to_vec())],
    };
    let template = store.commit(draft(0)).unwrap();
    let mut by_prefix: HashMap<String, u64> = HashMap::from([(template.id[..6].to_string(), 0)]);
    for salt in 1..1_000_000u64 {
        let mut m = template.clone();
        m.extra = serde_json::json!({ "salt": salt });
        let id = m.compute_id();
        if let Some(&other) = by_prefix.get(&id[..6]) {
            let a = store.commit(draft(other)).unwrap().id;
            let b = store.commit(draft(salt)).unwrap().id;
            assert_eq!(a[..6], b[..6], "in-memory ids differ from committed ones");
            assert_ne!(a, b);
            let mut pair = vec![a.to_string(), b.to_string()];
            pair.sort();
            return pair;
        }
        by_prefix.insert(id[..6].to_string(), salt);
    }
    panic!("no two of a million ids share 6 hex digits");
}

#[test]
fn every_bad_input_exits_2_says_what_and_where_and_changes_nothing() {
    let sb = Sandbox::new();
    let good = sb.write("good.toml", &sea_config("good", "stateful", ""));
    sb.ok(&["run", "--config", good.to_str().unwrap(), "--windows", "2"]);
    sb.ok(&["tag", "good~1", "t-first"]);
    let twins = commit_ambiguous_pair(&sb.store());
    let prefix = &twins[0][..6];
    sb.ok(&["verify"]);

    let cases = catalogue(prefix, &twins);
    let mut failures = Vec::new();
    for case in &cases {
        let before = sb.snapshot();
        for (name, bytes) in &case.files {
            std::fs::write(sb.path(name), bytes).unwrap();
        }
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let out = sb.relearn(&args);
        let err = stderr(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        for needle in &case.needles {
            if !err.contains(needle.as_str()) {
                problems.push(format!("stderr lacks {needle:?}"));
            }
        }
        if !err.contains("error") {
            problems.push("stderr does not say `error`".into());
        }
        if before != sb.snapshot() {
            problems.push("the store changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({:?}): {}\n  stderr: {}",
                case.name,
                case.args,
                problems.join("; "),
                err.trim()
            ));
        }
        for (name, _) in &case.files {
            std::fs::remove_file(sb.path(name)).unwrap();
        }
    }
    assert!(
        !sb.path("w.safetensors").exists(),
        "export of an unknown REF wrote a file"
    );
    sb.ok(&["verify"]);
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} bad inputs rejected with exit 2 and an unchanged store",
        cases.len()
    );
}

/// A `run` refused before its first commit leaves no store behind where there was none:
/// no folder, no lock file. Every `run` case of the catalogue that is refused (exit 2) into
/// a store that does not exist yet; and into an existing store, no lock file for a new run.
#[test]
fn a_refused_first_run_leaves_no_store_behind() {
    let sb = Sandbox::new();
    let good = sb.write("good.toml", &sea_config("good", "stateful", ""));
    let fresh = sb.path("fresh-store");
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in catalogue("abcdef", &["abcdef0".repeat(9), "abcdef1".repeat(9)]) {
        if case.args[0] != "run" {
            continue;
        }
        for (name, bytes) in &case.files {
            std::fs::write(sb.path(name), bytes).unwrap();
        }
        let mut args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        args.extend(["--store", fresh.to_str().unwrap()]);
        let out = crate::common::relearn(&args, sb.dir.path());
        if out.status.code() == Some(2) {
            checked += 1;
            if fresh.exists() {
                failures.push(format!(
                    "{}: left {:?}",
                    case.name,
                    crate::common::entries_under(&fresh)
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&fresh);
        for (name, _) in &case.files {
            std::fs::remove_file(sb.path(name)).unwrap();
        }
    }
    assert!(checked > 20, "only {checked} refused runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An existing store: a new run refused before its first commit makes no lock file.
    sb.ok(&["run", "--config", good.to_str().unwrap(), "--windows", "2"]);
    let new = sb.write("new.toml", &sea_config("new", "stateful", ""));
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", new.to_str().unwrap(), "--windows", "0"]);
    crate::common::assert_fails(&out, 2, "--windows 0");
    assert_eq!(before, sb.snapshot(), "the store changed");
    assert!(!sb.store().join("locks/new.lock").exists());
}
