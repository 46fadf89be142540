//! The CPU backends a run can select with `run.backend`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A Burn CPU backend. Both are pure Rust; Flex is Burn's current CPU backend and the
/// default, NdArray the older one (deprecated upstream, kept for comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `burn-flex`: Burn's pure-Rust CPU backend.
    #[default]
    Flex,
    /// `burn-ndarray`: the older pure-Rust CPU backend.
    Ndarray,
}

impl Backend {
    /// Every backend, in the order the docs list them.
    pub const ALL: [Backend; 2] = [Backend::Flex, Backend::Ndarray];

    /// The config spelling: `"flex"` or `"ndarray"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// A plain (inference) device of this backend.
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            // Deprecated upstream in favour of Flex; kept selectable so the two can be compared.
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray(),
        }
    }
}

/// Which implementation trains a model (`run.trainer`: `"fused"` or `"autodiff"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitPath {
    /// relearn's fused MLP trainer: `gemm` products on flat buffers, fused element-wise
    /// passes, Adam in one pass. The default on the Flex backend.
    Fused,
    /// Burn's autodiff: forward on tensors, `backward()`, Burn's `Adam::step` per parameter.
    /// The default on every other backend.
    Autodiff,
}

impl FitPath {
    /// Every path, in the order the docs list them.
    pub const ALL: [FitPath; 2] = [FitPath::Fused, FitPath::Autodiff];

    /// The config spelling: `"fused"` or `"autodiff"`.
    pub fn name(self) -> &'static str {
        match self {
            FitPath::Fused => "fused",
            FitPath::Autodiff => "autodiff",
        }
    }

    /// The path a run on `backend` takes unless `run.trainer` says otherwise: the fused
    /// trainer on Flex, Burn's autodiff elsewhere.
    pub fn default_for(backend: Backend) -> FitPath {
        match backend {
            Backend::Flex => FitPath::Fused,
            Backend::Ndarray => FitPath::Autodiff,
        }
    }
}
