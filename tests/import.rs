//! `model.init`: a run that starts from a model file (PyTorch's layout, or relearn's own
//! export), `train.freeze` and `train.lr_scale` on it, and every bad file refused with exit
//! code 2 and no change to the store.

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

use crate::common::{Sandbox, assert_fails, ids, stderr};

/// Rows per window, and windows in the CSV.
const WINDOW: usize = 40;
const WINDOWS: usize = 5;

/// A deterministic CSV of `a, b, c` features and a target: a number (`y`, regression) or a
/// label (`label`, classification). Returns the header and rows too.
fn write_csv(sb: &Sandbox, name: &str, classification: bool) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut s = 4242u32;
    let mut next = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f64 / (1u32 << 24) as f64 * 4.0 - 2.0
    };
    let mut text = String::from(if classification {
        "a,b,c,label\n"
    } else {
        "a,b,c,y\n"
    });
    let mut rows = Vec::new();
    for _ in 0..WINDOW * WINDOWS {
        // Values written with 4 decimals: what relearn reads is what the test computes with.
        let row: Vec<f64> = (0..3).map(|_| (next() * 1e4).round() / 1e4).collect();
        let score = row[0] - 0.5 * row[1] + 0.25 * row[2];
        let target = if classification {
            if score > 0.0 { "yes" } else { "no" }.to_string()
        } else {
            format!("{:.4}", score + 0.1 * row[0] * row[1])
        };
        text.push_str(&format!(
            "{:.4},{:.4},{:.4},{target}\n",
            row[0], row[1], row[2]
        ));
        rows.push(row);
    }
    sb.write(name, &text);
    let header = ["a", "b", "c"].map(String::from).to_vec();
    (header, rows)
}

/// One tensor of a model file: its name, its shape and its values.
type Layer = (String, Vec<usize>, Vec<f32>);

/// A PyTorch `nn.Sequential(Linear(3, 8), Tanh(), Linear(8, 4), Tanh(), Linear(4, out))`'s
/// weights: `(name, [out, in] shape, values)`, named as its state_dict names them.
fn torch_layers(outputs: usize) -> Vec<Layer> {
    let mut s = 99u32;
    let mut next = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 1.2
    };
    let mut out = Vec::new();
    for (index, (d_in, d_out)) in [(0, (3, 8)), (2, (8, 4)), (4, (4, outputs))] {
        let weight: Vec<f32> = (0..d_out * d_in).map(|_| next()).collect();
        let bias: Vec<f32> = (0..d_out).map(|_| next() * 0.5).collect();
        out.push((format!("{index}.weight"), vec![d_out, d_in], weight));
        out.push((format!("{index}.bias"), vec![d_out], bias));
    }
    out
}

/// A safetensors file of f32 tensors, as `safetensors.torch.save_file` writes it.
fn safetensors_file(tensors: &[Layer]) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, shape, v)| {
            let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.clone(), shape.clone(), b)
        })
        .collect();
    raw_file(
        bytes
            .iter()
            .map(|(n, shape, b)| (n.as_str(), Dtype::F32, shape.clone(), b.as_slice())),
    )
}

fn raw_file<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, Vec<usize>, &'a [u8])>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'a>)> = tensors
        .map(|(n, dtype, shape, b)| (n.to_string(), TensorView::new(dtype, shape, b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// The forward pass by hand, in f64: `tanh(x @ W.T + b)` per hidden layer, then the last
/// layer's `x @ W.T + b`.
fn forward(layers: &[Layer], x: &[f64]) -> Vec<f64> {
    let mut h = x.to_vec();
    let n = layers.len() / 2;
    for (k, pair) in layers.chunks(2).enumerate() {
        let (shape, w, b) = (&pair[0].1, &pair[0].2, &pair[1].2);
        let (d_out, d_in) = (shape[0], shape[1]);
        let mut y: Vec<f64> = (0..d_out)
            .map(|o| {
                f64::from(b[o])
                    + (0..d_in)
                        .map(|i| f64::from(w[o * d_in + i]) * h[i])
                        .sum::<f64>()
            })
            .collect();
        if k + 1 < n {
            y.iter_mut().for_each(|v| *v = v.tanh());
        }
        h = y;
    }
    h
}

fn config(name: &str, task: &str, extra_model: &str, extra: &str) -> String {
    let (csv, target) = match task {
        "regression" => ("data.csv", "y"),
        _ => ("labels.csv", "label"),
    };
    format!(
        r#"[run]
name = "{name}"
seed = 3

[data]
csv = "{csv}"
target = "{target}"
task = "{task}"

[window]
size = {WINDOW}

[model]
activation = "tanh"
{extra_model}

[train]
batch_size = 16
{extra}"#
    )
}

/// A CSV of the rows of window `w` (features only).
fn window_csv(sb: &Sandbox, rows: &[Vec<f64>], w: usize) -> String {
    let mut text = String::from("a,b,c\n");
    for r in &rows[w * WINDOW..(w + 1) * WINDOW] {
        text.push_str(&format!("{:.4},{:.4},{:.4}\n", r[0], r[1], r[2]));
    }
    sb.write(&format!("window{w}.csv"), &text)
        .to_string_lossy()
        .into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON output")
}

/// `relearn export REF` into the sandbox: the file's bytes.
fn export(sb: &Sandbox, reference: &str, file: &str) -> Vec<u8> {
    let out = sb.path(file);
    sb.ok(&["export", reference, "--out", out.to_str().unwrap()]);
    std::fs::read(out).unwrap()
}

/// A tensor's raw bytes in a safetensors file.
fn tensor_bytes(file: &[u8], name: &str) -> Vec<u8> {
    SafeTensors::deserialize(file)
        .unwrap()
        .tensor(name)
        .unwrap()
        .data()
        .to_vec()
}

fn metadata(file: &[u8]) -> HashMap<String, String> {
    let (_, m) = SafeTensors::read_metadata(file).unwrap();
    m.metadata().clone().unwrap()
}

#[test]
fn a_pytorch_model_is_imported_scored_by_hand_and_then_fine_tuned() {
    let sb = Sandbox::new();
    let (_, rows) = write_csv(&sb, "data.csv", false);
    let layers = torch_layers(1);
    std::fs::write(sb.path("model.safetensors"), safetensors_file(&layers)).unwrap();
    let cfg = sb.write(
        "imp.toml",
        &config("imp", "regression", "init = \"model.safetensors\"", ""),
    );
    let cfg = cfg.to_str().unwrap();
    let out = sb.ok(&["run", "--config", cfg, "--windows", "1"]);
    assert!(out.contains("imported"), "{out}");

    let se = imported_squared_error(&sb, &rows, &layers);
    let log = assert_fine_tunes_the_import(&sb, cfg, se);
    let file = assert_the_import_is_recorded(&sb);
    assert_a_resume_reaches_the_same_ids(&file, cfg, &log);
    assert_a_changed_file_is_refused(&sb, &layers, cfg);
}

/// Asserts that run `imp`'s imported checkpoint predicts window 1 as the forward pass by hand
/// of `layers` does; returns its squared error summed over window 1's targets.
fn imported_squared_error(sb: &Sandbox, rows: &[Vec<f64>], layers: &[Layer]) -> f64 {
    // The imported checkpoint predicts what the PyTorch model computes.
    let csv = window_csv(sb, rows, 1);
    let predicted = json(&sb.ok(&["predict", "imp@0", "--csv", &csv, "--json"]));
    let mut worst = 0.0f64;
    let mut se = 0.0f64;
    let targets: Vec<f64> = {
        let text = std::fs::read_to_string(sb.path("data.csv")).unwrap();
        text.lines()
            .skip(1 + WINDOW)
            .take(WINDOW)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect()
    };
    for (k, (p, row)) in predicted["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&rows[WINDOW..])
        .enumerate()
    {
        let ours = p["prediction"].as_f64().unwrap();
        let theirs = forward(layers, row)[0];
        worst = worst.max((ours - theirs).abs());
        se += (ours - targets[k]).powi(2);
    }
    assert!(
        worst <= 1e-5,
        "predictions differ from the forward pass by {worst}"
    );
    se
}

/// Runs `cfg` to the end: after the imported checkpoint, each one fine-tunes the one before,
/// and window 1's prequential mse is `se`'s mean. Returns the log.
fn assert_fine_tunes_the_import(sb: &Sandbox, cfg: &str, se: f64) -> Vec<Value> {
    // Then the run fine-tunes it, and window 1's prequential score is the imported model's.
    sb.ok(&["run", "--config", cfg]);
    let log = sb.log("imp");
    assert_eq!(log.len(), WINDOWS);
    assert_eq!(log[0]["relation"], "imported");
    assert_eq!(log[0]["parent"], Value::Null);
    assert_eq!(log[0]["samples_trained"], 0);
    assert_eq!(log[0]["metrics"]["prequential"], Value::Null);
    for (k, m) in log.iter().enumerate().skip(1) {
        assert_eq!(m["relation"], "fine-tuned");
        assert_eq!(m["parent"], log[k - 1]["id"]);
    }
    let mse = log[1]["metrics"]["prequential"]["mse"].as_f64().unwrap();
    let by_hand = se / WINDOW as f64;
    assert!(
        (mse - by_hand).abs() <= 1e-5 * (1.0 + by_hand),
        "prequential mse {mse} vs {by_hand} by hand"
    );
    log
}

/// `show` (text and JSON) and `tree` name the imported file and its hash, and the store
/// verifies. Returns the file's bytes.
fn assert_the_import_is_recorded(sb: &Sandbox) -> Vec<u8> {
    // The file is named and hashed in the checkpoint; show and tree say so.
    let show = json(&sb.ok(&["show", "imp@0", "--json"]));
    let file = std::fs::read(sb.path("model.safetensors")).unwrap();
    assert_eq!(show["extra"]["import"]["file"], "model.safetensors");
    assert_eq!(show["extra"]["import"]["format"], "pytorch");
    let recorded = show["extra"]["import"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(recorded.len(), 64);
    let text = sb.ok(&["show", "imp@0"]);
    assert!(
        text.contains(&format!("imported   model.safetensors (sha256 {recorded})")),
        "{text}"
    );
    let tree = sb.ok(&["tree", "--run", "imp"]);
    assert!(tree.contains("imported from model.safetensors"), "{tree}");
    sb.ok(&["verify"]);
    file
}

/// The same config and model `file`, run uninterrupted in a fresh sandbox, reach the ids of
/// `log` (a resumed run).
fn assert_a_resume_reaches_the_same_ids(file: &[u8], cfg: &str, log: &[Value]) {
    // A resumed run reaches the ids of an uninterrupted one.
    let fresh = Sandbox::new();
    write_csv(&fresh, "data.csv", false);
    std::fs::write(fresh.path("model.safetensors"), file).unwrap();
    let cfg2 = fresh.write("imp.toml", &std::fs::read_to_string(cfg).unwrap());
    fresh.ok(&["run", "--config", cfg2.to_str().unwrap()]);
    assert_eq!(ids(&fresh.log("imp")), ids(log));
}

/// With the model file changed and one more window of data, a resume is refused and the
/// store is left as it was.
fn assert_a_changed_file_is_refused(sb: &Sandbox, layers: &[Layer], cfg: &str) {
    // A changed file is refused on resume, and the store is left as it was.
    let mut changed = layers.to_vec();
    changed[0].2[0] += 0.5;
    std::fs::write(sb.path("model.safetensors"), safetensors_file(&changed)).unwrap();
    let csv_more = std::fs::read_to_string(sb.path("data.csv")).unwrap();
    let extra_rows: String = csv_more
        .lines()
        .skip(1)
        .take(WINDOW)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(sb.path("data.csv"), format!("{csv_more}{extra_rows}")).unwrap();
    let before = sb.snapshot();
    let out = sb.relearn(&["run", "--config", cfg]);
    assert_fails(&out, 2, "changed since run 'imp' imported it");
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn freezing_the_first_layer_keeps_its_imported_weights_bit_for_bit() {
    let sb = Sandbox::new();
    write_csv(&sb, "labels.csv", true);
    let layers = torch_layers(2);
    let file = safetensors_file(&layers);
    std::fs::write(sb.path("model.safetensors"), &file).unwrap();
    let cfg = sb.write(
        "frozen.toml",
        &config(
            "frozen",
            "classification",
            "init = \"model.safetensors\"",
            "freeze = [0]\nlr_scale = [1.0, 0.5, 2.0]\n[stateful]\nlr = 0.01\n",
        ),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
    let log = sb.log("frozen");
    assert_eq!(log.len(), WINDOWS);
    let last = export(&sb, "frozen", "last.safetensors");
    let first = export(&sb, "frozen@0", "first.safetensors");
    // The import is exact: PyTorch's bytes are the export's ([out, in] both).
    for (theirs, ours) in [
        ("0.weight", "layers.0.weight"),
        ("0.bias", "layers.0.bias"),
        ("2.weight", "layers.1.weight"),
        ("4.bias", "layers.2.bias"),
    ] {
        assert_eq!(
            tensor_bytes(&first, ours),
            tensor_bytes(&file, theirs),
            "{theirs}"
        );
    }
    // Layer 0 never moved; the others were fine-tuned.
    assert_eq!(
        tensor_bytes(&last, "layers.0.weight"),
        tensor_bytes(&file, "0.weight")
    );
    assert_eq!(
        tensor_bytes(&last, "layers.0.bias"),
        tensor_bytes(&file, "0.bias")
    );
    assert_ne!(
        tensor_bytes(&last, "layers.1.weight"),
        tensor_bytes(&file, "2.weight")
    );
    assert_ne!(
        tensor_bytes(&last, "layers.2.weight"),
        tensor_bytes(&file, "4.weight")
    );
}

#[test]
fn importing_a_relearn_export_reproduces_it_exactly() {
    let sb = Sandbox::new();
    let (_, rows) = write_csv(&sb, "labels.csv", true);
    // A relearn run with running scaling, fine-tuned for a few windows.
    let cfg = sb.write(
        "orig.toml",
        &config("orig", "classification", "hidden = [6, 5]", ""),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    let exported = export(&sb, "orig", "orig.safetensors");
    let cfg = sb.write(
        "again.toml",
        // No model.hidden (the widths come from the file); the activation the config
        // states must be the file's (it may also be left out).
        &config("again", "classification", "init = \"orig.safetensors\"", ""),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "1"]);
    let log = sb.log("again");
    assert_eq!(log[0]["relation"], "imported");
    assert_eq!(
        json(&sb.ok(&["show", "again", "--json"]))["extra"]["import"]["format"],
        "relearn-export"
    );
    let again = export(&sb, "again", "again.safetensors");
    // The same weights bit for bit and the same preprocessing state.
    for l in 0..3 {
        for kind in ["weight", "bias"] {
            let name = format!("layers.{l}.{kind}");
            assert_eq!(
                tensor_bytes(&again, &name),
                tensor_bytes(&exported, &name),
                "{name}"
            );
        }
    }
    let (a, b) = (metadata(&exported), metadata(&again));
    for key in [
        "preprocessor",
        "scaler_mean",
        "scaler_std",
        "classes",
        "feature_names",
        "widths",
        "activation",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    // And the same predictions, to the bit.
    let csv = window_csv(&sb, &rows, 3);
    let p = |r: &str| json(&sb.ok(&["predict", r, "--csv", &csv, "--json"]))["predictions"].clone();
    assert_eq!(p("orig"), p("again"));
    // A stated scaling other than the export's is refused.
    let cfg = sb.write(
        "bad.toml",
        &config("bad", "classification", "init = \"orig.safetensors\"", "").replace(
            "task = \"classification\"",
            "task = \"classification\"\nscaling = \"none\"",
        ),
    );
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "data.scaling");
}

/// A bad model file: what is wrong, the file, a key for the config (`hidden = ...` under
/// `[model]`, or a `[data]` or `[train]` key after its table's name), and what stderr says.
type BadModel = (&'static str, Vec<u8>, &'static str, &'static str);

/// `torch` without tensor `name`.
fn torch_without(torch: &[Layer], name: &str) -> Vec<Layer> {
    torch.iter().filter(|t| t.0 != name).cloned().collect()
}

/// `torch` with tensor `name` replaced by (or, if it has none, added as) `shape` and `values`.
fn torch_with(torch: &[Layer], name: &str, shape: Vec<usize>, values: Vec<f32>) -> Vec<Layer> {
    let mut t = torch.to_vec();
    match t.iter_mut().find(|t| t.0 == name) {
        Some(slot) => *slot = (name.to_string(), shape, values),
        None => t.push((name.to_string(), shape, values)),
    }
    t
}

/// `torch` as a safetensors file whose `0.bias` holds eight i64s instead.
fn i64_bias_file(torch: &[Layer]) -> Vec<u8> {
    let i64_bytes: Vec<u8> = (0..8i64).flat_map(|v| v.to_le_bytes()).collect();
    let mut i64_file: Vec<(&str, Dtype, Vec<usize>, &[u8])> = Vec::new();
    let torch_bytes: Vec<(String, Vec<usize>, Vec<u8>)> = torch
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    for (n, s, b) in &torch_bytes {
        if n == "0.bias" {
            i64_file.push(("0.bias", Dtype::I64, vec![8], &i64_bytes));
        } else {
            i64_file.push((n, Dtype::F32, s.clone(), b));
        }
    }
    raw_file(i64_file.iter().map(|(n, d, s, b)| (*n, *d, s.clone(), *b)))
}

/// Files that are no model of `torch`'s kind: not safetensors, tensors other than linear
/// layers', missing or misshapen tensors, integers, NaN and infinity.
fn bad_tensor_cases(torch: &[Layer]) -> Vec<BadModel> {
    let mut nan = torch.to_vec();
    nan[2].2[3] = f32::NAN;
    let mut inf = torch.to_vec();
    inf[5].2[0] = f32::INFINITY;
    vec![
        (
            "not safetensors",
            b"not a model at all".to_vec(),
            "",
            "is not a readable safetensors file",
        ),
        (
            "a batch norm",
            safetensors_file(&torch_with(torch, "1.running_mean", vec![8], vec![0.0; 8])),
            "",
            "tensor `1.running_mean` is not the weight or bias",
        ),
        (
            "a missing bias",
            safetensors_file(&torch_without(torch, "2.bias")),
            "",
            "`2.weight` has no bias",
        ),
        (
            "a missing weight",
            safetensors_file(&torch_without(torch, "4.weight")),
            "",
            "`4.bias` has no weight",
        ),
        (
            "layers that do not chain",
            safetensors_file(&torch_with(torch, "2.weight", vec![4, 7], vec![0.1; 28])),
            "",
            "layers do not chain",
        ),
        (
            "a bias of the wrong shape",
            safetensors_file(&torch_with(torch, "0.bias", vec![7], vec![0.1; 7])),
            "",
            "tensor `0.bias` has shape [7]",
        ),
        ("integer weights", i64_bias_file(torch), "", "dtype I64"),
        (
            "a NaN",
            safetensors_file(&nan),
            "",
            "tensor `2.weight` holds NaN",
        ),
        (
            "an infinity",
            safetensors_file(&inf),
            "",
            "tensor `4.bias` holds inf",
        ),
    ]
}

/// Models (`torch` or variants) that do not fit the run: its `model.hidden`, its input or
/// output width, its scaling, its `train.lr_scale` or `train.freeze`.
fn bad_fit_cases(torch: &[Layer]) -> Vec<BadModel> {
    vec![
        (
            "a model.hidden that is not the file's",
            safetensors_file(torch),
            "hidden = [9, 4]",
            "tensor `0.weight` (shape [8, 3], [out, in]) has 8: expected shape [9, 3], found [8, 3]",
        ),
        (
            "a model of another input width",
            safetensors_file(&torch_with(torch, "0.weight", vec![8, 5], vec![0.1; 40])),
            "",
            "input width is 5",
        ),
        (
            "a model of another output width",
            safetensors_file(
                &torch_with(torch, "4.weight", vec![2, 4], vec![0.1; 8])
                    .into_iter()
                    .map(|t| {
                        if t.0 == "4.bias" {
                            (t.0, vec![2], vec![0.0; 2])
                        } else {
                            t
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            "",
            "output width is 2",
        ),
        (
            "scaled inputs",
            safetensors_file(torch),
            "[data]\nscaling = \"running\"",
            "data.scaling",
        ),
        (
            "an lr_scale of the wrong length",
            safetensors_file(torch),
            "[train]\nlr_scale = [1.0, 2.0]",
            "lists 2 factors, but the model has 3 linear layers",
        ),
        (
            "a freeze beyond the model",
            safetensors_file(torch),
            "[train]\nfreeze = [3]",
            "names linear layer 3",
        ),
    ]
}

/// The config of run `bad` importing `bad.safetensors`, with `extra` under its table.
fn bad_import_config(extra: &str) -> String {
    let mut text = config("bad", "regression", "init = \"bad.safetensors\"", "");
    // Keys of other tables go where their table is; `hidden` into [model].
    if extra.starts_with("hidden") {
        text = text.replace("[model]\n", &format!("[model]\n{extra}\n"));
    } else if let Some(rest) = extra.strip_prefix("[data]\n") {
        text = text.replace(
            "task = \"regression\"\n",
            &format!("task = \"regression\"\n{rest}\n"),
        );
    } else if let Some(rest) = extra.strip_prefix("[train]\n") {
        text = text.replace("batch_size = 16\n", &format!("batch_size = 16\n{rest}\n"));
    }
    text
}

#[test]
fn bad_model_files_exit_2_and_change_nothing() {
    let sb = Sandbox::new();
    write_csv(&sb, "data.csv", false);
    // A store with a run in it already: a refused import must leave every byte.
    let good = sb.write(
        "good.toml",
        &config("good", "regression", "hidden = [4]", ""),
    );
    sb.ok(&["run", "--config", good.to_str().unwrap(), "--windows", "2"]);
    let before = sb.snapshot();
    let torch = torch_layers(1);
    let mut cases = bad_tensor_cases(&torch);
    cases.extend(bad_fit_cases(&torch));
    for (what, bytes, extra, says) in cases {
        std::fs::write(sb.path("bad.safetensors"), &bytes).unwrap();
        let text = bad_import_config(extra);
        assert_import_refused(&sb, &text, (what, extra, says), &before);
    }
    let missing = config("bad", "regression", "init = \"nowhere.safetensors\"", "");
    let cfg = sb.write("bad.toml", &missing);
    assert_fails(
        &sb.relearn(&["run", "--config", cfg.to_str().unwrap()]),
        2,
        "nowhere.safetensors",
    );
    assert_eq!(sb.snapshot(), before);
}

/// Run `bad` on config `text` exits 2 saying `says` (and naming the file, unless `extra` is a
/// `[train]` key), leaves the store as `before` and makes no lock file and no head.
fn assert_import_refused(
    sb: &Sandbox,
    text: &str,
    (what, extra, says): (&str, &str, &str),
    before: &[(PathBuf, Vec<u8>)],
) {
    let cfg = sb.write("bad.toml", text);
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, says);
    assert!(
        stderr(&out).contains("bad.safetensors") || extra.contains("train"),
        "{what}: {}",
        stderr(&out)
    );
    assert_eq!(sb.snapshot(), before, "{what} changed the store");
    // Not even a lock file for the refused run.
    assert!(!sb.store().join("locks/bad.lock").exists(), "{what}");
    assert!(sb.head("bad").is_none(), "{what}");
}

/// The labels CSV with every 7th row's `b` cell written as `marker` (a missing value).
fn with_missing_b(sb: &Sandbox, from: &str, to: &str, marker: &str) -> String {
    let text = std::fs::read_to_string(sb.path(from)).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 && i % 7 == 0 {
            let cells: Vec<&str> = line.split(',').collect();
            out.push_str(&format!(
                "{},{marker},{},{}\n",
                cells[0], cells[2], cells[3]
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    sb.write(to, &out).to_string_lossy().into_owned()
}

#[test]
fn importing_an_export_adopts_the_configs_missing_spellings() {
    let sb = Sandbox::new();
    write_csv(&sb, "plain.csv", true);
    // The exported run read blank cells as missing (the default `data.missing`).
    with_missing_b(&sb, "plain.csv", "labels.csv", "");
    let cfg = sb.write(
        "orig.toml",
        &config("orig", "classification", "hidden = [6]", ""),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "2"]);
    export(&sb, "orig", "orig.safetensors");
    // The importing run's data spells a missing cell `?`, and its config says so.
    let csv = with_missing_b(&sb, "plain.csv", "question.csv", "?");
    let cfg = sb.write(
        "again.toml",
        &config("again", "classification", "init = \"orig.safetensors\"", "")
            .replace("labels.csv", "question.csv")
            .replace(
                "task = \"classification\"",
                "task = \"classification\"\nmissing = [\"?\"]",
            ),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    // Its checkpoints read `?` as missing, as the run did: `eval` and `predict` on the very
    // rows it trained on work.
    for reference in ["again@0", "again"] {
        let out = json(&sb.ok(&["eval", reference, "--csv", &csv, "--json"]));
        assert_eq!(out["samples"], (WINDOW * WINDOWS) as u64, "{reference}");
        let out = json(&sb.ok(&["predict", reference, "--csv", &csv, "--json"]));
        assert_eq!(
            out["predictions"].as_array().unwrap().len(),
            WINDOW * WINDOWS,
            "{reference}"
        );
    }
    let pre = metadata(&export(&sb, "again", "again.safetensors"))["preprocessor"].clone();
    assert!(pre.contains(r#""missing":["?"]"#), "{pre}");
}

#[test]
fn freezing_the_output_layer_with_a_class_seen_later_is_refused() {
    let sb = Sandbox::new();
    write_csv(&sb, "plain.csv", true);
    // A class first seen in window 3.
    let text = std::fs::read_to_string(sb.path("plain.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 3 * WINDOW && i % 5 == 0 {
            out.push_str(&line.replace(",yes", ",maybe").replace(",no", ",maybe"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    sb.write("labels.csv", &out);
    let cfg = sb.write(
        "f.toml",
        &config("f", "classification", "hidden = [6]", "freeze = [1]"),
    );
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "`train.freeze` holds 1, the output layer");
    assert!(stderr(&out).contains("[maybe]"), "{}", stderr(&out));
    assert!(!sb.store().exists());
    // Freezing a hidden layer is fine: the new class is learned.
    let cfg = sb.write(
        "h.toml",
        &config("h", "classification", "hidden = [6]", "freeze = [0]"),
    );
    sb.ok(&["run", "--config", cfg.to_str().unwrap()]);
}
