//! `[stateless]` (retraining from a mix of initial and recent data, and where its weights
//! start) and `[stateful]` (fine-tuning, and the anchor that holds it).

use super::Context;
use crate::defaults;
use crate::error::ConfigError;
use crate::raw::{RawStateful, RawStateless};
use crate::spec::{AnchorSpec, StatefulSpec, StatelessInit, StatelessSpec};
use crate::vocab::{AnchorKind, StatelessInitKind};

impl RawStateless {
    /// Checks the retraining's data mix and warm start.
    pub(crate) fn check(self, cx: &Context) -> Result<StatelessSpec, ConfigError> {
        let initial_fraction = self.initial_fraction.unwrap_or(defaults::INITIAL_FRACTION);
        if !(0.0..1.0).contains(&initial_fraction) {
            return Err(cx.invalid(
                "stateless.initial_fraction",
                format!("is {initial_fraction}; must be in [0, 1) (0.3 = 30 % initial data, 70 % recent)"),
            ));
        }
        Ok(StatelessSpec {
            initial_fraction,
            recent_windows: cx.positive(
                "stateless.recent_windows",
                self.recent_windows,
                defaults::RECENT_WINDOWS,
            )?,
            init: self.check_init(cx)?,
        })
    }

    /// `stateless.init`, and `shrink` and `perturb`, which only shrink-and-perturb takes.
    fn check_init(&self, cx: &Context) -> Result<StatelessInit, ConfigError> {
        let kind = cx
            .word("stateless.init", self.init.as_deref())?
            .unwrap_or(StatelessInitKind::Fresh);
        match kind {
            StatelessInitKind::Fresh => {
                cx.refuse_written(
                    &[
                        ("stateless.shrink", self.shrink.is_some()),
                        ("stateless.perturb", self.perturb.is_some()),
                    ],
                    "applies to `stateless.init = \"shrink-perturb\"` only",
                )?;
                Ok(StatelessInit::Fresh)
            }
            StatelessInitKind::ShrinkPerturb => shrink_perturb(cx, self.shrink, self.perturb),
        }
    }
}

/// Shrink-and-perturb's λ and σ: not both 0.
fn shrink_perturb(
    cx: &Context,
    shrink: Option<f64>,
    perturb: Option<f64>,
) -> Result<StatelessInit, ConfigError> {
    let shrink = shrink.unwrap_or(defaults::SHRINK);
    if !(0.0..=1.0).contains(&shrink) {
        return Err(cx.invalid(
            "stateless.shrink",
            format!("is {shrink}; must be in [0, 1] (try 0.4)"),
        ));
    }
    let perturb = perturb.unwrap_or(defaults::PERTURB);
    if !(perturb.is_finite() && (0.0..=10.0).contains(&perturb)) {
        return Err(cx.invalid(
            "stateless.perturb",
            format!("is {perturb}; must be in [0, 10] (try 0.1)"),
        ));
    }
    if shrink == 0.0 && perturb == 0.0 {
        return Err(cx.invalid(
            "stateless.perturb",
            "is 0 with `stateless.shrink = 0`: every weight would start at 0; make one of them > 0",
        ));
    }
    Ok(StatelessInit::ShrinkPerturb { shrink, perturb })
}

impl RawStateful {
    /// Checks the fine-tuning settings and the anchor.
    pub(crate) fn check(self, cx: &Context) -> Result<StatefulSpec, ConfigError> {
        Ok(StatefulSpec {
            epochs: cx.positive("stateful.epochs", self.epochs, defaults::STATEFUL_EPOCHS)?,
            lr: cx.learning_rate("stateful.lr", self.lr, defaults::STATEFUL_LR)?,
            carry_optimizer: self.carry_optimizer.unwrap_or(defaults::CARRY_OPTIMIZER),
            anchor: self.check_anchor(cx)?,
        })
    }

    /// `stateful.anchor` and its strength.
    fn check_anchor(&self, cx: &Context) -> Result<AnchorSpec, ConfigError> {
        let kind = cx
            .word("stateful.anchor", self.anchor.as_deref())?
            .unwrap_or(AnchorKind::None);
        // A strength with `anchor = "none"` is kept for `compare --policies stateful+ewc`.
        let strength = match self.anchor_strength {
            None => defaults::anchor_strength(kind),
            Some(s) if s > 0.0 && s <= defaults::MAX_ANCHOR_STRENGTH => s,
            Some(s) => return Err(anchor_strength_error(cx, s)),
        };
        Ok(AnchorSpec { kind, strength })
    }
}

/// `stateful.anchor_strength` out of range: `strength` shown as written (in exponent form
/// when very small or very large).
fn anchor_strength_error(cx: &Context, strength: f64) -> ConfigError {
    let shown =
        match strength.is_finite() && (strength == 0.0 || (1e-3..1e6).contains(&strength.abs())) {
            true => strength.to_string(),
            false => format!("{strength:e}"),
        };
    cx.invalid(
        "stateful.anchor_strength",
        format!(
            "is {shown}; must be a number > 0 and at most {:e} (the defaults are {} for \
             \"l2-init\" and {} for \"ewc\"; far stronger holds every weight at its \
             anchor, and the penalty's gradient overflows 32-bit floats)",
            defaults::MAX_ANCHOR_STRENGTH,
            defaults::ANCHOR_STRENGTH_L2_INIT,
            defaults::ANCHOR_STRENGTH_EWC
        ),
    )
}
