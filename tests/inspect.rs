//! The inspection commands on stores made by `relearn run`: diff, verify, tag, gc, export,
//! eval, predict and generate.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Sandbox, relearn, sea_config, stderr};

/// Writes a SEA config (`sea_config`, `samples` samples of 250-sample windows) and runs it,
/// optionally for `windows` windows only. Returns the config's path.
fn run_sea(
    sb: &Sandbox,
    name: &str,
    mode: &str,
    samples: usize,
    windows: Option<usize>,
) -> PathBuf {
    let text =
        sea_config(name, mode, "").replace("samples = 2000", &format!("samples = {samples}"));
    let cfg = sb.write(&format!("{name}.toml"), &text);
    let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
    let n = windows.map(|w| w.to_string());
    if let Some(n) = &n {
        args.extend(["--windows", n.as_str()]);
    }
    sb.ok(&args);
    cfg
}

/// Runs `relearn generate ARGS` (which takes no store) in the sandbox; returns the output.
fn generate(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut all = vec!["generate"];
    all.extend(args);
    relearn(&all, sb.dir.path())
}

/// `generate` that must succeed; returns stdout.
fn generate_ok(sb: &Sandbox, args: &[&str]) -> String {
    let out = generate(sb, args);
    assert!(
        out.status.success(),
        "relearn generate {args:?}: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn id_of(sb: &Sandbox, reference: &str) -> String {
    json(&sb.ok(&["show", reference, "--json"]))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts exit code 2, that stderr contains every needle, and that the store is unchanged.
fn rejects(sb: &Sandbox, args: &[&str], needles: &[&str]) {
    let before = sb.snapshot();
    let out = sb.relearn(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "relearn {args:?}: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "relearn {args:?}: stderr lacks {needle:?}:\n{err}"
        );
    }
    assert!(out.stdout.is_empty(), "relearn {args:?} printed on stdout");
    assert_eq!(before, sb.snapshot(), "relearn {args:?} changed the store");
}

/// A parsed CSV with a plain header (no quoting needed: SEA names and numbers).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    parse_csv(&text)
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// Every object file in the store.
fn objects(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(store.join("objects")).unwrap() {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

fn flip_first_byte(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn diff_reports_per_layer_norms_and_metric_deltas() {
    let sb = Sandbox::new();
    run_sea(&sb, "d", "stateful", 2000, Some(4));
    let d = json(&sb.ok(&["diff", "d@1", "d@3", "--json"]));
    assert_diff_has_per_tensor_norms(&d);
    assert_eq!(d["a"]["id"], id_of(&sb, "d@1").as_str());
    assert_eq!(d["b"]["window"], 3);
    assert_diff_has_metric_deltas(&d, &sb.log("d"));
    // The initial model has no prequential score: its side is null.
    let d0 = json(&sb.ok(&["diff", "d@0", "d", "--json"]));
    assert!(d0["metrics"]["prequential"]["accuracy"]["a"].is_null());
    assert!(d0["metrics"]["prequential"]["accuracy"]["delta"].is_null());
    // A checkpoint against itself: no change.
    let same = json(&sb.ok(&["diff", "d", "d~0", "--json"]));
    assert_eq!(same["total"]["delta_norm"], 0.0);
    let text = sb.ok(&["diff", "d@1", "d@3"]);
    assert!(
        text.contains("layers.1.weight")
            && text.contains("prequential accuracy")
            && text.contains("train_loss"),
        "{text}"
    );
    assert_diff_refuses_other_shapes_and_unknown_refs(&sb);
}

/// `diff`'s JSON names each tensor of the SEA model with its shape, norm, change and relative
/// change, and totals them over its 98 parameters.
fn assert_diff_has_per_tensor_norms(d: &Value) {
    let names: Vec<&str> = d["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias"
        ]
    );
    let shapes: Vec<Value> = d["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["shape"].clone())
        .collect();
    assert_eq!(
        shapes,
        [json("[16, 3]"), json("[16]"), json("[2, 16]"), json("[2]")]
    );
    let mut sq = (0.0, 0.0);
    for t in d["tensors"].as_array().unwrap() {
        let (a, delta) = (
            t["norm_a"].as_f64().unwrap(),
            t["delta_norm"].as_f64().unwrap(),
        );
        assert!(a > 0.0 && delta > 0.0, "{t}");
        assert!((t["relative_change"].as_f64().unwrap() - delta / a).abs() < 1e-12);
        sq = (sq.0 + a * a, sq.1 + delta * delta);
    }
    let total = &d["total"];
    assert!((total["norm_a"].as_f64().unwrap() - sq.0.sqrt()).abs() < 1e-9);
    assert!((total["delta_norm"].as_f64().unwrap() - sq.1.sqrt()).abs() < 1e-9);
    assert_eq!(
        total["shape"],
        json("[98]"),
        "3*16 + 16 + 16*2 + 2 parameters"
    );
}

/// `diff`'s metric deltas (of `d@1` and `d@3` in `log`) are B - A, from the manifests.
fn assert_diff_has_metric_deltas(d: &Value, log: &[Value]) {
    for key in ["accuracy", "loss"] {
        let (a, b) = (
            log[1]["metrics"]["prequential"][key].as_f64().unwrap(),
            log[3]["metrics"]["prequential"][key].as_f64().unwrap(),
        );
        let m = &d["metrics"]["prequential"][key];
        assert_eq!(m["a"].as_f64().unwrap(), a);
        assert_eq!(m["delta"].as_f64().unwrap(), b - a);
    }
    let tl = &d["metrics"]["train_loss"];
    assert_eq!(
        tl["delta"].as_f64().unwrap(),
        log[3]["metrics"]["train_loss"].as_f64().unwrap()
            - log[1]["metrics"]["train_loss"].as_f64().unwrap()
    );
}

/// Run `d` against a run of different shapes cannot be diffed; unknown refs and windows are
/// named.
fn assert_diff_refuses_other_shapes_and_unknown_refs(sb: &Sandbox) {
    // Different shapes cannot be compared; unknown refs list the runs.
    let wide = sea_config("wide", "stateful", "").replace("hidden = [16]", "hidden = [8]");
    let cfg = sb.write("wide.toml", &wide);
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "2"]);
    rejects(
        sb,
        &["diff", "d", "wide"],
        &["different shapes", "[3, 16, 2]", "[3, 8, 2]"],
    );
    rejects(
        sb,
        &["diff", "d", "nosuch"],
        &["nosuch", "Known runs: d, wide"],
    );
    rejects(sb, &["diff", "d", "d@9"], &["window 9", "0..=3"]);
}

#[test]
fn verify_passes_a_clean_store_and_names_each_corrupt_object() {
    let sb = Sandbox::new();
    run_sea(&sb, "v", "stateful", 2000, Some(3));
    let out = sb.ok(&["verify"]);
    assert!(out.contains("9 objects and 3 manifests checked"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let report = json(&sb.ok(&["verify", "--json"]));
    assert_eq!(report["objects_checked"], 9);
    assert_eq!(report["manifests_checked"], 3);
    assert_eq!(report["problems"], json("[]"));

    let store = sb.store();
    let objects = objects(&store);
    assert_eq!(objects.len(), 9);
    for object in &objects {
        let original = std::fs::read(object).unwrap();
        flip_first_byte(object);
        let out = sb.relearn(&["verify"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&object.display().to_string()) && text.contains("corrupt-object"),
            "{text}"
        );
        assert!(stderr(&out).contains("1 problem"), "{}", stderr(&out));
        let report = sb.relearn(&["verify", "--json"]);
        assert_eq!(report.status.code(), Some(1));
        let report = json(&String::from_utf8_lossy(&report.stdout));
        assert_eq!(
            report["problems"][0]["path"],
            object.display().to_string().as_str()
        );
        assert_eq!(report["problems"][0]["kind"], "corrupt-object");
        std::fs::write(object, original).unwrap();
    }
    sb.ok(&["verify"]);
}

#[test]
fn verify_reports_deleted_manifests_that_refs_point_to() {
    let sb = Sandbox::new();
    run_sea(&sb, "m", "stateful", 2000, Some(3));
    sb.ok(&["tag", "m@1", "keep"]);
    for reference in ["m", "keep"] {
        let id = id_of(&sb, reference);
        std::fs::remove_file(sb.store().join("manifests").join(format!("{id}.json"))).unwrap();
    }
    let out = sb.relearn(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["refs/runs/m", "refs/tags/keep", "dangling-ref"] {
        assert!(text.contains(needle), "verify lacks {needle}:\n{text}");
    }
    let report = json(&String::from_utf8_lossy(
        &sb.relearn(&["verify", "--json"]).stdout,
    ));
    let kinds: BTreeSet<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains("dangling-ref"), "{kinds:?}");
}

#[test]
fn tags_are_created_listed_moved_and_deleted() {
    let sb = Sandbox::new();
    run_sea(&sb, "t", "stateful", 2000, Some(4));
    let at1 = id_of(&sb, "t@1");
    let out = sb.ok(&["tag", "t@1", "best"]);
    assert!(out.contains("best") && out.contains(&at1[..12]), "{out}");
    let shown = json(&sb.ok(&["show", "best", "--json"]));
    assert_eq!(shown["id"], at1.as_str());
    assert_eq!(shown["tags"], json(r#"["best"]"#));
    assert!(sb.ok(&["log", "--run", "t"]).contains("[best]"));
    assert!(sb.ok(&["show", "t@1"]).contains("tags       best"));
    // Tagging the same checkpoint again is a no-op; another one needs --force.
    assert!(
        sb.ok(&["tag", at1.as_str(), "best"])
            .contains("already points at")
    );
    rejects(
        &sb,
        &["tag", "t@2", "best"],
        &["already points at", "--force"],
    );
    assert!(
        sb.ok(&["tag", "--force", "t@2", "best"])
            .contains("moved tag 'best'")
    );
    assert_eq!(id_of(&sb, "best"), id_of(&sb, "t@2"));
    sb.ok(&["tag", "t@0", "first"]);
    let list = sb.ok(&["tag"]);
    assert!(
        list.contains("best") && list.contains("t@2") && list.contains("first"),
        "{list}"
    );
    let tags = json(&sb.ok(&["tag", "--json"]));
    assert_eq!(tags[0]["name"], "best");
    assert_eq!(tags[0]["window"], 2);
    assert_eq!(tags[1]["id"], id_of(&sb, "t@0").as_str());
    // Deleting.
    assert!(
        sb.ok(&["tag", "--delete", "best"])
            .contains("deleted tag 'best'")
    );
    rejects(
        &sb,
        &["tag", "--delete", "best"],
        &["no tag named 'best'", "first"],
    );
    rejects(&sb, &["show", "best"], &["best", "Known runs: t"]);
    // Names that would hide other REFs, bad names, bad REFs.
    rejects(&sb, &["tag", "t@1", "t"], &["run name"]);
    rejects(&sb, &["tag", "t@1", "abc123"], &["id prefix"]);
    rejects(&sb, &["tag", "t@1", "a/b"], &["a/b"]);
    rejects(&sb, &["tag", "nosuch", "x"], &["nosuch", "Known runs: t"]);
    rejects(&sb, &["tag", "t@1"], &["NAME"]);
}

#[test]
fn gc_keeps_the_last_checkpoints_and_tags_and_the_run_continues() {
    let sb = Sandbox::new();
    // 14 windows in the stream; the first invocation stops after 12.
    let cfg = run_sea(&sb, "g", "stateful", 3500, Some(12));
    assert_eq!(sb.log("g").len(), 12);
    sb.ok(&["tag", "g@2", "old"]);
    let old = id_of(&sb, "old");

    let before = sb.snapshot();
    let dry = json(&sb.ok(&["gc", "--keep-last", "3", "--dry-run", "--json"]));
    assert_eq!(before, sb.snapshot(), "a dry run changed the store");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed_checkpoints"].as_array().unwrap().len(), 8);
    assert_eq!(dry["remaining_checkpoints"], 4);
    let text = sb.ok(&["gc", "--keep-last", "3", "--dry-run"]);
    assert!(
        text.contains("would remove 8 checkpoints")
            && text.contains("g@0")
            && text.contains("dry run"),
        "{text}"
    );

    let text = sb.ok(&["gc", "--keep-last", "3"]);
    assert!(
        text.contains("removed 8 checkpoints") && text.contains("freed"),
        "{text}"
    );
    let windows: Vec<u64> = sb
        .log("g")
        .iter()
        .map(|m| m["window"].as_u64().unwrap())
        .collect();
    assert_eq!(
        windows,
        [2, 9, 10, 11],
        "the tagged checkpoint and the last 3 remain"
    );
    assert_eq!(id_of(&sb, "old"), old);
    assert!(sb.ok(&["verify"]).contains("4 manifests checked"));
    assert!(
        sb.ok(&["gc", "--keep-last", "3"])
            .contains("nothing to remove")
    );

    // The run continues from the store gc left, to the same ids as an uninterrupted run.
    let out = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(out.contains("resuming"), "{out}");
    sb.ok(&["verify"]);
    let log = sb.log("g");
    let windows: Vec<u64> = log.iter().map(|m| m["window"].as_u64().unwrap()).collect();
    assert_eq!(windows, [2, 9, 10, 11, 12, 13]);
    let fresh = Sandbox::new();
    run_sea(&fresh, "g", "stateful", 3500, None);
    let fresh_log = fresh.log("g");
    assert_eq!(log[5]["id"], fresh_log[13]["id"]);

    // Bad input: exit 2, store unchanged.
    rejects(&sb, &["gc", "--keep-last", "0"], &["--keep-last"]);
    rejects(
        &sb,
        &["gc", "--keep-last", "2", "--run", "nosuch"],
        &["nosuch", "Known runs: g"],
    );
}

#[test]
fn gc_keeps_the_initial_model_a_stateless_run_needs() {
    let sb = Sandbox::new();
    run_sea(&sb, "s", "stateless", 2000, Some(6));
    let report = json(&sb.ok(&["gc", "--keep-last", "2", "--run", "s", "--json"]));
    assert_eq!(report["removed_checkpoints"].as_array().unwrap().len(), 3);
    let windows: Vec<u64> = sb
        .log("s")
        .iter()
        .map(|m| m["window"].as_u64().unwrap())
        .collect();
    assert_eq!(windows, [0, 4, 5]);
    sb.ok(&["verify"]);
}

#[test]
fn generate_writes_the_configs_stream() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("gen", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    let all = sb.path("all.csv");
    let out = generate_ok(
        &sb,
        &[
            "--config",
            cfg,
            "--out",
            all.to_str().unwrap(),
            "--windows",
            "3",
        ],
    );
    assert!(out.contains("750 rows"), "{out}");
    let (header, rows) = read_csv(&all);
    assert_eq!(header, ["x0", "x1", "x2", "y"]);
    assert_eq!(rows.len(), 750);
    assert!(rows.iter().all(|r| r[3] == "0" || r[3] == "1"));
    // --from skips whole windows: window 2 is the last 250 rows.
    let w2 = sb.path("w2.csv");
    generate_ok(
        &sb,
        &[
            "--config",
            cfg,
            "--out",
            w2.to_str().unwrap(),
            "--windows",
            "3",
            "--from",
            "2",
        ],
    );
    assert_eq!(read_csv(&w2).1, rows[500..]);
    // `-` writes to stdout; without --windows every full window.
    let stdout = generate_ok(&sb, &["--config", cfg, "--out", "-"]);
    assert_eq!(parse_csv(&stdout).1.len(), 2000);
    assert_eq!(parse_csv(&stdout).1[..750], rows[..]);
    assert!(!sb.store().exists(), "generate does not touch the store");
    let bad = generate(&sb, &["--config", cfg, "--out", "x.csv", "--from", "8"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let bad = generate(&sb, &["--config", cfg, "--out", "nodir/x.csv"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("nodir"), "{}", stderr(&bad));
}

/// `eval` of the checkpoint that was serving before window W, on window W's rows, gives
/// exactly the prequential score recorded with the checkpoint trained on W.
#[test]
fn eval_reproduces_the_prequential_score() {
    for mode in ["stateful", "stateless"] {
        let sb = Sandbox::new();
        let cfg = run_sea(&sb, "e", mode, 2000, Some(5));
        let w4 = sb.path("w4.csv");
        generate_ok(
            &sb,
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                w4.to_str().unwrap(),
                "--windows",
                "5",
                "--from",
                "4",
            ],
        );
        let log = sb.log("e");
        assert_eq!(
            log[4]["replaces"], log[3]["id"],
            "e@3 served before window 4"
        );
        let ev = json(&sb.ok(&["eval", "e@3", "--csv", w4.to_str().unwrap(), "--json"]));
        let keys: Vec<&String> = ev.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "metrics", "samples", "skipped"]);
        assert_eq!(ev["skipped"], 0);
        assert_eq!(ev["id"], log[3]["id"]);
        assert_eq!(ev["samples"], 250);
        for key in ["accuracy", "loss"] {
            let got = ev["metrics"][key].as_f64().unwrap();
            let recorded = log[4]["metrics"]["prequential"][key].as_f64().unwrap();
            assert!(
                (got - recorded).abs() < 1e-9,
                "{mode} {key}: eval {got} vs prequential {recorded}"
            );
        }
        let text = sb.ok(&[
            "eval",
            "e@3",
            "--csv",
            w4.to_str().unwrap(),
            "--target",
            "y",
        ]);
        assert!(
            text.contains("250 samples") && text.contains("accuracy"),
            "{text}"
        );
    }
}

#[test]
fn eval_and_predict_reject_bad_input_without_touching_the_store() {
    let sb = Sandbox::new();
    run_sea(&sb, "b", "stateful", 2000, Some(2));
    let missing = sb.path("missing.csv");
    rejects(
        &sb,
        &["eval", "b", "--csv", missing.to_str().unwrap()],
        &["missing.csv"],
    );
    rejects(
        &sb,
        &["predict", "b", "--csv", missing.to_str().unwrap()],
        &["missing.csv"],
    );
    let bad_cell = sb.write("bad.csv", "x0,x1,x2,y\n1,2,3,0\n1,oops,3,1\n");
    rejects(
        &sb,
        &["eval", "b", "--csv", bad_cell.to_str().unwrap()],
        &["bad.csv", "row 3", "\"x1\""],
    );
    rejects(
        &sb,
        &["predict", "b", "--csv", bad_cell.to_str().unwrap()],
        &["bad.csv", "row 3", "\"x1\""],
    );
    let no_x2 = sb.write("nox2.csv", "x0,x1,y\n1,2,0\n");
    rejects(
        &sb,
        &["predict", "b", "--csv", no_x2.to_str().unwrap()],
        &["nox2.csv", "x2"],
    );
    let bad_label = sb.write("label.csv", "x0,x1,x2,y\n1,2,3,7\n");
    rejects(
        &sb,
        &["eval", "b", "--csv", bad_label.to_str().unwrap()],
        &["label.csv", "row 2", "7"],
    );
    rejects(
        &sb,
        &[
            "eval",
            "b",
            "--csv",
            bad_label.to_str().unwrap(),
            "--target",
            "z",
        ],
        &["\"z\""],
    );
    rejects(
        &sb,
        &["eval", "nosuch", "--csv", bad_label.to_str().unwrap()],
        &["nosuch", "Known runs: b"],
    );
}

/// The model by hand from an exported file: scale, layers (`x @ W.T + b`), relu, softmax.
fn forward_by_hand(file: &[u8], header: &[String], rows: &[Vec<String>]) -> Vec<Vec<f64>> {
    use safetensors::{Dtype, SafeTensors};
    let st = SafeTensors::deserialize(file).unwrap();
    let (_, st_header) = SafeTensors::read_metadata(file).unwrap();
    let meta: &HashMap<String, String> = st_header.metadata().as_ref().expect("metadata");
    let parse = |k: &str| json(&meta[k]);
    let features: Vec<String> = serde_json::from_value(parse("feature_names")).unwrap();
    let mean: Vec<f64> = serde_json::from_value(parse("scaler_mean")).unwrap();
    let std: Vec<f64> = serde_json::from_value(parse("scaler_std")).unwrap();
    let clip: f64 = meta["scaler_clip"].parse().unwrap();
    let widths: Vec<usize> = serde_json::from_value(parse("widths")).unwrap();
    assert_eq!(meta["activation"], "relu");
    let floats = |name: &str, shape: &[usize]| -> Vec<f32> {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32);
        assert_eq!(t.shape(), shape, "{name}");
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let layers: Vec<(Vec<f32>, Vec<f32>)> = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            (
                floats(&format!("layers.{i}.weight"), &[w[1], w[0]]),
                floats(&format!("layers.{i}.bias"), &[w[1]]),
            )
        })
        .collect();
    let cols: Vec<usize> = features
        .iter()
        .map(|f| header.iter().position(|h| h == f).unwrap())
        .collect();
    rows.iter()
        .map(|row| {
            let mut x: Vec<f64> = cols
                .iter()
                .enumerate()
                .map(|(j, &c)| {
                    ((row[c].parse::<f32>().unwrap() as f64 - mean[j]) / std[j]).clamp(-clip, clip)
                        as f32 as f64
                })
                .collect();
            for (i, (w, b)) in layers.iter().enumerate() {
                let (d_in, d_out) = (widths[i], widths[i + 1]);
                let mut y: Vec<f64> = (0..d_out)
                    .map(|o| {
                        (0..d_in)
                            .map(|k| w[o * d_in + k] as f64 * x[k])
                            .sum::<f64>()
                            + b[o] as f64
                    })
                    .collect();
                if i + 2 < widths.len() {
                    y.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                x = y;
            }
            let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = x.iter().map(|v| (v - max).exp()).sum();
            x.iter().map(|v| (v - max).exp() / sum).collect()
        })
        .collect()
}

#[test]
fn exported_safetensors_reproduce_predict() {
    let sb = Sandbox::new();
    let cfg = run_sea(&sb, "x", "stateful", 2000, Some(4));
    let data = shuffled_window(&sb, &cfg);
    let (header, rows) = read_csv(&data);

    let out = sb.path("model.safetensors");
    let text = sb.ok(&[
        "export",
        "x@3",
        "--format",
        "safetensors",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        text.contains("layers.0.weight") && text.contains("98 parameters"),
        "{text}"
    );
    let file = std::fs::read(&out).unwrap();
    let by_hand = forward_by_hand(&file, &header, &rows);

    let p_rows = assert_predict_is_the_forward_pass(&sb, &data, &by_hand);
    assert_export_names_its_checkpoint(&sb, &file, &out);
    assert_eval_counts_predict_s_hits(&sb, &data, &header, &rows, &p_rows);

    rejects(
        &sb,
        &["export", "x", "--format", "onnx", "--out", "m.onnx"],
        &["onnx"],
    );
    rejects(
        &sb,
        &["export", "x", "--out", sb.dir.path().to_str().unwrap()],
        &["folder"],
    );
}

/// Window 4 of config `cfg`'s stream, its columns in another order than the model's, plus
/// the target (predict matches by name): `shuffled.csv` in the sandbox.
fn shuffled_window(sb: &Sandbox, cfg: &Path) -> PathBuf {
    let data = sb.path("w.csv");
    generate_ok(
        sb,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            data.to_str().unwrap(),
            "--windows",
            "5",
            "--from",
            "4",
        ],
    );
    // Columns in another order than the model's, plus the target: predict matches by name.
    let (header, rows) = read_csv(&data);
    let order = [3, 2, 0, 1];
    let shuffled: String = std::iter::once(order.map(|i| header[i].clone()).join(","))
        .chain(rows.iter().map(|r| order.map(|i| r[i].clone()).join(",")))
        .map(|l| l + "\n")
        .collect();
    sb.write("shuffled.csv", &shuffled)
}

/// `predict` of `x@3` on `data` (as CSV) gives `by_hand`'s probabilities and their argmax;
/// returns its rows.
fn assert_predict_is_the_forward_pass(
    sb: &Sandbox,
    data: &Path,
    by_hand: &[Vec<f64>],
) -> Vec<Vec<String>> {
    let predict = sb.ok(&["predict", "x@3", "--csv", data.to_str().unwrap()]);
    let (p_header, p_rows) = parse_csv(&predict);
    assert_eq!(p_header, ["prediction", "p_0", "p_1"]);
    assert_eq!(p_rows.len(), by_hand.len(), "one prediction per row");
    let mut max_diff = 0.0f64;
    for (mine, theirs) in by_hand.iter().zip(&p_rows) {
        let probs: Vec<f64> = theirs[1..].iter().map(|p| p.parse().unwrap()).collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5);
        for (a, b) in mine.iter().zip(&probs) {
            max_diff = max_diff.max((a - b).abs());
        }
        let argmax = if mine[1] > mine[0] { "1" } else { "0" };
        if (mine[1] - mine[0]).abs() > 1e-5 {
            assert_eq!(theirs[0], argmax);
        }
    }
    assert!(max_diff < 1e-5, "max |p_export - p_predict| = {max_diff}");
    p_rows
}

/// The exported `file` (at `out`) names the checkpoint `x@3` and its preprocessing in its
/// metadata, and a second export writes the same bytes.
fn assert_export_names_its_checkpoint(sb: &Sandbox, file: &[u8], out: &Path) {
    // Metadata names the checkpoint and its preprocessing; the file is deterministic.
    let (_, st_header) = safetensors::SafeTensors::read_metadata(file).unwrap();
    let meta = st_header.metadata().as_ref().unwrap();
    assert_eq!(meta["checkpoint_id"], id_of(sb, "x@3"));
    assert_eq!(meta["run"], "x");
    assert_eq!(meta["window"], "3");
    assert_eq!(meta["task"], "classification");
    assert_eq!(meta["classes"], r#"["0","1"]"#);
    assert_eq!(meta["feature_names"], r#"["x0","x1","x2"]"#);
    assert_eq!(meta["target"], "y");
    assert_eq!(meta["scaler_mode"], "running");
    assert_eq!(json(&meta["widths"]), json("[3, 16, 2]"));
    let summary = json(&sb.ok(&["export", "x@3", "--out", out.to_str().unwrap(), "--json"]));
    assert_eq!(summary["tensors"].as_array().unwrap().len(), 4);
    assert_eq!(std::fs::read(out).unwrap(), file, "export is deterministic");
}

/// predict --json agrees with the CSV (`p_rows`); eval's accuracy matches predict's hits on
/// `data` (read as `header` and `rows`).
fn assert_eval_counts_predict_s_hits(
    sb: &Sandbox,
    data: &Path,
    header: &[String],
    rows: &[Vec<String>],
    p_rows: &[Vec<String>],
) {
    // predict --json agrees with the CSV; eval's accuracy matches predict's hits.
    let pj = json(&sb.ok(&["predict", "x@3", "--csv", data.to_str().unwrap(), "--json"]));
    let preds = pj["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), rows.len());
    assert_eq!(preds[0]["prediction"], p_rows[0][0].as_str());
    let target = header.iter().position(|h| h == "y").unwrap();
    let hits = p_rows
        .iter()
        .zip(rows)
        .filter(|(p, r)| p[0] == r[target])
        .count();
    let ev = json(&sb.ok(&["eval", "x@3", "--csv", data.to_str().unwrap(), "--json"]));
    assert_eq!(
        ev["metrics"]["accuracy"].as_f64().unwrap(),
        hits as f64 / rows.len() as f64
    );
}

/// A CSV of 5 windows of 20 rows: numeric `a` (blank in every 6th row), text `color`,
/// numeric `b`, and a `label` (`yes`/`no`, and `maybe` from window 2 on).
fn mixed_csv(sb: &Sandbox) -> PathBuf {
    let mut text = String::from("a,color,b,label\n");
    for i in 0..100 {
        let a = if i % 6 == 0 {
            String::new()
        } else {
            format!("{}", (i * 7) % 13)
        };
        let color = ["red", "green", "blue"][i % 3];
        let label = if i >= 40 && i % 4 == 0 {
            "maybe"
        } else if (i * 7) % 13 > 6 {
            "yes"
        } else {
            "no"
        };
        text.push_str(&format!("{a},{color},{},{label}\n", i % 5));
    }
    sb.write("mixed.csv", &text)
}

const MIXED_CONFIG: &str = "[run]\nname = \"m\"\n[data]\ncsv = \"mixed.csv\"\ntarget = \"label\"\n\
    task = \"classification\"\n[window]\nsize = 20\n[model]\nhidden = [8]\n[train]\nepochs = 2\n";

#[test]
fn generate_writes_text_columns_blanks_and_later_classes_that_eval_reads_back() {
    let sb = Sandbox::new();
    mixed_csv(&sb);
    let cfg = sb.write("m.toml", MIXED_CONFIG);
    let cfg = cfg.to_str().unwrap();
    let out = sb.path("gen.csv");
    generate_ok(&sb, &["--config", cfg, "--out", out.to_str().unwrap()]);
    let leftovers: Vec<_> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".relearn-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (header, rows) = read_csv(&out);
    assert_eq!(header, ["a", "b", "color", "label"]);
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0][0], "", "a blank cell stays blank");
    assert!(rows.iter().all(|r| r.iter().all(|c| c != "NaN")));
    assert_eq!(rows[1][2], "green");
    assert_eq!(rows[40][3], "maybe");
    // Checkpoints of the run read the file as the run read its source.
    sb.ok(&["run", "--config", cfg]);
    let ev = json(&sb.ok(&["eval", "m", "--csv", out.to_str().unwrap(), "--json"]));
    assert_eq!(ev["samples"], 100);
    let p = json(&sb.ok(&["predict", "m", "--csv", out.to_str().unwrap(), "--json"]));
    assert_eq!(p["predictions"].as_array().unwrap().len(), 100);
}

#[test]
fn eval_counts_the_rows_it_skips_for_a_missing_target() {
    let sb = Sandbox::new();
    run_sea(&sb, "s", "stateful", 2000, Some(2));
    let mut text = String::from("x0,x1,x2,y\n");
    for i in 0..40 {
        let y = if i % 4 == 0 {
            (i % 2).to_string()
        } else {
            String::new()
        };
        text.push_str(&format!("{},{},{},{y}\n", i % 10, (i * 3) % 10, i % 7));
    }
    let csv = sb.write("blank.csv", &text);
    let csv = csv.to_str().unwrap();
    let ev = json(&sb.ok(&["eval", "s", "--csv", csv, "--json"]));
    assert_eq!(
        (ev["samples"].as_u64(), ev["skipped"].as_u64()),
        (Some(10), Some(30))
    );
    let text = sb.ok(&["eval", "s", "--csv", csv]);
    assert!(
        text.contains("10 samples") && text.contains("30 of its 40 rows skipped"),
        "{text}"
    );
    // Every target missing: said as such.
    let none = sb.write("none.csv", "x0,x1,x2,y\n1,2,3,\n4,5,6,NA\n");
    rejects(
        &sb,
        &["eval", "s", "--csv", none.to_str().unwrap()],
        &[
            "none.csv",
            "every one of its 2 rows has a missing target",
            "\"y\"",
        ],
    );
}

#[test]
fn predict_and_eval_read_stdin_and_an_empty_file_gets_an_empty_answer() {
    use std::io::Write;
    use std::process::Stdio;
    let sb = Sandbox::new();
    run_sea(&sb, "s", "stateful", 2000, Some(2));
    let rows = "x0,x1,x2,y\n1,2,3,0\n9,8,1,1\n";
    let file = sb.write("rows.csv", rows);
    let from_stdin = |args: &[&str], input: &str| {
        let mut child = sb
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = from_stdin(&["predict", "s", "--csv", "-"], rows);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        sb.ok(&["predict", "s", "--csv", file.to_str().unwrap()])
    );
    let out = from_stdin(&["eval", "s", "--csv", "-", "--json"], rows);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&String::from_utf8(out.stdout).unwrap())["samples"], 2);
    // A bad cell on stdin is named as stdin's, with its row.
    let out = from_stdin(&["predict", "s", "--csv", "-"], "x0,x1,x2\n1,oops,3\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin: row 2"), "{}", stderr(&out));
    // A header and no rows: an empty answer.
    let empty = sb.write("empty.csv", "x0,x1,x2\n");
    let empty = empty.to_str().unwrap();
    assert_eq!(
        sb.ok(&["predict", "s", "--csv", empty]),
        "prediction,p_0,p_1\n"
    );
    let p = json(&sb.ok(&["predict", "s", "--csv", empty, "--json"]));
    assert_eq!(p["predictions"], serde_json::json!([]));
    let out = from_stdin(&["predict", "s", "--csv", "-"], "x0,x1,x2\n");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "prediction,p_0,p_1\n"
    );
}

#[test]
fn show_names_skipped_rows_and_new_classes_and_scores_stay_short() {
    let sb = Sandbox::new();
    // Classification: blank labels in rows 20 to 39, a class first seen in row 40.
    let mut text = String::from("a,b,label\n");
    for i in 0..80 {
        let label = match i {
            20..=39 if i % 5 == 0 => "",
            40.. if i % 4 == 0 => "maybe",
            _ if (i * 7) % 13 > 6 => "yes",
            _ => "no",
        };
        text.push_str(&format!("{},{},{label}\n", (i * 7) % 13, i % 5));
    }
    sb.write("c.csv", &text);
    let cfg = sb.write(
        "c.toml",
        "[run]\nname = \"c\"\n[data]\ncsv = \"c.csv\"\ntarget = \"label\"\n\
         task = \"classification\"\n[window]\nsize = 20\n[model]\nhidden = [8]\n",
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("c");
    let w1 = log.iter().find(|m| m["window"] == 1).unwrap();
    assert_eq!(w1["samples_skipped"], 4);
    // Window 1 is the next 20 labelled rows: it reaches into row 40, the first `maybe`.
    assert_eq!(w1["extra"]["new_classes"], serde_json::json!(["maybe"]));
    let show = sb.ok(&["show", "c@1"]);
    assert!(
        show.contains("skipped    4 rows with a missing target"),
        "{show}"
    );
    assert!(show.contains("new classes maybe"), "{show}");

    // Regression in huge units: an mse near 1e56 prints in scientific notation.
    let mut text = String::from("x,y\n");
    for i in 0..60 {
        text.push_str(&format!("{},{}e27\n", i % 7, (i * 5) % 11));
    }
    sb.write("r.csv", &text);
    let cfg = sb.write(
        "r.toml",
        "[run]\nname = \"r\"\n[data]\ncsv = \"r.csv\"\ntarget = \"y\"\ntask = \"regression\"\n\
         [window]\nsize = 20\n[model]\nhidden = [4]\n",
    );
    let run = sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let outputs = [
        run,
        sb.ok(&["log"]),
        sb.ok(&["show", "r"]),
        sb.ok(&["tree"]),
        sb.ok(&["diff", "r~1", "r"]),
    ];
    for text in &outputs {
        let longest = text
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 20, "a {longest}-digit number:\n{text}");
    }
    let scientific = outputs[0].lines().any(|l| {
        l.split("mse ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|mse| mse.contains('e'))
    });
    assert!(scientific, "{}", outputs[0]);
    // JSON keeps the exact value.
    let mse = sb.log("r")[2]["metrics"]["prequential"]["mse"]
        .as_f64()
        .unwrap();
    assert!(mse > 1e50, "{mse}");
}

/// `predict` and `eval` read a file in chunks of 8,192 rows (flat memory whatever its
/// size): a 20,000-row file gets the predictions of its parts, in order, and the scores of
/// its parts weighted by their rows; a bad row in the last chunk still stops the command
/// before anything is printed.
#[test]
fn predict_and_eval_read_a_large_file_in_chunks_with_the_same_answers() {
    let sb = Sandbox::new();
    run_sea(&sb, "s", "stateful", 2000, Some(2));
    let mut state: u64 = 5;
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..20_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let (a, b, c) = (
            (state >> 40) % 1000,
            (state >> 30) % 1000,
            (state >> 20) % 1000,
        );
        let (a, b) = (a as f64 / 100.0, b as f64 / 100.0);
        lines.push(format!(
            "{a},{b},{},{}",
            c as f64 / 100.0,
            u8::from(a + b > 8.0)
        ));
    }
    let header = "x0,x1,x2,y\n";
    let whole = sb.write("whole.csv", &format!("{header}{}\n", lines.join("\n")));
    let first = sb.write(
        "first.csv",
        &format!("{header}{}\n", lines[..8192].join("\n")),
    );
    let rest = sb.write(
        "rest.csv",
        &format!("{header}{}\n", lines[8192..].join("\n")),
    );
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let predicted = sb.ok(&["predict", "s", "--csv", &path(&whole)]);
    let (a, b) = (
        sb.ok(&["predict", "s", "--csv", &path(&first)]),
        sb.ok(&["predict", "s", "--csv", &path(&rest)]),
    );
    let b_rows: Vec<&str> = b.lines().skip(1).collect();
    assert_eq!(predicted, format!("{a}{}\n", b_rows.join("\n")));
    assert_eq!(predicted.lines().count(), 20_001);
    let score = |p: &std::path::Path| {
        let e = json(&sb.ok(&["eval", "s", "--csv", &path(p), "--json"]));
        (
            e["samples"].as_f64().unwrap(),
            e["metrics"]["accuracy"].as_f64().unwrap(),
        )
    };
    let ((n, acc), (n1, acc1), (n2, acc2)) = (score(&whole), score(&first), score(&rest));
    assert_eq!((n, n1, n2), (20_000.0, 8192.0, 11_808.0));
    assert!(
        (acc - (acc1 * n1 + acc2 * n2) / n).abs() < 1e-12,
        "{acc} {acc1} {acc2}"
    );
    // A bad cell in the last chunk: exit 2 and nothing printed.
    let bad = sb.write(
        "bad.csv",
        &format!("{header}{}\n1,oops,3,0\n", lines.join("\n")),
    );
    let out = sb.relearn(&["predict", "s", "--csv", &path(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "printed before the error");
    assert!(stderr(&out).contains("row 20002"), "{}", stderr(&out));
}
