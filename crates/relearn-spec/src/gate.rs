//! Promotion gates: conditions a candidate checkpoint must meet to become its run's head
//! (`relearn run --gate "accuracy>=0.9"`, or `[gate] require = [...]` in the config).

use std::collections::BTreeMap;
use std::fmt;

use relearn_data::Task;

use crate::metric::Metric;
use serde::{Deserialize, Serialize};

/// A comparison in a gate condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `>=`
    #[serde(rename = ">=")]
    AtLeast,
    /// `<=`
    #[serde(rename = "<=")]
    AtMost,
    /// `>`
    #[serde(rename = ">")]
    Above,
    /// `<`
    #[serde(rename = "<")]
    Below,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::Below => "<",
        }
    }

    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Comparison::AtLeast => value >= bound,
            Comparison::AtMost => value <= bound,
            Comparison::Above => value > bound,
            Comparison::Below => value < bound,
        }
    }
}

/// One condition: `metric OP bound`, e.g. `accuracy>=0.9`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// A metric of the run's task: `accuracy` or `loss`; `mse` or `mae`.
    pub metric: String,
    /// The comparison.
    pub comparison: Comparison,
    /// The bound.
    pub bound: f64,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.metric,
            self.comparison.symbol(),
            self.bound
        )
    }
}

/// Every condition a candidate must meet, checked on its score on the newest window it was
/// trained on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// The conditions, all required.
    pub conditions: Vec<Condition>,
}

/// A gate's decision on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The gate, as written (`accuracy>=0.9,loss<=0.5`).
    pub gate: String,
    /// The candidate's scores the gate looked at.
    pub scores: BTreeMap<String, f64>,
    /// The conditions it failed, as written; empty when it passed.
    pub failed: Vec<String>,
}

impl Verdict {
    /// Whether the candidate met every condition.
    pub fn passed(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Gate {
    /// Parses `metric OP number` conditions separated by commas, for a run of `task`.
    /// The error says what is wrong and what would be right.
    pub fn parse(text: &str, task: Task) -> Result<Gate, String> {
        let metrics = Gate::metrics(task);
        let mut conditions = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!(
                    "{text:?} has an empty condition; write conditions like \"accuracy>=0.9\", separated by commas"
                ));
            }
            // Two-character comparisons first, so `>=` is not read as `>`.
            let found = [
                (">=", Comparison::AtLeast),
                ("<=", Comparison::AtMost),
                (">", Comparison::Above),
                ("<", Comparison::Below),
            ]
            .into_iter()
            .find_map(|(symbol, comparison)| {
                part.split_once(symbol)
                    .map(|(metric, bound)| (metric.trim(), comparison, bound.trim()))
            });
            let Some((metric, comparison, bound)) = found else {
                return Err(format!(
                    "{part:?} is not a condition; write METRIC>=NUMBER (or <=, >, <), e.g. \"{}>=0.9\"",
                    metrics[0]
                ));
            };
            if !metrics.contains(&metric) {
                return Err(format!(
                    "{part:?} names metric {metric:?}, which a {} run does not report; use {} or {}",
                    task.name(),
                    metrics[..2].join(", "),
                    metrics[2]
                ));
            }
            let bound: f64 = match bound.parse() {
                Ok(b) if f64::is_finite(b) => b,
                _ => {
                    return Err(format!(
                        "{part:?} compares with {bound:?}, which is not a finite number"
                    ));
                }
            };
            conditions.push(Condition {
                metric: metric.to_string(),
                comparison,
                bound,
            });
        }
        Ok(Gate { conditions })
    }

    /// The metrics a gate of a `task` run may name: the task's two, and `skill` (see
    /// [`Gate::needs_skill`]).
    pub fn metrics(task: Task) -> [&'static str; 3] {
        let [headline, other] = Metric::of(task);
        [headline.name(), other.name(), Metric::Skill.name()]
    }

    /// Whether a condition names `skill`: then the scores given to [`Gate::check`] must
    /// hold it (the runner adds it: the candidate's skill over the no-skill forecast on the
    /// data it is scored on, see docs/gates.md).
    pub fn needs_skill(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| c.metric == Metric::Skill.name())
    }

    /// Checks a candidate's scores (which hold every metric of the task, and `skill` when
    /// [`Gate::needs_skill`]).
    pub fn check(&self, scores: &BTreeMap<String, f64>) -> Verdict {
        let failed = self
            .conditions
            .iter()
            .filter(|c| {
                let value = scores.get(&c.metric).copied().unwrap_or(f64::NAN);
                !c.comparison.holds(value, c.bound)
            })
            .map(Condition::to_string)
            .collect();
        Verdict {
            gate: self.to_string(),
            scores: scores.clone(),
            failed,
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.conditions.iter().map(Condition::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// The tag on the store's most recently rejected candidate (each also has its own
/// `<run>.rejected.<window>` tag).
pub const REJECTED_TAG: &str = "rejected";

/// The tag of a candidate the gate rejected at `window` of `run`.
pub fn rejected_tag(run: &str, window: usize) -> String {
    format!("{run}.rejected.{window}")
}

/// Whether `name` is one the promotion gate writes ([`REJECTED_TAG`] or
/// `<run>.rejected.<window>`): reserved, so that no tag a user makes is ever moved by a gate
/// (`relearn tag` refuses them, and so does `run.name`).
pub fn is_reserved_tag(name: &str) -> bool {
    name == REJECTED_TAG
        || name.rsplit_once(".rejected.").is_some_and(|(run, window)| {
            !run.is_empty() && !window.is_empty() && window.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(accuracy: f64, loss: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("accuracy".into(), accuracy), ("loss".into(), loss)])
    }

    #[test]
    fn parses_and_checks_every_comparison() {
        let gate = Gate::parse("accuracy>=0.9, loss<0.5", Task::Classification).unwrap();
        assert_eq!(gate.to_string(), "accuracy>=0.9,loss<0.5");
        assert!(gate.check(&scores(0.9, 0.4)).passed());
        let verdict = gate.check(&scores(0.89, 0.5));
        assert_eq!(verdict.failed, vec!["accuracy>=0.9", "loss<0.5"]);
        let gate = Gate::parse("accuracy>0.9,loss<=0.5", Task::Classification).unwrap();
        assert!(!gate.check(&scores(0.9, 0.5)).passed());
        assert!(gate.check(&scores(0.91, 0.5)).passed());
    }

    #[test]
    fn skill_is_a_gate_metric_of_both_tasks() {
        for task in [Task::Classification, Task::Regression] {
            let gate = Gate::parse("skill>=0.5", task).unwrap();
            assert!(gate.needs_skill());
            let mut s = scores(0.9, 0.1);
            s.insert("skill".into(), 0.6);
            assert!(gate.check(&s).passed());
            s.insert("skill".into(), 0.4);
            assert_eq!(gate.check(&s).failed, vec!["skill>=0.5"]);
        }
        assert!(
            !Gate::parse("accuracy>=0.5", Task::Classification)
                .unwrap()
                .needs_skill()
        );
    }

    #[test]
    fn bad_conditions_say_what_to_write() {
        for (text, task, expected) in [
            (
                "acc>=0.9",
                Task::Classification,
                "use accuracy, loss or skill",
            ),
            ("accuracy>=0.9", Task::Regression, "use mse, mae or skill"),
            ("accuracy=0.9", Task::Classification, "is not a condition"),
            (
                "accuracy>=high",
                Task::Classification,
                "not a finite number",
            ),
            ("accuracy>=0.9,", Task::Classification, "empty condition"),
        ] {
            let err = Gate::parse(text, task).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
