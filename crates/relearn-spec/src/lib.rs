//! What a run is: the config file as written, validated into a [`RunSpec`] before any
//! training sees it, with its defaults and fingerprint; the words of a config (update policies,
//! anchors, metrics, gates) and the seeds every random choice of a run is derived from.
//!
//! It knows no training, store or data source beyond their settings: the trainer, the
//! commands and a server all read a run's settings from here.
//!
//! The file as written is [`RawConfig`] (`raw`); each of its sections checks itself
//! (`validate`) into its part of the [`RunSpec`] (`spec`).

pub mod defaults;
mod error;
pub mod gate;
pub mod metric;
mod raw;
pub mod seed;
mod spec;
mod validate;
pub mod vocab;

pub use error::ConfigError;
pub use gate::{Gate, Verdict};
pub use metric::Metric;
pub use raw::*;
pub use spec::*;
pub use validate::valid_name;
pub use vocab::{
    AnchorKind, DetectorKind, Mode, ModelKind, Policy, Sampling, StatelessInitKind, Vocabulary,
};
