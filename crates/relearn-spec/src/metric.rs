//! [`Metric`]: the names of the scores relearn records (`metrics.prequential`, `eval`, gate
//! conditions, `compare`), spelled in one place.

use std::fmt;

use relearn_data::Task;
use serde::{Deserialize, Serialize};

/// A score of a model on a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Classification: the share of rows whose most likely class is the label.
    Accuracy,
    /// Classification: mean cross-entropy.
    Loss,
    /// Regression: mean squared error.
    Mse,
    /// Regression: mean absolute error.
    Mae,
    /// The no-skill forecast's score on the same window, in the headline metric: the
    /// previous window's majority class (its accuracy) or mean target (its mse).
    Baseline,
    /// The model's skill over the baseline: `(acc - base) / (1 - base)` for classification,
    /// `1 - mse / base` for regression. 0 is no better than the baseline, 1 is perfect.
    Skill,
}

impl Metric {
    /// The name in JSON, messages and gate conditions.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Loss => "loss",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::Baseline => "baseline",
            Metric::Skill => "skill",
        }
    }

    /// Parses [`Metric::name`].
    pub fn parse(name: &str) -> Option<Metric> {
        [
            Metric::Accuracy,
            Metric::Loss,
            Metric::Mse,
            Metric::Mae,
            Metric::Baseline,
            Metric::Skill,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }

    /// The metrics recorded for `task`, the headline one first.
    pub const fn of(task: Task) -> [Metric; 2] {
        match task {
            Task::Classification => [Metric::Accuracy, Metric::Loss],
            Task::Regression => [Metric::Mse, Metric::Mae],
        }
    }

    /// The score `run`, `compare` and `log` lead with for `task`: accuracy or mse.
    pub const fn headline(task: Task) -> Metric {
        Metric::of(task)[0]
    }

    /// Whether a larger value is better (accuracy and skill; a baseline's direction is its
    /// headline metric's, and it is no score of the model).
    pub const fn higher_is_better(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::Skill)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for task in [Task::Classification, Task::Regression] {
            for m in Metric::of(task) {
                assert_eq!(Metric::parse(m.name()), Some(m));
                assert_eq!(serde_json::to_value(m).unwrap(), m.name());
            }
        }
        assert_eq!(Metric::headline(Task::Regression), Metric::Mse);
        assert!(Metric::Accuracy.higher_is_better() && !Metric::Mse.higher_is_better());
    }
}
