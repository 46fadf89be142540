//! The recommendation in plain words, rendered from the library's typed verdict
//! ([`relearn_train::compare::recommend`]) and the report's numbers, and the formatting the
//! table, the plot and the words share.

use relearn_store::Retained;
use relearn_train::Policy;
use relearn_train::compare::{
    CLOSE_STD_ERRORS, Choice, MATCH_POINTS, ModeReport, RECOVERY_POINTS, Reason, Recommendation,
    Recovery, Report, Setup, stats,
};

/// The recommendation: which policy and why, from the verdict and the numbers, with the
/// caveats the numbers call for, and how each policy forgot after a drift.
pub fn recommendation(r: &Report, rec: Recommendation) -> String {
    let mut text = if r.modes.is_book_pair() {
        book_pair(r, rec)
    } else {
        among(r, rec)
    };
    if r.no_policy_beats_baseline() {
        // Said first: a choice between models without skill is no answer.
        text = format!(
            "No policy beats the no-skill baseline (predicting {}) beyond the noise: on this \
             stream the models show no skill, so check the features and the target before \
             choosing a policy. Among the policies: {text}",
            r.setup.baseline_forecast()
        );
    }
    if let Some(forgetting) = backward_sentence(r) {
        text.push(' ');
        text.push_str(&forgetting);
    }
    text
}

/// The words for the two book modes.
fn book_pair(r: &Report, rec: Recommendation) -> String {
    let (Some(sl), Some(sf), Some(c)) = (
        r.modes.get(Policy::STATELESS),
        r.modes.get(Policy::STATEFUL),
        r.comparison.as_ref(),
    ) else {
        return String::new();
    };
    let metric = r.setup.metric;
    let unit = r.setup.unit();
    let (Some(d), Some(m_sl), Some(m_sf)) = (c.advantage_points, sl.score.mean, sf.score.mean)
    else {
        return "Not enough windows scored by both modes to compare them.".to_string();
    };
    let means = format!(
        "mean {metric} {} stateful vs {} stateless",
        fmt_score(&r.setup, m_sf),
        fmt_score(&r.setup, m_sl)
    );
    let noise = match c.std_error_points {
        Some(se) => format!(
            "± {:.2} at 2 standard errors over {} windows",
            CLOSE_STD_ERRORS * se,
            c.paired_windows
        ),
        None => format!("{} window only, no error estimate", c.paired_windows),
    };
    let cost = match c.cost_ratio {
        Some(k) if k >= 1.0 => format!(
            "stateful trained in {} of the time stateless took",
            fraction(k)
        ),
        Some(k) => format!(
            "stateless trained in {} of the time stateful took",
            fraction(1.0 / k)
        ),
        None => "training time could not be compared".to_string(),
    };
    let data = format!(
        "stateful kept {}, stateless {}",
        data_kept(&sf.retained_at_end),
        data_kept(&sl.retained_at_end)
    );
    let chosen = rec.policy.name();
    let mut text = match (rec.reason, rec.policy) {
        (Reason::CheaperInTime | Reason::KeepsLessData | Reason::AllSimilar, _) => {
            let lead = format!(
                "Too close to call on {metric}: {means}, a difference of {d:+.2} {unit} ({noise}; + favours stateful)."
            );
            let why = match rec.reason {
                Reason::CheaperInTime => format!(
                    " With {metric} a draw, the cost decides: {cost}; {data}. Use {chosen}."
                ),
                Reason::KeepsLessData => format!(
                    " Training time is similar too ({cost}); {data}. Use {chosen}, which keeps less data."
                ),
                _ => format!(
                    " Cost and data kept are similar too ({cost}; {data}): either mode will do."
                ),
            };
            lead + &why
        }
        (Reason::BetterBeyondNoise, Choice::Policy(Policy::STATEFUL)) => format!(
            "Use stateful: it did {d:.2} {unit} better on average ({means}; {noise}); {cost}; {data}."
        ),
        (Reason::MatchedAndCheaper, _) => format!(
            "Use stateful, unless {:.2} {unit} of {metric} are worth more to you than the cost: it matched stateless \
             within {MATCH_POINTS:.0} point ({means}; {noise}), and {cost}; {data}.",
            -d
        ),
        _ => format!(
            "Use stateless: it did {:.2} {unit} better on average ({means}; {noise}), at a cost: {cost}; {data}.",
            -d
        ),
    };
    if let Some(recovery) = recovery_sentence(r) {
        text.push(' ');
        text.push_str(&recovery);
    }
    text
}

/// After drifts: how many drifts each book mode recovered from, and how fast.
fn recovery_sentence(r: &Report) -> Option<String> {
    let describe = |m: &ModeReport| {
        let known: Vec<&Recovery> = m
            .recovery
            .iter()
            .filter(|x| x.pre_drift_level.is_some())
            .collect();
        let back: Vec<f64> = known
            .iter()
            .filter_map(|x| x.windows_to_recover)
            .map(|w| w as f64)
            .collect();
        let s = match stats::mean(&back) {
            None => format!("{} did not, before the next drift or the end", m.mode),
            Some(w) if back.len() == known.len() => {
                format!("{} after {w:.1} windows on average", m.mode)
            }
            Some(w) => format!(
                "{} after {w:.1} windows on average for {} of them, not at all (before the next drift or the end) for {}",
                m.mode,
                back.len(),
                known.len() - back.len()
            ),
        };
        (s, known.len())
    };
    let (a, n) = describe(r.modes.get(Policy::STATEFUL)?);
    let (b, _) = describe(r.modes.get(Policy::STATELESS)?);
    let drifts = if n == 1 {
        "the declared drift point".to_string()
    } else {
        format!("the {n} declared drift points")
    };
    (n > 0).then(|| {
        format!(
            "After {drifts}, the score was back within {RECOVERY_POINTS:.0} {} of its pre-drift level: {a}; {b}.",
            r.setup.unit()
        )
    })
}

/// The words for any set of policies but the book pair.
fn among(r: &Report, rec: Recommendation) -> String {
    let metric = r.setup.metric;
    let unit = r.setup.unit();
    let (Some(best), Some(chosen)) = (
        r.best(),
        r.ranking
            .iter()
            .find(|s| Choice::Policy(s.policy) == rec.policy),
    ) else {
        return "Not enough windows scored to compare the policies.".to_string();
    };
    let why = match rec.reason {
        Reason::CheaperInTime => format!(
            "it is within the noise of {} on {metric} and trained in {} of its time",
            best.policy,
            fraction(best.train_seconds / chosen.train_seconds.max(1e-9))
        ),
        Reason::KeepsLessData => format!(
            "it is within the noise of {} on {metric}, costs about as much, and keeps less past data",
            best.policy
        ),
        _ => format!("it had the best mean {metric}"),
    };
    let per_policy: Vec<String> = r
        .ranking
        .iter()
        .map(|s| {
            let m = r.modes.get(s.policy).expect("ranked policies ran");
            let behind = match (s.behind_best_points, s.std_error_points) {
                (Some(d), _) if s.policy == best.policy && d == 0.0 => "best".to_string(),
                (Some(d), Some(se)) => format!("{d:+.2} ± {:.2} {unit}", CLOSE_STD_ERRORS * se),
                (Some(d), None) => format!("{d:+.2} {unit}"),
                (None, _) => "not scored".to_string(),
            };
            format!(
                "{} {} ({behind}; {:.2} s training; {})",
                s.policy,
                s.mean.map_or("-".into(), |v| fmt_score(&r.setup, v)),
                s.train_seconds,
                data_kept(&m.retained_at_end)
            )
        })
        .collect();
    format!(
        "Use {}: {why}. Mean {metric} per policy: {}.",
        chosen.policy,
        per_policy.join("; ")
    )
}

/// How each policy scores on the concept before the current one, when the stream declares
/// drift points.
fn backward_sentence(r: &Report) -> Option<String> {
    let parts: Vec<String> = r
        .modes
        .0
        .iter()
        .filter_map(|m| {
            let b = m.backward.as_ref()?;
            Some(format!(
                "{} {} ({:+.1} {} against its own score back then)",
                m.mode,
                fmt_score(&r.setup, b.score),
                b.transfer_points,
                r.setup.unit()
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Forgetting: after a drift, the checkpoints scored on the previous concept's windows: {}.",
            parts.join("; ")
        )
    })
}

/// `1/6` for a ratio of 6.2, `62 %` for 1.6: how much of the other's cost a mode needs.
pub fn fraction(ratio: f64) -> String {
    if ratio >= 2.0 {
        format!("1/{:.0}", ratio)
    } else {
        format!("{:.0} %", 100.0 / ratio)
    }
}

/// `4,000 samples (62.5 KiB)`.
fn data_kept(r: &Retained) -> String {
    if r.samples == 0 {
        "no past data".to_string()
    } else {
        format!(
            "{} past samples ({})",
            thousands(r.samples),
            crate::render::bytes(r.bytes)
        )
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A score as printed: accuracy with 4 decimals, mse with 4 significant digits.
pub fn fmt_score(setup: &Setup, score: f64) -> String {
    if setup.higher_is_better {
        format!("{score:.4}")
    } else {
        stats::format_sig(score, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(fraction(6.2), "1/6");
        assert_eq!(fraction(1.6), "62 %");
    }
}
