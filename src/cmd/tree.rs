//! `relearn tree`: the lineage of each run.

use std::collections::BTreeMap;
use std::process::ExitCode;

use relearn_store::{CheckpointId, Manifest, Store};
use serde::Serialize;

use super::{StoreArg, print_json, print_text};
use crate::exit::UsageError;
use crate::render;

/// Arguments of `relearn tree`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this run.
    #[arg(long, value_name = "NAME")]
    run: Option<String>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "dot", "mermaid", "json"])]
    format: String,
    /// Show every checkpoint of long chains (text format folds their middle).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    store: StoreArg,
}

/// One run's lineage: its checkpoints and who descends from whom.
pub struct Lineage {
    run: String,
    mode: String,
    head: Option<CheckpointId>,
    nodes: Vec<Manifest>,
    children: BTreeMap<String, Vec<usize>>,
    roots: Vec<usize>,
}

impl Lineage {
    /// The lineage of `run`, whose checkpoints are `nodes` (its [`Store::run_chain`]).
    fn build(store: &Store, run: &str, nodes: Vec<Manifest>) -> anyhow::Result<Lineage> {
        let index: BTreeMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .collect();
        let mut children: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (i, m) in nodes.iter().enumerate() {
            match m.parent.as_deref().filter(|p| index.contains_key(p)) {
                Some(p) => children.entry(p.to_string()).or_default().push(i),
                None => roots.push(i),
            }
        }
        let mode = nodes.last().map(|m| m.mode.clone()).unwrap_or_default();
        Ok(Lineage {
            run: run.to_string(),
            mode,
            head: store.run_head(run)?,
            nodes,
            children,
            roots,
        })
    }

    fn kids(&self, i: usize) -> &[usize] {
        self.children
            .get(self.nodes[i].id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn label(&self, i: usize) -> String {
        let m = &self.nodes[i];
        let mut s = render::node_label(m);
        if self.head.as_deref() == Some(m.id.as_str()) {
            s.push_str("  <- head");
        }
        s
    }

    fn text(&self, all: bool, out: &mut String) {
        // Every policy but stateless builds a chain (drift's resets are links of it).
        let shape = if self.mode == "stateless" {
            "a star on the initial model"
        } else {
            "a chain"
        };
        out.push_str(&format!(
            "{} ({}, {} checkpoints: {shape})\n",
            self.run,
            self.mode,
            self.nodes.len()
        ));
        for (k, &root) in self.roots.iter().enumerate() {
            self.text_node(root, "", k + 1 == self.roots.len(), true, all, out);
        }
    }

    /// Writes node `i` and its descendants. A node with a single child continues at the same
    /// indentation (a chain reads top to bottom); several children branch.
    fn text_node(
        &self,
        i: usize,
        prefix: &str,
        last: bool,
        top: bool,
        all: bool,
        out: &mut String,
    ) {
        // Follow the single-child chain from i.
        let mut chain = vec![i];
        while let [only] = self.kids(*chain.last().expect("non-empty")) {
            chain.push(*only);
        }
        let (branch, cont) = if top {
            ("", "")
        } else if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        let fold = !all && chain.len() > 12;
        for (k, &node) in chain.iter().enumerate() {
            if fold && k == 3 {
                let (a, b) = (&self.nodes[chain[3]], &self.nodes[chain[chain.len() - 4]]);
                out.push_str(&format!(
                    "{prefix}{cont}⋮  {} more, windows {}..{} (--all shows them)\n",
                    chain.len() - 6,
                    a.window,
                    b.window
                ));
            }
            if fold && k >= 3 && k < chain.len() - 3 {
                continue;
            }
            let lead = if k == 0 { branch } else { cont };
            out.push_str(&format!("{prefix}{lead}● {}\n", self.label(node)));
        }
        let tail = *chain.last().expect("non-empty");
        let kids = self.kids(tail);
        let child_prefix = format!("{prefix}{cont}");
        for (k, &kid) in kids.iter().enumerate() {
            self.text_node(kid, &child_prefix, k + 1 == kids.len(), false, all, out);
        }
    }

    /// The run as flat JSON: nodes in creation order, linked by ids (`parent`, `children`),
    /// so a chain of thousands of checkpoints does not nest thousands deep (JSON parsers
    /// limit nesting: serde_json to 128, jq to 256).
    fn json(&self) -> JsonRun {
        let ids = |list: &[usize]| -> Vec<CheckpointId> {
            list.iter().map(|&k| self.nodes[k].id.clone()).collect()
        };
        JsonRun {
            run: self.run.clone(),
            mode: self.mode.clone(),
            head: self.head.clone(),
            roots: ids(&self.roots),
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, m)| JsonNode {
                    id: m.id.clone(),
                    window: m.window,
                    relation: m.relation.as_str().to_string(),
                    parent: m.parent.clone(),
                    replaces: m.replaces.clone(),
                    prequential: m.metrics.prequential.clone(),
                    tags: m.tags.clone(),
                    children: ids(self.kids(i)),
                })
                .collect(),
        }
    }
}

/// `tree --format json`: one entry per run.
#[derive(Serialize)]
struct JsonRun {
    run: String,
    mode: String,
    head: Option<CheckpointId>,
    /// Ids of the checkpoints without a parent in the run (its initial model).
    roots: Vec<CheckpointId>,
    /// Every checkpoint of the run, in creation order.
    nodes: Vec<JsonNode>,
}

#[derive(Serialize)]
struct JsonNode {
    id: CheckpointId,
    window: u64,
    relation: String,
    parent: Option<CheckpointId>,
    replaces: Option<CheckpointId>,
    prequential: Option<BTreeMap<String, f64>>,
    tags: Vec<String>,
    /// Ids of the checkpoints whose `parent` this is.
    children: Vec<CheckpointId>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let runs = match &args.run {
        Some(run) => {
            if store.run_head(run)?.is_none() {
                let runs = store.runs()?;
                return Err(UsageError(format!(
                    "no run named '{run}' in {}; runs: {}",
                    store.root().display(),
                    render::list(&runs)
                ))
                .into());
            }
            vec![run.clone()]
        }
        None => store.runs()?,
    };
    let names: Vec<&str> = runs.iter().map(String::as_str).collect();
    let (chains, unreadable) = store.readable_run_chains(&names)?;
    let lineages = runs
        .iter()
        .zip(chains)
        .map(|(r, nodes)| Lineage::build(&store, r, nodes))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match args.format.as_str() {
        "json" => print_json(
            &serde_json::json!({ "runs": lineages.iter().map(Lineage::json).collect::<Vec<_>>() }),
        )?,
        "dot" => print_text(&dot(&lineages))?,
        "mermaid" => print_text(&mermaid(&lineages))?,
        _ => {
            let mut out = String::new();
            for (k, l) in lineages.iter().enumerate() {
                if k > 0 {
                    out.push('\n');
                }
                l.text(args.all, &mut out);
            }
            print_text(&out)?;
        }
    }
    super::listed_past(&unreadable)
}

fn dot(lineages: &[Lineage]) -> String {
    let mut out = String::from(
        "digraph lineage {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (k, l) in lineages.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{k} {{\n    label=\"{} ({})\";\n",
            l.run, l.mode
        ));
        for (i, m) in l.nodes.iter().enumerate() {
            let head = if l.head.as_deref() == Some(m.id.as_str()) {
                ", penwidth=2"
            } else {
                ""
            };
            out.push_str(&format!(
                "    \"{}\" [label=\"{}\\nwindow {} {}{}\"{head}];\n",
                m.id,
                render::short(&m.id),
                m.window,
                m.relation.as_str(),
                render::metric_suffix(m),
            ));
            for &c in l.kids(i) {
                out.push_str(&format!("    \"{}\" -> \"{}\";\n", m.id, l.nodes[c].id));
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

fn mermaid(lineages: &[Lineage]) -> String {
    let mut out = String::from("graph TD\n");
    for l in lineages {
        out.push_str(&format!(
            "  subgraph {}[\"{} ({})\"]\n",
            mermaid_id(&l.run),
            l.run,
            l.mode
        ));
        for (i, m) in l.nodes.iter().enumerate() {
            out.push_str(&format!(
                "    c{}[\"{} w{} {}{}\"]\n",
                render::short(&m.id),
                render::short(&m.id),
                m.window,
                m.relation.as_str(),
                render::metric_suffix(m)
            ));
            for &c in l.kids(i) {
                out.push_str(&format!(
                    "    c{} --> c{}\n",
                    render::short(&m.id),
                    render::short(&l.nodes[c].id)
                ));
            }
        }
        out.push_str("  end\n");
    }
    out
}

fn mermaid_id(run: &str) -> String {
    format!(
        "run_{}",
        run.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}
