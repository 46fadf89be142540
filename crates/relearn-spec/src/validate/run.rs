//! `[run]` (the name, policy, seed, store, backend and trainer) and `[window]`.

use std::path::PathBuf;

use relearn_model::{Backend, FitPath};

use super::Context;
use crate::defaults;
use crate::error::ConfigError;
use crate::raw::{RawLabelDelay, RawRun, RawWindow};
use crate::vocab::Mode;

/// `[run]`, validated.
pub(crate) struct RunSettings {
    /// `run.name`.
    pub name: String,
    /// `run.mode`.
    pub mode: Mode,
    /// `run.seed`.
    pub seed: u64,
    /// `run.store`, as written (relative to the working directory).
    pub store: PathBuf,
    /// `run.backend`.
    pub backend: Backend,
    /// `run.trainer`, or the backend's own.
    pub trainer: FitPath,
}

impl RawRun {
    /// Checks the run's name and words; every other key takes its default.
    pub(crate) fn check(self, cx: &Context) -> Result<RunSettings, ConfigError> {
        let name = check_name(cx, self.name)?;
        let mode = cx
            .word("run.mode", self.mode.as_deref())?
            .unwrap_or(defaults::MODE);
        let backend = cx
            .word("run.backend", self.backend.as_deref())?
            .unwrap_or(defaults::BACKEND);
        let trainer = match cx.word("run.trainer", self.trainer.as_deref())? {
            None => FitPath::default_for(backend),
            Some(FitPath::Fused) if backend != Backend::Flex => {
                return Err(cx.invalid(
                    "run.trainer",
                    format!(
                        "is \"fused\", which runs on the flex backend only, not on {:?}; use \"autodiff\" or backend = \"flex\"",
                        backend.name()
                    ),
                ));
            }
            Some(trainer) => trainer,
        };
        Ok(RunSettings {
            name,
            mode,
            seed: self.seed.unwrap_or(defaults::SEED),
            // The store is relative to the working directory, like every command's `--store`
            // default, so that `relearn run --config configs/x.toml` and then `relearn log`
            // see the same store. Data paths are relative to the config file.
            store: self.store.unwrap_or_else(|| PathBuf::from(defaults::STORE)),
            backend,
            trainer,
        })
    }
}

/// `run.name`: required, usable as a file name, and not to be confused with a checkpoint id
/// prefix or a tag the promotion gate gives.
fn check_name(cx: &Context, name: Option<String>) -> Result<String, ConfigError> {
    let name = name.ok_or_else(|| {
        cx.invalid(
            "run.name",
            "is required: add `name = \"my-run\"` under [run]",
        )
    })?;
    if !valid_name(&name) {
        return Err(cx.invalid(
            "run.name",
            format!("{name:?} is not a valid run name: use 1-100 letters, digits, '.', '_' or '-', not starting with '.'"),
        ));
    }
    if name.len() >= relearn_store::MIN_PREFIX_LEN && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(cx.invalid(
            "run.name",
            format!("{name:?} looks like a checkpoint id prefix, and REF syntax would confuse the two; use a name with a letter other than a-f"),
        ));
    }
    if crate::gate::is_reserved_tag(&name) {
        return Err(cx.invalid(
            "run.name",
            format!("{name:?} is a name the promotion gate gives its rejected candidates (`rejected`, `<run>.rejected.<window>`), and REF syntax would confuse the two; choose another name"),
        ));
    }
    Ok(name)
}

/// Whether `name` is usable as a run name (and so as a file name in the store).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `[window]`, validated.
pub(crate) struct Windows {
    /// Samples per window, at least 1.
    pub size: usize,
    /// Windows in the initial training set, at least 1.
    pub initial: usize,
    /// Windows between a window's rows and its labels.
    pub label_delay: usize,
    /// `window.label_delay` written as a duration (with `window.every`).
    pub label_wait: Option<relearn_data::Every>,
    /// `window.every`: windows by calendar period instead of by `size` rows.
    pub every: Option<relearn_data::Every>,
}

impl RawWindow {
    /// Checks the window size and the initial windows, and that a stream of them can be
    /// counted.
    pub(crate) fn check(self, cx: &Context) -> Result<Windows, ConfigError> {
        let every = match &self.every {
            Some(_) if self.size.is_some() => {
                return Err(cx.invalid(
                    "window.every",
                    "cannot be combined with `window.size`: a window is either every `size` rows or one calendar period of `data.time`; keep one of them",
                ));
            }
            Some(every) => {
                Some(relearn_data::Every::parse(every).map_err(|m| cx.invalid("window.every", m))?)
            }
            None => None,
        };
        let size = self.size.unwrap_or(defaults::WINDOW_SIZE);
        if size == 0 {
            return Err(cx.invalid("window.size", "must be at least 1"));
        }
        let initial = self.initial.unwrap_or(defaults::WINDOW_INITIAL);
        if initial == 0 {
            return Err(cx.invalid(
                "window.initial",
                "must be at least 1: the initial model needs data",
            ));
        }
        if size.checked_mul(initial + 1).is_none() {
            return Err(cx.invalid(
                "window.size",
                format!("is {size}: {size} samples times {} windows (window.initial + 1) is more samples than this machine can count; use a window of at most a few million samples", initial as u128 + 1),
            ));
        }
        let (label_delay, label_wait) = match self.label_delay {
            None => (defaults::LABEL_DELAY, None),
            Some(RawLabelDelay::Windows(k)) => (k, None),
            Some(RawLabelDelay::Duration(text)) => {
                let wait = relearn_data::Every::parse(&text).map_err(|m| {
                    cx.invalid(
                        "window.label_delay",
                        format!("{m}; or give a count of windows"),
                    )
                })?;
                let Some(every) = every else {
                    return Err(cx.invalid(
                        "window.label_delay",
                        format!("is {text:?}, a duration, which needs windows by time (`window.every`); with windows of `window.size` rows give a count of windows"),
                    ));
                };
                let k = wait.windows_of(every).ok_or_else(|| {
                    cx.invalid(
                        "window.label_delay",
                        format!("is {text:?} with `window.every = {:?}`: give both in hours or days, or both in months", every.name()),
                    )
                })?;
                (k, Some(wait))
            }
        };
        Ok(Windows {
            size,
            initial,
            label_delay,
            label_wait,
            every,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("sea-stateful_2.v1"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}
