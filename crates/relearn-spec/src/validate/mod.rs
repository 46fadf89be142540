//! Validation: each section of a [`RawConfig`] checks itself into its part of a [`RunSpec`]
//! (in the style of linfa's `ParamGuard`: the file as written and the validated spec are
//! separate types), naming the key and its line in every message.
//!
//! A section's `check` takes the [`Context`] (the file, for messages and relative paths) and
//! what it needs of the sections checked before it: the seed for a generator, the source's
//! scaling for an imported model, the number of layers for `train.freeze`, the window size
//! for the replay reservoir, the task for the drift threshold and the gate. The sections are
//! checked in the file's order, so the first error reported stays the same.

mod data;
mod lines;
mod model;
mod policy;
mod run;
mod train;
mod updates;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use run::valid_name;

use crate::error::ConfigError;
use crate::raw::RawConfig;
use crate::spec::RunSpec;
use crate::vocab::Vocabulary;

/// What every section's check shares: the config file, for key-and-line messages and for
/// resolving the paths it names.
pub(crate) struct Context<'a> {
    /// The file's text.
    pub text: &'a str,
    /// The file.
    pub path: &'a Path,
}

impl Context<'_> {
    /// An invalid `key`, placed at its line (or at its table's header when the key is not
    /// written, e.g. a required one).
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            line: lines::key_or_table_line(self.text, key),
            message: message.into(),
        }
    }

    /// An invalid `key`, placed at its own line only.
    pub fn invalid_at_key(&self, key: String, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: lines::key_line(self.text, &key),
            key,
            message,
        }
    }

    /// `path` resolved against the config file's folder.
    pub fn resolve(&self, path: PathBuf) -> PathBuf {
        match path.is_absolute() {
            true => path,
            false => self.path.parent().unwrap_or(Path::new("")).join(path),
        }
    }

    /// The word `written` under `key`, if any (see [`Context::parse_word`]).
    pub fn word<W: Vocabulary>(
        &self,
        key: &str,
        written: Option<&str>,
    ) -> Result<Option<W>, ConfigError> {
        written.map(|w| self.parse_word(key, w)).transpose()
    }

    /// The word `written` under `key`: one of `W`'s spellings, else an error that lists
    /// them.
    pub fn parse_word<W: Vocabulary>(&self, key: &str, written: &str) -> Result<W, ConfigError> {
        W::from_spelling(written).ok_or_else(|| {
            self.invalid(key, format!("is {written:?}; expected {}", W::spellings()))
        })
    }

    /// A count of at least 1, `default` when not written.
    pub fn positive(
        &self,
        key: &str,
        value: Option<usize>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(0) => Err(self.invalid(key, "must be at least 1")),
            Some(v) => Ok(v),
        }
    }

    /// A learning rate in `(0, 10]`, `default` when not written.
    pub fn learning_rate(
        &self,
        key: &str,
        value: Option<f64>,
        default: f64,
    ) -> Result<f64, ConfigError> {
        match value {
            None => Ok(default),
            Some(lr) if lr.is_finite() && lr > 0.0 && lr <= 10.0 => Ok(lr),
            Some(lr) => Err(self.invalid(
                key,
                format!("is {lr}; a learning rate must be > 0 and <= 10 (try 1e-3)"),
            )),
        }
    }

    /// The first of `keys` that is written (`true`), as an error saying `message`: keys that
    /// do not apply to what the rest of the file chose.
    pub fn refuse_written(&self, keys: &[(&str, bool)], message: &str) -> Result<(), ConfigError> {
        match keys.iter().find(|(_, written)| *written) {
            Some((key, _)) => Err(self.invalid(key, message)),
            None => Ok(()),
        }
    }
}

impl RunSpec {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<RunSpec, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RunSpec::from_toml(&text, path)
    }

    /// Parses and validates config text; `path` names the file in messages and anchors
    /// relative paths.
    pub fn from_toml(text: &str, path: &Path) -> Result<RunSpec, ConfigError> {
        RawConfig::from_toml(text, path)?.check(&Context { text, path })
    }
}

impl RawConfig {
    /// Checks every section, in the file's order, into the run they describe.
    pub(crate) fn check(self, cx: &Context) -> Result<RunSpec, ConfigError> {
        let run = self.run.check(cx)?;
        let windows = self.window.check(cx)?;
        let data = self
            .data
            .check(cx, run.seed, windows.every, windows.label_wait)?;
        let task = data.task();
        let data_scaling_written = data.scaling_written;
        let (mut model, scaling) = self.model.check(cx, &data)?;
        model.gbdt = self.gbdt.check(cx, model.kind)?;
        let train = self.train.check(cx, model.hidden.len() + 1)?;
        let stateless = self.stateless.check(cx)?;
        let anchor_strength_written = self.stateful.anchor_strength;
        let stateful = self.stateful.check(cx)?;
        let replay = self.policy.replay.check(cx, windows.size)?;
        let drift = self.policy.drift.check(cx, task)?;
        let gate = self.gate.check(cx, task)?;
        model::check_tree_family(cx, model.kind, stateless.init, &stateful)?;
        Ok(RunSpec {
            name: run.name,
            mode: run.mode,
            seed: run.seed,
            store: run.store,
            backend: run.backend,
            trainer: run.trainer,
            source: data.source,
            scaling,
            clip: data.clip,
            window_size: windows.size,
            initial_windows: windows.initial,
            label_delay: windows.label_delay,
            model,
            train,
            stateless,
            stateful,
            replay,
            drift,
            gate,
            anchor_strength_written,
            scaling_written: data_scaling_written,
        })
    }
}
