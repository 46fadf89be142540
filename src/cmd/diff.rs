//! `relearn diff A B`: how far checkpoint B's weights moved from A's, per layer, and how
//! its metrics changed.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use relearn_model::MlpWeights;
use relearn_store::{Manifest, Store};
use relearn_train::{LoadedCheckpoint, StoredModel};
use serde::Serialize;

use super::{StoreArg, print_json, print_text};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base checkpoint A: id, 6+ hex prefix, run name, NAME~K, NAME@W or tag.
    a: String,
    /// The checkpoint B compared with A (deltas are B - A).
    b: String,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// A checkpoint's identity in the diff.
#[derive(Debug, Serialize)]
struct Side {
    id: relearn_store::CheckpointId,
    run: String,
    window: u64,
    relation: &'static str,
}

/// One tensor (or the total over all tensors).
#[derive(Debug, Serialize)]
struct TensorDiff {
    name: String,
    /// PyTorch layout, as `export` names and shapes the tensors.
    shape: Vec<usize>,
    /// L2 norm of A's values.
    norm_a: f64,
    /// L2 norm of B's values.
    norm_b: f64,
    /// L2 norm of B - A.
    delta_norm: f64,
    /// `delta_norm / norm_a` (null when A is all zeros).
    relative_change: Option<f64>,
}

/// A metric on both sides and its change (null where a side lacks it).
#[derive(Debug, Serialize)]
struct MetricDiff {
    a: Option<f64>,
    b: Option<f64>,
    delta: Option<f64>,
}

#[derive(Debug, Serialize)]
struct MetricsDiff {
    /// The prequential scores (the initial model has none).
    prequential: BTreeMap<String, MetricDiff>,
    train_loss: MetricDiff,
}

/// `diff --json`.
#[derive(Debug, Serialize)]
struct DiffJson {
    a: Side,
    b: Side,
    tensors: Vec<TensorDiff>,
    total: TensorDiff,
    metrics: MetricsDiff,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let a = load(&store, &args.a)?;
    let b = load(&store, &args.b)?;
    let (wa, wb) = match (&a.model, &b.model) {
        (StoredModel::Mlp(wa), StoredModel::Mlp(wb)) => (wa, wb),
        (StoredModel::Trees(ta), StoredModel::Trees(tb)) => {
            return tree_diff(&args, &a.manifest, &b.manifest, ta, tb);
        }
        _ => {
            return Err(UsageError(format!(
                "cannot diff {} and {}: one is an MLP, the other a gbdt (tree) model",
                render::run_at(&a.manifest),
                render::run_at(&b.manifest),
            ))
            .into());
        }
    };
    if wa.widths() != wb.widths() {
        return Err(UsageError(format!(
            "cannot diff {} and {}: their models have different shapes (layer widths {:?} vs {:?}), so their weights do not correspond; diff checkpoints of runs with the same [model] and data",
            render::run_at(&a.manifest),
            render::run_at(&b.manifest),
            wa.widths(),
            wb.widths()
        ))
        .into());
    }
    let report = DiffJson {
        a: side(&a.manifest),
        b: side(&b.manifest),
        tensors: tensor_diffs(wa, wb),
        total: total_diff(wa, wb),
        metrics: metric_diffs(&a.manifest, &b.manifest),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_text(&text(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `diff` of two tree checkpoints: each one's size, what B added, and the metrics.
fn tree_diff(
    args: &Args,
    a: &Manifest,
    b: &Manifest,
    ta: &relearn_trees::Forest,
    tb: &relearn_trees::Forest,
) -> anyhow::Result<ExitCode> {
    let (sa, sb) = (ta.size(), tb.size());
    let added = |x: usize, y: usize| y as i64 - x as i64;
    let report = serde_json::json!({
        "a": side(a),
        "b": side(b),
        "trees": {
            "a": sa,
            "b": sb,
            "added": {
                "boosters": added(sa.boosters, sb.boosters),
                "trees": added(sa.trees, sb.trees),
                "nodes": added(sa.nodes, sb.nodes),
                "leaves": added(sa.leaves, sb.leaves),
            },
        },
        "metrics": metric_diffs(a, b),
    });
    if args.json {
        return print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    let mut lines = vec![
        format!("A {}  {}", render::short(&a.id), render::run_at(a)),
        format!("B {}  {}", render::short(&b.id), render::run_at(b)),
        String::new(),
        format!("{:<8} {:>10} {:>10} {:>10}", "", "A", "B", "B - A"),
    ];
    for (name, x, y) in [
        ("boosters", sa.boosters, sb.boosters),
        ("trees", sa.trees, sb.trees),
        ("nodes", sa.nodes, sb.nodes),
        ("leaves", sa.leaves, sb.leaves),
    ] {
        lines.push(format!("{name:<8} {x:>10} {y:>10} {:>+10}", added(x, y)));
    }
    print_text(&(lines.join("\n") + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

fn load(store: &Store, reference: &str) -> anyhow::Result<LoadedCheckpoint> {
    let id = store.resolve(reference)?;
    Ok(LoadedCheckpoint::load(store, store.manifest(&id)?)?)
}

fn side(m: &Manifest) -> Side {
    Side {
        id: m.id.clone(),
        run: m.run.clone(),
        window: m.window,
        relation: m.relation.as_str(),
    }
}

/// Sums of squares in f64: (|A|^2, |B|^2, |B - A|^2).
fn sums(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    a.iter()
        .zip(b)
        .fold((0.0, 0.0, 0.0), |(sa, sb, sd), (&x, &y)| {
            let (x, y) = (f64::from(x), f64::from(y));
            (sa + x * x, sb + y * y, sd + (y - x) * (y - x))
        })
}

fn tensor_diff(name: String, shape: Vec<usize>, (sa, sb, sd): (f64, f64, f64)) -> TensorDiff {
    let (norm_a, norm_b, delta_norm) = (sa.sqrt(), sb.sqrt(), sd.sqrt());
    TensorDiff {
        name,
        shape,
        norm_a,
        norm_b,
        delta_norm,
        relative_change: (norm_a > 0.0).then(|| delta_norm / norm_a),
    }
}

/// Per tensor, named and shaped as `export` writes them (`layers.{i}.weight` is
/// `[out, in]`). Norms do not depend on the layout.
fn tensor_diffs(a: &MlpWeights, b: &MlpWeights) -> Vec<TensorDiff> {
    let mut out = Vec::new();
    for (i, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        out.push(tensor_diff(
            format!("layers.{i}.weight"),
            vec![la.d_output, la.d_input],
            sums(&la.weight, &lb.weight),
        ));
        out.push(tensor_diff(
            format!("layers.{i}.bias"),
            vec![la.d_output],
            sums(&la.bias, &lb.bias),
        ));
    }
    out
}

/// All parameters as one vector.
fn total_diff(a: &MlpWeights, b: &MlpWeights) -> TensorDiff {
    let mut total = (0.0, 0.0, 0.0);
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        for (x, y) in [(&la.weight, &lb.weight), (&la.bias, &lb.bias)] {
            let (sa, sb, sd) = sums(x, y);
            total = (total.0 + sa, total.1 + sb, total.2 + sd);
        }
    }
    tensor_diff("total".into(), vec![a.num_params()], total)
}

fn metric(a: Option<f64>, b: Option<f64>) -> MetricDiff {
    MetricDiff {
        a,
        b,
        delta: a.zip(b).map(|(a, b)| b - a),
    }
}

fn metric_diffs(a: &Manifest, b: &Manifest) -> MetricsDiff {
    let empty = BTreeMap::new();
    let pa = a.metrics.prequential.as_ref().unwrap_or(&empty);
    let pb = b.metrics.prequential.as_ref().unwrap_or(&empty);
    let names: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    MetricsDiff {
        prequential: names
            .into_iter()
            .map(|k| (k.clone(), metric(pa.get(k).copied(), pb.get(k).copied())))
            .collect(),
        train_loss: metric(a.metrics.train_loss, b.metrics.train_loss),
    }
}

fn text(d: &DiffJson) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let label = |side: &Side| {
        format!(
            "{}  {}@{} ({})",
            render::short(&side.id),
            side.run,
            side.window,
            side.relation
        )
    };
    let _ = writeln!(s, "A  {}", label(&d.a));
    let _ = writeln!(s, "B  {}", label(&d.b));
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<18} {:>10} {:>12} {:>12} {:>12} {:>10}",
        "tensor", "shape", "|A|", "|B|", "|B-A|", "|B-A|/|A|"
    );
    for t in d.tensors.iter().chain([&d.total]) {
        let shape = t
            .shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("x");
        let rel = t.relative_change.map_or_else(
            || "n/a".to_string(),
            |r| format!("{}%", render::num(100.0 * r, 2)),
        );
        let _ = writeln!(
            s,
            "{:<18} {:>10} {} {} {} {:>10}",
            t.name,
            shape,
            render::num_width(t.norm_a, 6, 12),
            render::num_width(t.norm_b, 6, 12),
            render::num_width(t.delta_norm, 6, 12),
            rel
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{:<24} {:>10} {:>10} {:>10}", "metric", "A", "B", "B-A");
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| render::num(v, 4));
    let delta = |v: Option<f64>| {
        v.map_or_else(
            || "-".to_string(),
            |v| {
                let text = render::num(v, 4);
                if text.starts_with('-') || v.is_nan() {
                    text
                } else {
                    format!("+{text}")
                }
            },
        )
    };
    let rows = d
        .metrics
        .prequential
        .iter()
        .map(|(k, m)| (format!("prequential {k}"), m))
        .chain([("train_loss".to_string(), &d.metrics.train_loss)]);
    for (name, m) in rows {
        let _ = writeln!(
            s,
            "{name:<24} {:>10} {:>10} {:>10}",
            fmt(m.a),
            fmt(m.b),
            delta(m.delta)
        );
    }
    if d.metrics.prequential.is_empty() {
        let _ = writeln!(s, "(no prequential scores: both are initial models)");
    }
    s
}
