//! A forest as bytes: one JSON document whose objects have their keys sorted, so that equal
//! forests give equal bytes (perpetual keeps a tree's nodes in a `HashMap`, whose order
//! changes from run to run). Each booster is perpetual's own JSON (`BoosterIO::json_dump`),
//! so the library's loaders, in Rust and in Python, read it as it is.

use perpetual::PerpetualBooster;
use serde_json::{Map, Value, json};

use crate::TreesError;
use crate::forest::{Forest, Output, TreeTask};

/// The `format` field of the document.
pub const FORMAT: &str = "relearn-gbdt";

/// The document's version: a reader refuses others.
const VERSION: u64 = 1;

impl Forest {
    /// The forest as canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .map(|o| {
                let stages: Vec<Value> = o
                    .stages
                    .iter()
                    .map(|b| serde_json::to_value(b).expect("a booster serialises"))
                    .collect();
                json!({ "constant": o.constant, "stages": stages })
            })
            .collect();
        let doc = json!({
            "format": FORMAT,
            "version": VERSION,
            "task": self.task,
            "inputs": self.inputs,
            "classes": self.classes,
            "outputs": outputs,
        });
        serde_json::to_vec(&sorted(doc)).expect("a JSON value serialises")
    }

    /// Reads bytes [`Forest::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Forest, TreesError> {
        let bad = |m: String| TreesError::Decode(m);
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let field = |name: &str| {
            doc.get(name)
                .ok_or_else(|| bad(format!("no `{name}` field")))
        };
        if field("format")? != FORMAT {
            return Err(bad(format!("`format` is not {FORMAT:?}")));
        }
        let version = field("version")?.as_u64();
        if version != Some(VERSION) {
            return Err(bad(format!(
                "version {version:?}; this relearn reads version {VERSION}"
            )));
        }
        let task: TreeTask =
            serde_json::from_value(field("task")?.clone()).map_err(|e| bad(e.to_string()))?;
        let count = |name: &str| -> Result<usize, TreesError> {
            field(name)?
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("`{name}` is not a count")))
        };
        let (inputs, classes) = (count("inputs")?, count("classes")?);
        let outputs = field("outputs")?
            .as_array()
            .ok_or_else(|| bad("`outputs` is not a list".into()))?
            .iter()
            .map(read_output)
            .collect::<Result<Vec<_>, _>>()?;
        let expected = match (task, classes) {
            (TreeTask::Regression, 1) | (TreeTask::Classification, 2) => 1,
            (TreeTask::Classification, k) if k > 2 => k,
            _ => return Err(bad(format!("{classes} classes for a {task:?} forest"))),
        };
        if outputs.len() != expected {
            return Err(bad(format!(
                "{} outputs for {classes} classes (expected {expected})",
                outputs.len()
            )));
        }
        Ok(Forest {
            task,
            inputs,
            classes,
            outputs,
        })
    }

    /// Output `k`'s constant and its stages as perpetual's own JSON (each loads with
    /// perpetual's `load_booster`; the output is the constant plus the sum of the stages'
    /// predictions), with `metadata` entries added to each.
    pub fn output_json(&self, k: usize, metadata: &[(&str, String)]) -> Option<(f64, Vec<String>)> {
        let output = self.outputs.get(k)?;
        let stages = output
            .stages
            .iter()
            .map(|b| {
                let mut b = b.clone();
                for (key, value) in metadata {
                    b.insert_metadata(key.to_string(), value.clone());
                }
                let value = serde_json::to_value(&b).expect("a booster serialises");
                serde_json::to_string(&sorted(value)).expect("a JSON value serialises")
            })
            .collect();
        Some((output.constant, stages))
    }

    /// How many outputs the forest has.
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }
}

/// One entry of `outputs`.
fn read_output(v: &Value) -> Result<Output, TreesError> {
    let bad = |m: &str| TreesError::Decode(m.to_string());
    let constant = v
        .get("constant")
        .and_then(Value::as_f64)
        .ok_or_else(|| bad("an output's `constant` is not a number"))?;
    let stages = v
        .get("stages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("an output's `stages` is not a list"))?
        .iter()
        .map(|b| {
            serde_json::from_value::<PerpetualBooster>(b.clone())
                .map_err(|e| TreesError::Decode(format!("a booster does not decode: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Output { constant, stages })
}

/// `v` with every object's keys in order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
