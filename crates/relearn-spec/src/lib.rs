//! What a run is: the config file as written, validated into a [`RunSpec`] before any
//! training sees it, with its defaults and fingerprint; the words of a config (update policies,
//! anchors, metrics, gates) and the seeds every random choice of a run is derived from.
//!
//! It knows no training, store or data source beyond their settings: the trainer, the
//! commands and a server all read a run's settings from here.

mod config;
pub mod defaults;
pub mod gate;
pub mod metric;
pub mod seed;
pub mod vocab;

pub use config::*;
pub use gate::{Gate, Verdict};
pub use metric::Metric;
pub use vocab::{AnchorKind, Mode, Policy, Sampling};
