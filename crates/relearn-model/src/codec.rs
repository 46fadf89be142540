//! A small, deterministic byte format for MLP weights.
//!
//! Checkpoint ids hash these bytes, so the encoding must be a pure function of the values:
//! a magic tag, the layer count, then per layer `d_input`, `d_output` (u32 LE), the weight
//! matrix `[d_input, d_output]` row-major and the bias `[d_output]`, as f32 LE.

use crate::bytes::{ByteReader, Truncated};

/// Why weight bytes could not be decoded or applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    /// The bytes do not start with the expected tag.
    #[error("not relearn MLP weights (bad magic tag)")]
    BadMagic,
    /// The bytes end before the declared shapes are filled.
    #[error("MLP weights are truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// Bytes the header promises.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// Layer widths disagree with the model configuration.
    #[error("MLP weights have layer widths {found:?}, but the model config expects {expected:?}")]
    ShapeMismatch {
        /// Widths from the configuration.
        expected: Vec<usize>,
        /// Widths in the weights.
        found: Vec<usize>,
    },
}

const MAGIC: &[u8; 8] = b"RLMLP\x00\x01\x00";

/// One layer's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// Input width.
    pub d_input: usize,
    /// Output width.
    pub d_output: usize,
    /// `[d_input, d_output]`, row-major (Burn's layout: `y = x W + b`).
    pub weight: Vec<f32>,
    /// `[d_output]`.
    pub bias: Vec<f32>,
}

/// All parameters of an MLP, input side first.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpWeights {
    /// The layers, input side first.
    pub layers: Vec<LayerWeights>,
}

impl MlpWeights {
    /// Layer widths from input to output.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.layers.first().map(|l| l.d_input).into_iter().collect();
        widths.extend(self.layers.iter().map(|l| l.d_output));
        widths
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }

    /// Encodes the weights (see the module docs for the format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 8 * self.layers.len() + 4 * self.num_params());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.layers.len() as u32).to_le_bytes());
        for layer in &self.layers {
            out.extend_from_slice(&(layer.d_input as u32).to_le_bytes());
            out.extend_from_slice(&(layer.d_output as u32).to_le_bytes());
            for v in layer.weight.iter().chain(&layer.bias) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Decodes bytes written by [`MlpWeights::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<MlpWeights, CodecError> {
        let mut reader = ByteReader::new(bytes);
        let truncated = |t: Truncated| CodecError::Truncated {
            expected: t.expected,
            found: t.found,
        };
        if reader.take(MAGIC.len()).map_err(truncated)? != MAGIC {
            return Err(CodecError::BadMagic);
        }
        let n_layers = reader.u32().map_err(truncated)? as usize;
        let mut layers = Vec::with_capacity(n_layers.min(64));
        for _ in 0..n_layers {
            let d_input = reader.u32().map_err(truncated)? as usize;
            let d_output = reader.u32().map_err(truncated)? as usize;
            let weight = reader.f32s(d_input * d_output).map_err(truncated)?;
            let bias = reader.f32s(d_output).map_err(truncated)?;
            layers.push(LayerWeights {
                d_input,
                d_output,
                weight,
                bias,
            });
        }
        Ok(MlpWeights { layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MlpWeights {
        MlpWeights {
            layers: vec![
                LayerWeights {
                    d_input: 2,
                    d_output: 3,
                    weight: vec![1.0, -2.0, 3.5, 0.0, 1e-8, -0.25],
                    bias: vec![0.1, 0.2, 0.3],
                },
                LayerWeights {
                    d_input: 3,
                    d_output: 1,
                    weight: vec![f32::MIN_POSITIVE, 2.0, -3.0],
                    bias: vec![-1.0],
                },
            ],
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let w = sample();
        let bytes = w.to_bytes();
        assert_eq!(bytes.len(), 8 + 4 + 2 * 8 + 4 * w.num_params());
        assert_eq!(MlpWeights::from_bytes(&bytes).unwrap(), w);
        assert_eq!(w.widths(), vec![2, 3, 1]);
    }

    #[test]
    fn truncated_and_foreign_bytes_are_rejected() {
        let bytes = sample().to_bytes();
        assert!(matches!(
            MlpWeights::from_bytes(&bytes[..bytes.len() - 1]),
            Err(CodecError::Truncated { .. })
        ));
        assert_eq!(
            MlpWeights::from_bytes(b"not weights at all"),
            Err(CodecError::BadMagic)
        );
        assert!(matches!(
            MlpWeights::from_bytes(b"RL"),
            Err(CodecError::Truncated { .. })
        ));
    }
}
