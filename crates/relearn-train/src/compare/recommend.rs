//! The verdicts of a comparison: which book mode scored better ([`Better`]) and which
//! policy to use and why ([`Recommendation`]), decided by one routine, [`recommend`].

use std::cmp::Ordering;

use serde::Serialize;

use super::stats::{mean, paired_differences, std_error};
use super::{
    CLOSE_POINTS, CLOSE_STD_ERRORS, COST_SIMILAR, Comparison, MATCH_POINTS, ModeReport, Report,
    Setup, Standing,
};
use relearn_spec::Policy;

/// Which of the two book modes scored better, by more than the noise and the close band;
/// serialised as its [`name`](Better::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Better {
    /// Stateful did.
    Stateful,
    /// Stateless did.
    Stateless,
    /// Neither: the mean difference is under [`CLOSE_POINTS`], or within
    /// [`CLOSE_STD_ERRORS`] standard errors of the per-window differences, or there are too
    /// few windows to tell.
    TooClose,
}

impl Better {
    /// `stateful`, `stateless`, or `too close to call`.
    pub fn name(self) -> &'static str {
        match self {
            Better::Stateful => Policy::STATEFUL.name(),
            Better::Stateless => Policy::STATELESS.name(),
            Better::TooClose => "too close to call",
        }
    }
}

impl From<Better> for &'static str {
    fn from(better: Better) -> &'static str {
        better.name()
    }
}

/// The policy a recommendation picks; serialised as its [`name`](Choice::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Choice {
    /// This policy.
    Policy(Policy),
    /// Either of the two book modes will do: they tie on score, cost and data kept.
    Either,
}

impl Choice {
    /// The policy's name, or `either`.
    pub fn name(self) -> &'static str {
        match self {
            Choice::Policy(mode) => mode.name(),
            Choice::Either => "either",
        }
    }
}

impl From<Choice> for &'static str {
    fn from(choice: Choice) -> &'static str {
        choice.name()
    }
}

/// Why a recommendation picked its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Too few windows were scored to compare the policies (by both book modes, for the
    /// book pair); the choice then rests on cost alone, or is `either`.
    NotEnoughWindows,
    /// It scored better than the other book mode by more than the noise and the close band.
    BetterBeyondNoise,
    /// The other book mode scored better beyond the noise, but by less than
    /// [`MATCH_POINTS`], and this one trained clearly faster.
    MatchedAndCheaper,
    /// Its score is within the noise of the most accurate policy's (too close to call), it
    /// keeps as little past data as any policy within the noise, and it trained clearly
    /// faster ([`COST_SIMILAR`]) than the most accurate one.
    CheaperInTime,
    /// Its score is within the noise of the most accurate policy's and it keeps less past
    /// data than that one: the fewest past samples of the policies within the noise (at
    /// the lowest training time among those keeping as few).
    KeepsLessData,
    /// Its score is within the noise of the most accurate policy's, it keeps as little past
    /// data and trains about as fast as any policy within the noise, and its model is
    /// clearly smaller ([`MODEL_SIMILAR`] times) than the most accurate one's (a tree model
    /// against an MLP, most often).
    SmallerModel,
    /// It had the best mean score, and no policy within its noise keeps less data or, as
    /// little, is clearly cheaper or smaller.
    BestMean,
    /// The two book modes are too close to call, cost about the same and keep as much
    /// data: either will do.
    AllSimilar,
}

/// Which policy to use, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    /// The policy.
    pub policy: Choice,
    /// Why.
    pub reason: Reason,
}

/// The policy the numbers favour, and why.
///
/// For exactly the two book modes: the one that scores better by more than the noise and
/// the close band (stateful also when stateless is better by less than [`MATCH_POINTS`]
/// and stateful is clearly cheaper), else the one keeping less past data, then the clearly
/// cheaper one in training time, else `either`. For any other set, the policies too close
/// to call with the most accurate one (it included) are compared among themselves: those
/// keeping the fewest past samples, of them those within [`COST_SIMILAR`] of the cheapest
/// in training time, of them the best mean score.
pub fn recommend(report: &Report) -> Recommendation {
    if report.modes.is_book_pair() {
        let c = report.comparison.as_ref().expect("both book modes ran");
        let stateless = report.modes.get(Policy::STATELESS).expect("book pair");
        let stateful = report.modes.get(Policy::STATEFUL).expect("book pair");
        let mut recommendation = between_book_modes(c, stateless, stateful);
        if c.advantage_points.is_none() {
            recommendation.reason = Reason::NotEnoughWindows;
        }
        recommendation
    } else {
        among(report)
    }
}

/// Stateful against stateless: the paired differences, the verdict and the book pair's
/// recommendation.
pub(super) fn compare(setup: &Setup, stateless: &ModeReport, stateful: &ModeReport) -> Comparison {
    let diffs = paired_differences(stateful, stateless);
    // In points, signed so that positive favours stateful.
    let scale = setup.points_scale();
    let points: Vec<f64> = diffs.iter().map(|d| d * scale).collect();
    let advantage_points = mean(&points);
    let std_error_points = std_error(&points);
    let better = match (advantage_points, std_error_points) {
        (Some(d), Some(se)) if d.abs() >= CLOSE_POINTS && d.abs() >= CLOSE_STD_ERRORS * se => {
            if d > 0.0 {
                Better::Stateful
            } else {
                Better::Stateless
            }
        }
        _ => Better::TooClose,
    };
    let cost_ratio = match (
        stateless.train_seconds.updates_total,
        stateful.train_seconds.updates_total,
    ) {
        (a, b) if b > 0.0 && !stateless.windows.is_empty() => Some(a / b),
        _ => None,
    };
    let mut c = Comparison {
        paired_windows: diffs.len(),
        mean_difference: mean(&diffs),
        advantage_points,
        std_error_points,
        better,
        cost_ratio,
        recommended: Choice::Either,
    };
    c.recommended = between_book_modes(&c, stateless, stateful).policy;
    c
}

/// The book pair's rule (see [`recommend`]).
fn between_book_modes(
    c: &Comparison,
    stateless: &ModeReport,
    stateful: &ModeReport,
) -> Recommendation {
    let d = c.advantage_points.unwrap_or(0.0);
    let cheaper = cheaper(c.cost_ratio);
    let pick = |mode: Policy, reason: Reason| Recommendation {
        policy: Choice::Policy(mode),
        reason,
    };
    match c.better {
        Better::Stateful => pick(Policy::STATEFUL, Reason::BetterBeyondNoise),
        Better::Stateless if d > -MATCH_POINTS && cheaper == Some(Policy::STATEFUL) => {
            pick(Policy::STATEFUL, Reason::MatchedAndCheaper)
        }
        Better::Stateless => pick(Policy::STATELESS, Reason::BetterBeyondNoise),
        // A draw: the one keeping less past data, then the clearly cheaper one.
        Better::TooClose => match stateless
            .retained_at_end
            .samples
            .cmp(&stateful.retained_at_end.samples)
        {
            Ordering::Greater => pick(Policy::STATEFUL, Reason::KeepsLessData),
            Ordering::Less => pick(Policy::STATELESS, Reason::KeepsLessData),
            Ordering::Equal => match cheaper {
                Some(mode) => pick(mode, Reason::CheaperInTime),
                None => Recommendation {
                    policy: Choice::Either,
                    reason: Reason::AllSimilar,
                },
            },
        },
    }
}

/// The clearly cheaper book mode by training time, if either is, from the cost ratio
/// (stateless seconds over stateful seconds).
fn cheaper(cost_ratio: Option<f64>) -> Option<Policy> {
    match cost_ratio {
        Some(r) if r > COST_SIMILAR => Some(Policy::STATEFUL),
        Some(r) if r < 1.0 / COST_SIMILAR => Some(Policy::STATELESS),
        _ => None,
    }
}

/// The rule for any set of policies but the book pair (see [`recommend`]): the policies too
/// close to call with the most accurate one (itself included) are compared among
/// themselves, by past data kept, then training time, then score.
fn among(r: &Report) -> Recommendation {
    let Some(best) = r.best() else {
        return Recommendation {
            policy: Choice::Either,
            reason: Reason::NotEnoughWindows,
        };
    };
    let mut contenders: Vec<&Standing> = r
        .ranking
        .iter()
        .filter(|s| s.close_to_best && s.policy != best.policy)
        .collect();
    contenders.insert(0, best);
    let chosen = tie_break(&contenders, r.setup.higher_is_better);
    let reason = if chosen.policy == best.policy {
        Reason::BestMean
    } else if chosen.retained_samples < best.retained_samples {
        Reason::KeepsLessData
    } else if best.train_seconds > COST_SIMILAR * chosen.train_seconds {
        Reason::CheaperInTime
    } else {
        Reason::SmallerModel
    };
    Recommendation {
        policy: Choice::Policy(chosen.policy),
        reason,
    }
}

/// How many times larger than the smallest a model may be and still count as small (the
/// last tie-break of [`among`]).
pub const MODEL_SIMILAR: f64 = 4.0;

/// Among policies whose scores are too close to call (the first one the most accurate):
/// those keeping the fewest past samples; of them, those within [`COST_SIMILAR`] of the
/// cheapest in training time; of them, those whose model is within [`MODEL_SIMILAR`] of the
/// smallest; of them, the best mean score (the first on a tie).
fn tie_break<'a>(close: &[&'a Standing], higher_is_better: bool) -> &'a Standing {
    let fewest = close.iter().map(|s| s.retained_samples).min().unwrap_or(0);
    let lean: Vec<&Standing> = close
        .iter()
        .copied()
        .filter(|s| s.retained_samples == fewest)
        .collect();
    let cheapest = lean
        .iter()
        .map(|s| s.train_seconds)
        .min_by(f64::total_cmp)
        .unwrap_or(0.0);
    let cheap: Vec<&Standing> = lean
        .into_iter()
        .filter(|s| s.train_seconds <= COST_SIMILAR * cheapest)
        .collect();
    let smallest = cheap.iter().filter_map(|s| s.model_bytes).min();
    cheap
        .into_iter()
        .filter(|s| match (s.model_bytes, smallest) {
            (Some(b), Some(m)) => b as f64 <= MODEL_SIMILAR * m as f64,
            _ => true,
        })
        .reduce(|a, b| match (a.mean, b.mean) {
            (Some(x), Some(y)) if super::stats::worse(higher_is_better, x, y) => b,
            _ => a,
        })
        .unwrap_or(close[0])
}
