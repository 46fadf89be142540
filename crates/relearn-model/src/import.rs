//! `model.init`: a model brought from outside the run, read from a safetensors file.
//!
//! Two kinds of file are read:
//! - a PyTorch `nn.Sequential` of `nn.Linear` layers and activations saved with
//!   `safetensors.torch.save_file(model.state_dict(), path)`: tensors `N.weight` (`[out, in]`)
//!   and `N.bias` (`[out]`), with an optional common prefix (`net.0.weight`); the indices
//!   need not be consecutive (activations take indices too) but each linear layer needs both
//!   tensors and consecutive layers must chain;
//! - `relearn export`'s output, the same layout (`layers.N.*`) with relearn's metadata: then
//!   the checkpoint's preprocessing comes from the file too, so export then import is the
//!   identity.
//!
//! Weights are converted to `f32` from `f32`, `f64`, `f16` or `bf16`; anything else, and any
//! NaN or infinity, is refused. Every refusal is an [`ImportError`] saying what, where and how
//! to fix it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use crate::{LayerWeights, MlpWeights};
use relearn_data::{Preprocessor, Scaler, Scaling, TargetScaler, Task};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

/// Why a `model.init` file cannot be imported (bad input: exit code 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// Where the file comes from, as recorded in `extra.import.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    /// A safetensors file without relearn's metadata (PyTorch's `state_dict`).
    Pytorch,
    /// `relearn export`'s output.
    RelearnExport,
}

impl ImportFormat {
    /// `"pytorch"` or `"relearn-export"`.
    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Pytorch => "pytorch",
            ImportFormat::RelearnExport => "relearn-export",
        }
    }
}

/// A model read from a `model.init` file.
#[derive(Clone, PartialEq)]
pub struct ImportedModel {
    /// The file's name (without its folder), as checkpoints record it.
    pub file_name: String,
    /// sha256 of the file's bytes, 64 lowercase hex digits.
    pub sha256: String,
    /// Where it comes from.
    pub format: ImportFormat,
    /// The weights, in relearn's (Burn's) layout `[in, out]`.
    pub weights: MlpWeights,
    /// Per linear layer, the name of its weight tensor in the file (for messages).
    pub weight_names: Vec<String>,
    /// A relearn export's preprocessing (scaler, label map, target standardisation).
    pub preprocessor: Option<Preprocessor>,
    /// A relearn export's activation (`"relu"`, `"gelu"`, `"tanh"`).
    pub activation: Option<String>,
}

impl fmt::Debug for ImportedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedModel")
            .field("file_name", &self.file_name)
            .field("sha256", &self.sha256)
            .field("format", &self.format)
            .field("widths", &self.weights.widths())
            .finish()
    }
}

impl ImportedModel {
    /// The `[out, in]` shape of layer `l`'s weight as the file holds it, e.g. `[32, 6]`.
    pub fn file_shape(&self, l: usize) -> [usize; 2] {
        let layer = &self.weights.layers[l];
        [layer.d_output, layer.d_input]
    }

    /// `tensor `0.weight` (shape [32, 6])` for layer `l`.
    pub fn describe_layer(&self, l: usize) -> String {
        format!(
            "tensor `{}` (shape {:?}, [out, in])",
            self.weight_names[l],
            self.file_shape(l)
        )
    }
}

/// Hidden layers at most (as `model.hidden`).
const MAX_LAYERS: usize = 17;

/// Reads and checks the model in `path`.
pub fn read(path: &Path) -> Result<ImportedModel, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ImportError(format!(
            "cannot read {}: {e} (the path is relative to the config file's folder)",
            path.display()
        ))
    })?;
    let file_name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned();
    parse(&bytes, &file_name, &path.display().to_string())
}

/// The tensors of one linear layer, `[weight, bias]`, by name (either may be missing).
type LayerTensorNames = [Option<String>; 2];

/// [`read`] on a file's bytes; `shown` names the file in messages.
pub fn parse(bytes: &[u8], file_name: &str, shown: &str) -> Result<ImportedModel, ImportError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let tensors = match SafeTensors::deserialize(bytes) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                shown,
                format!(
                    "is not a readable safetensors file ({e}); save the model with \
                 `safetensors.torch.save_file(model.state_dict(), path)` or `relearn export`"
                ),
            );
        }
    };
    let metadata: HashMap<String, String> = SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    let layers = group_by_layer(&tensors, shown)?;
    let (weights, weight_names) = read_layers(&tensors, &layers, shown)?;
    let (format, preprocessor, activation) = provenance(&metadata, &weights, shown)?;
    Ok(ImportedModel {
        file_name: file_name.to_string(),
        sha256,
        format,
        weights,
        weight_names,
        preprocessor,
        activation,
    })
}

/// The tensors' names grouped by layer index (`PREFIX.N.weight` / `PREFIX.N.bias`), in the
/// order of the indices; refuses no tensors, other names, two prefixes and too many layers.
fn group_by_layer(
    tensors: &SafeTensors<'_>,
    shown: &str,
) -> Result<BTreeMap<u64, LayerTensorNames>, ImportError> {
    let mut prefix: Option<(String, String)> = None;
    let mut layers: BTreeMap<u64, LayerTensorNames> = BTreeMap::new();
    let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
    names.sort();
    if names.is_empty() {
        return fail(shown, "holds no tensors; relearn imports an nn.Sequential of nn.Linear layers (`0.weight`, `0.bias`, ...)".into());
    }
    for name in &names {
        let Some((pre, index, slot)) = split_layer_name(name) else {
            return fail(
                shown,
                format!(
                    "tensor `{name}` is not the weight or bias of a layer of an nn.Sequential \
                 (expected names like `0.weight`, `0.bias`, `net.2.weight`); relearn imports a \
                 stack of nn.Linear layers and activations only (no normalisation, convolution \
                 or embedding layers)"
                ),
            );
        };
        match &prefix {
            None => prefix = Some((pre, name.clone())),
            Some((p, first)) if *p != pre => {
                return fail(
                    shown,
                    format!(
                        "tensors `{first}` and `{name}` have different prefixes (`{p}` and `{pre}`); \
                     save one nn.Sequential's state_dict"
                    ),
                );
            }
            Some(_) => {}
        }
        layers.entry(index).or_default()[slot] = Some(name.clone());
    }
    if layers.len() > MAX_LAYERS {
        return fail(
            shown,
            format!(
                "has {} linear layers; relearn takes at most {MAX_LAYERS} (16 hidden layers)",
                layers.len()
            ),
        );
    }
    Ok(layers)
}

/// `net.2.weight` as its prefix (`net`, or empty), its layer index (2) and its slot (0 for a
/// weight, 1 for a bias); `None` for any other name.
fn split_layer_name(name: &str) -> Option<(String, u64, usize)> {
    let (head, kind) = name.rsplit_once('.')?;
    let slot = match kind {
        "weight" => 0,
        "bias" => 1,
        _ => return None,
    };
    let (pre, index) = match head.rsplit_once('.') {
        Some((pre, index)) => (pre, index),
        None => ("", head),
    };
    let index: u64 = index.parse().ok()?;
    Some((pre.to_string(), index, slot))
}

/// Reads every layer of `layers` in turn, each chaining to the one before; returns the
/// weights and, per layer, its weight tensor's name.
fn read_layers(
    tensors: &SafeTensors<'_>,
    layers: &BTreeMap<u64, LayerTensorNames>,
    shown: &str,
) -> Result<(MlpWeights, Vec<String>), ImportError> {
    let mut weights = MlpWeights { layers: Vec::new() };
    let mut weight_names: Vec<String> = Vec::new();
    for (index, names) in layers {
        let (weight, bias) = weight_and_bias(*index, names, shown)?;
        let previous = weights.layers.last().map(|prev| {
            let prev_name = weight_names.last().expect("a name per layer");
            (prev, prev_name.as_str())
        });
        let layer = read_layer(tensors, weight, bias, previous, shown)?;
        weights.layers.push(layer);
        weight_names.push(weight.clone());
    }
    Ok((weights, weight_names))
}

/// Layer `index`'s weight and bias names; refuses a layer that lacks either.
fn weight_and_bias<'a>(
    index: u64,
    names: &'a LayerTensorNames,
    shown: &str,
) -> Result<(&'a String, &'a String), ImportError> {
    match names {
        [Some(w), Some(b)] => Ok((w, b)),
        [Some(w), None] => fail(
            shown,
            format!(
                "tensor `{w}` has no bias (`{}`): every linear layer needs its weight and \
                     its bias (build the layers with nn.Linear(..., bias=True))",
                w.replace(".weight", ".bias")
            ),
        ),
        [None, Some(b)] => fail(
            shown,
            format!(
                "tensor `{b}` has no weight (`{}`): every linear layer needs its weight and its bias",
                b.replace(".bias", ".weight")
            ),
        ),
        [None, None] => unreachable!("layer {index} was made by one of its tensors"),
    }
}

/// The linear layer of tensors `weight` and `bias`, in relearn's `[in, out]` layout; refuses
/// shapes that are not a layer's or that do not chain to `previous` (the layer before and its
/// weight's name).
fn read_layer(
    tensors: &SafeTensors<'_>,
    weight: &str,
    bias: &str,
    previous: Option<(&LayerWeights, &str)>,
    shown: &str,
) -> Result<LayerWeights, ImportError> {
    let w = floats(tensors, weight).or_else(|m| fail(shown, m))?;
    let b = floats(tensors, bias).or_else(|m| fail(shown, m))?;
    let [d_out, d_in] = match w.1[..] {
        [o, i] if o > 0 && i > 0 => [o, i],
        _ => {
            return fail(
                shown,
                format!(
                    "tensor `{weight}` has shape {:?}; a linear layer's weight is 2-D, [out, in]",
                    w.1
                ),
            );
        }
    };
    if b.1 != [d_out] {
        return fail(
            shown,
            format!(
                "tensor `{bias}` has shape {:?} but `{weight}` has shape {:?}: the bias of a \
                 layer with {d_out} outputs has shape [{d_out}]",
                b.1, w.1
            ),
        );
    }
    if let Some((prev, prev_name)) = previous
        && prev.d_output != d_in
    {
        return fail(
            shown,
            format!(
                "layers do not chain: tensor `{prev_name}` has shape [{}, {}] ({} outputs) but the \
                 next layer's `{weight}` has shape {:?} ({d_in} inputs); each layer's input \
                 width must be the previous layer's output width",
                prev.d_output, prev.d_input, prev.d_output, w.1
            ),
        );
    }
    // PyTorch's [out, in] to relearn's [in, out].
    let mut transposed = vec![0.0f32; d_in * d_out];
    for o in 0..d_out {
        for i in 0..d_in {
            transposed[i * d_out + o] = w.0[o * d_in + i];
        }
    }
    Ok(LayerWeights {
        d_input: d_in,
        d_output: d_out,
        weight: transposed,
        bias: b.0,
    })
}

/// Where the file comes from, by its metadata: a relearn export (with its preprocessor, read
/// for `weights`' input width, and its activation) or a PyTorch file (neither).
fn provenance(
    metadata: &HashMap<String, String>,
    weights: &MlpWeights,
    shown: &str,
) -> Result<(ImportFormat, Option<Preprocessor>, Option<String>), ImportError> {
    let relearn = metadata
        .get("exported_by")
        .is_some_and(|v| v.starts_with("relearn"));
    if !relearn {
        return Ok((ImportFormat::Pytorch, None, None));
    }
    let pre = exported_preprocessor(metadata, weights.widths()[0]).or_else(|m| {
        fail(
            shown,
            format!("{m}; export the checkpoint again with `relearn export`"),
        )
    })?;
    Ok((
        ImportFormat::RelearnExport,
        Some(pre),
        metadata.get("activation").cloned(),
    ))
}

/// The error for `shown` (the file) saying `message`.
fn fail<T>(shown: &str, message: String) -> Result<T, ImportError> {
    Err(ImportError(format!("{shown}: {message}")))
}

/// Tensor `name`'s values as `f32` (converted from f64, f16 or bf16) and its shape; refuses
/// other dtypes and non-finite values.
fn floats(tensors: &SafeTensors<'_>, name: &str) -> Result<(Vec<f32>, Vec<usize>), String> {
    let view = tensors
        .tensor(name)
        .map_err(|e| format!("tensor `{name}`: {e}"))?;
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        other => {
            return Err(format!(
                "tensor `{name}` has dtype {other:?}; relearn reads float weights (f32, or f64, \
                 f16 and bf16, which it converts to f32): save `model.float().state_dict()`"
            ));
        }
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "tensor `{name}` holds {} at flat index {i} (as f32); a model to start from needs \
             finite weights: check the training that made it",
            values[i]
        ));
    }
    Ok((values, view.shape().to_vec()))
}

/// IEEE half precision to single (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// The preprocessing a relearn export carries: the exact state (`preprocessor`, written by
/// relearn since model import exists), or else the transform its `scaler_mean`/`scaler_std`
/// describe, kept fixed (`scaler_mode` `initial`, or `none`).
fn exported_preprocessor(
    meta: &HashMap<String, String>,
    d_input: usize,
) -> Result<Preprocessor, String> {
    if let Some(state) = meta.get("preprocessor") {
        return Preprocessor::from_bytes(state.as_bytes())
            .map_err(|e| format!("its `preprocessor` metadata is not relearn's: {e}"));
    }
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| format!("it says it is a relearn export but has no `{key}` metadata"))
    };
    let json = |key: &str| -> Result<serde_json::Value, String> {
        serde_json::from_str(get(key)?).map_err(|e| format!("its `{key}` metadata: {e}"))
    };
    let parse = |key: &str| -> Result<Vec<f64>, String> {
        serde_json::from_value(json(key)?).map_err(|e| format!("its `{key}` metadata: {e}"))
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        serde_json::from_value(json(key)?).map_err(|e| format!("its `{key}` metadata: {e}"))
    };
    let task = match get("task")?.as_str() {
        "classification" => Task::Classification,
        "regression" => Task::Regression,
        other => return Err(format!("its `task` metadata is {other:?}")),
    };
    let mode = Scaling::parse(get("scaler_mode")?)
        .ok_or_else(|| "its `scaler_mode` metadata is not none, initial or running".to_string())?;
    let feature_names = strings("feature_names")?;
    let (mean, std) = (parse("scaler_mean")?, parse("scaler_std")?);
    if feature_names.len() != d_input || mean.len() != d_input || std.len() != d_input {
        return Err(format!(
            "its metadata describes {} features ({} means, {} stds) but its first layer takes {d_input}",
            feature_names.len(),
            mean.len(),
            std.len()
        ));
    }
    let scaler = match mode {
        Scaling::None => Scaler::new(Scaling::None, d_input),
        // One sample's worth of statistics whose transform is `(x - mean) / std` exactly
        // (`sqrt(std * std) == std` in binary floating point), held fixed by updates.
        _ => Scaler {
            mode: Scaling::Initial,
            count: 1,
            mean,
            m2: std.iter().map(|s| s * s).collect(),
            clip: relearn_data::DEFAULT_CLIP,
        },
    };
    let target = match (meta.get("target_mean"), meta.get("target_std")) {
        (Some(m), Some(s)) => Some(TargetScaler {
            mean: m
                .parse()
                .map_err(|_| "its `target_mean` metadata".to_string())?,
            std: s
                .parse()
                .map_err(|_| "its `target_std` metadata".to_string())?,
        }),
        _ => None,
    };
    let pre = Preprocessor {
        task,
        feature_names,
        classes: strings("classes")?,
        scaler,
        target,
        encoders: meta
            .get("encoders")
            .map(|e| serde_json::from_str(e).map_err(|_| "its `encoders` metadata".to_string()))
            .transpose()?,
        // A file without the exact `preprocessor` entry has no time columns.
        time: Vec::new(),
    };
    Preprocessor::from_bytes(&pre.to_bytes()).map_err(|e| format!("its metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_converts_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }
}
