//! What is wrong with a config file, and where.

use std::path::PathBuf;

/// An invalid config file: what is wrong, where (file, key, line) and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type (toml reports the line and column).
    #[error("{path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, which names the line, column and key.
        message: String,
    },
    /// A value out of range, or keys that do not go together.
    #[error("{path}{}: `{key}` {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted key, e.g. `train.lr`.
        key: String,
        /// Line of the key in the file, when it is written there.
        line: Option<usize>,
        /// What is wrong and what would be right.
        message: String,
    },
}
