//! `relearn compare --policies stateless,stateful,replay,drift` gives the checkpoint ids and
//! prequential scores recorded in `tests/golden/compare.json`, exactly: on SEA
//! (`configs/sea.toml`, always) and on Elec2 (`configs/elec.toml`, when its CSV is found).
//! For each policy the file holds its head, its initial checkpoint's id and each window's
//! number, id and prequential scores; and the recommended policy.
//!
//! Elec2 is not in the repository. The elec test reads it from `$RELEARN_ELEC2`, else from
//! `<repo>/../shared/data/elec.csv`; when neither is there it says why it did nothing and
//! passes, unless `RELEARN_REQUIRE_ELEC2` is set: then it fails, naming where it looked (a CI
//! clone need not sit beside `shared/`, so `CI` alone does not require it). The test runs a copy of
//! configs/elec.toml on a copy of the CSV named `elec.csv` (checkpoints name a CSV by its
//! file name, so another name would give other ids).
//!
//! To regenerate the golden file on purpose, after a change meant to alter ids or scores:
//!
//! ```text
//! RELEARN_BLESS=1 cargo test --test integration golden
//! ```
//!
//! writes each dataset the run compares into `tests/golden/compare.json` instead of comparing
//! it (a dataset not run, Elec2 without its CSV, keeps its recorded part).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::common::Sandbox;

/// The policies compared.
const POLICIES: &str = "stateless,stateful,replay,drift";

/// Serialises the blessing tests' read-modify-write of the golden file.
static GOLDEN_FILE: Mutex<()> = Mutex::new(());

/// SEA (configs/sea.toml): always run.
#[test]
fn compare_on_sea_keeps_its_ids_and_scores() {
    let config = read(&repo().join("configs/sea.toml"));
    check_against_golden("sea", &config, &[]);
}

/// Elec2 (configs/elec.toml): run when its CSV is found (see the file's header).
#[test]
fn compare_on_elec2_keeps_its_ids_and_scores() {
    let csv = match elec2_csv() {
        Ok(csv) => csv,
        Err(looked) if std::env::var_os("RELEARN_REQUIRE_ELEC2").is_some() => {
            panic!(
                "Elec2 not found (RELEARN_REQUIRE_ELEC2 is set, so this fails): looked at {looked}"
            )
        }
        Err(looked) => {
            eprintln!("compare_on_elec2: Elec2 not found, nothing checked: looked at {looked}");
            return;
        }
    };
    // Checkpoints name a CSV by its file name: the copy keeps the name the golden ids saw.
    let config = with_csv(&read(&repo().join("configs/elec.toml")), "elec.csv");
    check_against_golden("elec", &config, &[(&csv, "elec.csv")]);
}

/// Runs compare on `config` (the config file's text, run as `<name>.toml`) in a sandbox
/// holding a copy of each of `data` (a file, the name it gets there) and checks its golden
/// fields against the golden file's `name` part (or writes them there, blessing).
fn check_against_golden(name: &str, config: &str, data: &[(&Path, &str)]) {
    let sb = Sandbox::new();
    for (file, copy) in data {
        std::fs::copy(file, sb.path(copy)).expect("copy the data into the sandbox");
    }
    let file = format!("{name}.toml");
    sb.write(&file, config);
    sb.ok(&[
        "compare",
        "--config",
        &file,
        "--policies",
        POLICIES,
        "--out",
        "out",
    ]);
    let report: Value =
        serde_json::from_str(&read(&sb.path("out/compare.json"))).expect("compare.json is JSON");
    let now = golden_fields(&report);
    if blessing() {
        bless(name, now);
        return;
    }
    let golden = read_golden();
    let recorded = golden.get(name).unwrap_or_else(|| {
        panic!(
            "{} has no {name:?} part: bless it (see tests/golden.rs)",
            golden_path().display()
        )
    });
    let mut differences = Vec::new();
    differences_between(recorded, &now, "", &mut differences);
    assert!(
        differences.is_empty(),
        "{name}: compare's ids or scores differ from {}; first difference: {} ({} in all)",
        golden_path().display(),
        differences[0],
        differences.len()
    );
}

/// The fields of a compare.json that must not change: per policy its head, its initial
/// checkpoint's id and each window's number, id and prequential scores; and the recommended
/// policy.
fn golden_fields(report: &Value) -> Value {
    let modes = report["modes"].as_object().expect("compare.json has modes");
    let policies: serde_json::Map<String, Value> = modes
        .iter()
        .map(|(policy, mode)| {
            let windows: Vec<Value> = mode["windows"]
                .as_array()
                .expect("a mode has windows")
                .iter()
                .map(|w| {
                    json!({"window": w["window"], "id": w["id"], "prequential": w["prequential"]})
                })
                .collect();
            let fields = json!({
                "head": mode["head"],
                "initial": mode["initial"]["id"],
                "windows": windows,
            });
            (policy.clone(), fields)
        })
        .collect();
    json!({"policies": policies, "recommended": report["recommended"]})
}

/// Adds to `out` every place where `now` differs from `golden`, below `path`, as
/// `path: golden X, now Y`. Array items with a `window` are named by it.
fn differences_between(golden: &Value, now: &Value, path: &str, out: &mut Vec<String>) {
    match (golden, now) {
        (Value::Object(old), Value::Object(new)) => {
            let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let (old, new) = (
                    old.get(key).unwrap_or(&Value::Null),
                    new.get(key).unwrap_or(&Value::Null),
                );
                differences_between(old, new, &at, out);
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            if old.len() != new.len() {
                let (was, is) = (old.len(), new.len());
                out.push(format!("{path}: golden has {was} items, now {is}"));
            }
            for (i, (old, new)) in old.iter().zip(new).enumerate() {
                let at = match old.get("window") {
                    Some(window) => format!("{path}[window {window}]"),
                    None => format!("{path}[{i}]"),
                };
                differences_between(old, new, &at, out);
            }
        }
        _ if golden != now => out.push(format!("{path}: golden {golden}, now {now}")),
        _ => {}
    }
}

/// Whether this run writes the golden file instead of comparing (`RELEARN_BLESS` set, not
/// empty or `0`).
fn blessing() -> bool {
    std::env::var("RELEARN_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Writes `fields` as the golden file's `name` part, keeping its other parts.
fn bless(name: &str, fields: Value) {
    let _only_writer = GOLDEN_FILE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut golden = if golden_path().exists() {
        read_golden()
    } else {
        BTreeMap::new()
    };
    golden.insert(name.to_owned(), fields);
    // One-space indentation and sorted keys, as the file was first written.
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(
        &sorted(&serde_json::to_value(&golden).unwrap()),
        &mut serializer,
    )
    .expect("golden fields serialise");
    std::fs::write(golden_path(), text).expect("write the golden file");
    eprintln!("{name}: blessed into {}", golden_path().display());
}

/// `value` with every object's keys in sorted order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let by_key: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(by_key.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The golden file's parts, by dataset.
fn read_golden() -> BTreeMap<String, Value> {
    serde_json::from_str(&read(&golden_path())).expect("the golden file is a JSON object")
}

/// `tests/golden/compare.json`.
fn golden_path() -> PathBuf {
    repo().join("tests/golden/compare.json")
}

/// The repository's root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Elec2 CSV, from `$RELEARN_ELEC2` or `<repo>/../shared/data/elec.csv`, whichever is
/// there first; when neither, where it looked.
fn elec2_csv() -> Result<PathBuf, String> {
    let from_env = std::env::var_os("RELEARN_ELEC2").map(PathBuf::from);
    let unset = if from_env.is_none() {
        " (RELEARN_ELEC2 is not set)"
    } else {
        ""
    };
    let candidates = from_env
        .into_iter()
        .chain([repo().join("../shared/data/elec.csv")]);
    first_file(candidates).map_err(|looked| format!("{looked}{unset}"))
}

/// The first of `candidates` that is a file; when none is, all of them, comma-separated.
fn first_file(candidates: impl IntoIterator<Item = PathBuf>) -> Result<PathBuf, String> {
    let mut looked = Vec::new();
    for path in candidates {
        if path.is_file() {
            return Ok(path);
        }
        looked.push(path.display().to_string());
    }
    Err(looked.join(", "))
}

/// `config` (configs/elec.toml's text) with its `csv` line set to `csv`.
fn with_csv(config: &str, csv: &str) -> String {
    let quoted = toml::Value::String(csv.to_owned()).to_string();
    let mut replaced = 0;
    let lines: Vec<String> = config
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("csv ") || line.trim_start().starts_with("csv=") {
                replaced += 1;
                format!("csv = {quoted}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "configs/elec.toml has one `csv` line");
    lines.join("\n") + "\n"
}

/// The text of a file.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Elec2 lookup takes the first file there, or names every place it looked.
#[test]
fn elec2_is_looked_for_in_each_place_in_turn() {
    let missing = |name: &str| repo().join("tests/golden").join(name);
    let looked = first_file([missing("a.csv"), missing("b.csv")]).unwrap_err();
    let (a, b) = (missing("a.csv"), missing("b.csv"));
    assert_eq!(looked, format!("{}, {}", a.display(), b.display()));
    let found = first_file([missing("a.csv"), repo().join("Cargo.toml")]);
    assert_eq!(found, Ok(repo().join("Cargo.toml")));
}
