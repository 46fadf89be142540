//! The recommendation in plain words, rendered from the library's typed verdict
//! ([`relearn_train::compare::recommend`]) and the report's numbers, and the formatting the
//! table, the plot and the words share.

use relearn_store::Retained;
use relearn_train::Policy;
use relearn_train::compare::{
    CLOSE_STD_ERRORS, Choice, ExcessLoss, MATCH_POINTS, ModeReport, RECOVERY_POINTS, Reason,
    Recommendation, Recovery, Report, Setup, stats,
};

/// What the report can say about one window beyond its scores (e.g. an input far outside
/// the range seen in training), appended to the window's number where the words name it.
pub type WindowNote<'a> = &'a dyn Fn(u64) -> Option<String>;

/// The recommendation: which policy and why, from the verdict and the numbers, with the
/// caveats the numbers call for, and how each policy forgot after a drift; a window the
/// words name is followed by its `note`, if any (see [`no_skill`]).
pub fn recommendation(r: &Report, rec: Recommendation, note: WindowNote) -> String {
    let mut text = if r.modes.is_book_pair() {
        book_pair(r, rec)
    } else {
        among(r, rec)
    };
    if let Some(pooled) = pooled_sentence(r) {
        text.push(' ');
        text.push_str(&pooled);
    }
    if r.no_policy_beats_baseline() {
        // Said first: a choice between models without skill is no answer.
        text = format!("{} Among the policies: {text}", no_skill(r, note));
    }
    if let Some(forgetting) = backward_sentence(r) {
        text.push(' ');
        text.push_str(&forgetting);
    }
    if let Some(families) = families_sentence(r) {
        text.push(' ');
        text.push_str(&families);
    }
    text
}

/// Whether runs of both model families were compared.
fn both_families(r: &Report) -> bool {
    r.modes
        .0
        .iter()
        .any(|m| m.mode.family != r.modes.0[0].mode.family)
}

/// The latest model of `policy`'s run, in bytes as `render::bytes` writes them.
fn model_size(r: &Report, policy: relearn_train::Policy) -> String {
    r.modes
        .get(policy)
        .and_then(|m| m.model_bytes)
        .map_or("of unknown size".into(), crate::render::bytes)
}

/// With both model families compared: whether the trees retrained per window
/// (`gbdt-stateless`, what most teams run) beat every neural policy, or which neural
/// policy beats them, with the mean scores.
fn families_sentence(r: &Report) -> Option<String> {
    use relearn_spec::{Mode, ModelKind};
    let setup = &r.setup;
    let mean = |m: &relearn_train::compare::ModeReport| m.score.mean;
    let trees = r
        .modes
        .0
        .iter()
        .find(|m| m.mode.family == ModelKind::Gbdt && m.mode.mode == Mode::Stateless)?;
    let tree_score = mean(trees)?;
    let best_neural = r
        .modes
        .0
        .iter()
        .filter(|m| m.mode.family == ModelKind::Mlp)
        .filter_map(|m| Some((m, mean(m)?)))
        .min_by(|a, b| setup.loss(a.1).total_cmp(&setup.loss(b.1)))?;
    let (neural, neural_score) = best_neural;
    Some(if setup.loss(tree_score) < setup.loss(neural_score) {
        format!(
            "The trees retrained per window (gbdt-stateless, {}) beat every neural policy on this stream (the best, {}, {}).",
            fmt_score(setup, tree_score),
            neural.mode,
            fmt_score(setup, neural_score)
        )
    } else {
        format!(
            "The neural policy {} ({}) beats the trees retrained per window (gbdt-stateless, {}) on this stream.",
            neural.mode,
            fmt_score(setup, neural_score),
            fmt_score(setup, tree_score)
        )
    })
}

/// Why no policy beats the no-skill baseline, as far as the numbers tell: the windows where
/// the most accurate policy loses most to the baseline and their share of its loss in
/// excess of the baseline's, each window followed by its `note` when there is one
/// (`window 17 (NOTE)`).
pub fn no_skill(r: &Report, note: WindowNote) -> String {
    let lead = format!(
        "No policy beats the no-skill baseline (predicting {}) beyond the noise: on this stream the models show no skill.",
        r.setup.baseline_forecast()
    );
    let Some(e) = r.excess_loss() else {
        return format!("{lead} Check the features and the target before choosing a policy.");
    };
    format!("{lead} {}", where_it_loses(r, &e, note))
}

/// The windows carrying `e`'s loss, in words (see [`no_skill`]).
fn where_it_loses(r: &Report, e: &ExcessLoss, note: WindowNote) -> String {
    let policy = e.policy;
    if e.largest.is_empty() {
        return format!(
            "The most accurate policy, {policy}, does no worse than the baseline on any of its {} windows: its gain is within the noise.",
            e.windows_scored
        );
    }
    let windows: Vec<u64> = e.largest.iter().map(|w| w.window).collect();
    let rest = e.losing_windows - windows.len();
    let spread = match rest {
        0 => String::new(),
        1 => ", the rest on 1 other window".to_string(),
        n => format!(", the rest spread over {n} other windows"),
    };
    let list = window_list(&windows, note);
    let verb = if windows.len() == 1 {
        "carries"
    } else {
        "carry"
    };
    format!(
        "{} {verb} {:.0} % of the {} the most accurate policy, {policy}, has in excess of the baseline's (over the {} of {} windows where it does worse{spread}): look at what changed there (an input outside the range seen in training, a shift in the target) before choosing a policy.",
        capitalised(&list),
        100.0 * e.listed_share(),
        r.setup.loss_words(),
        e.losing_windows,
        e.windows_scored,
    )
}

/// `window 17`, `windows 17 and 18`, `windows 3, 17 (NOTE) and 18`.
fn window_list(windows: &[u64], note: WindowNote) -> String {
    let items: Vec<String> = windows
        .iter()
        .map(|&w| match note(w) {
            Some(n) => format!("{w} ({n})"),
            None => w.to_string(),
        })
        .collect();
    let joined = match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    let word = if windows.len() == 1 {
        "window"
    } else {
        "windows"
    };
    format!("{word} {joined}")
}

/// `text` with its first letter upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Regression: each policy's pooled skill over the baseline, the figure "beats the
/// baseline" rests on (the mean of per-window skills understates a policy that does well on
/// windows where the baseline is nearly perfect).
fn pooled_sentence(r: &Report) -> Option<String> {
    if r.setup.higher_is_better {
        return None;
    }
    let parts: Vec<String> = r
        .modes
        .0
        .iter()
        .filter_map(|m| {
            let b = m.score.baseline.as_ref()?;
            Some(format!("{} {:.3}", m.mode, b.pooled_skill))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Pooled skill over the no-skill baseline (1 - squared error summed over the windows / the baseline's; 0: no better, 1: perfect): {}.",
            parts.join(", ")
        )
    })
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
    let noise = noise_words(c.std_error_points, c.paired_windows);
    let cost = cost_words(c.cost_ratio);
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
                    " With {metric} a draw and as much data kept ({data}), the cost decides: {cost}. Use {chosen}."
                ),
                Reason::KeepsLessData => format!(
                    " With {metric} a draw, the data kept decides: {data} ({cost}). Use {chosen}, which keeps less past data."
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

/// The noise on the book pair's difference: `± 0.93 at 2 standard errors over 39 windows`
/// from its standard error (points) over the `paired_windows` both modes scored.
fn noise_words(std_error_points: Option<f64>, paired_windows: usize) -> String {
    match std_error_points {
        Some(se) => format!(
            "± {:.2} at 2 standard errors over {} windows",
            CLOSE_STD_ERRORS * se,
            paired_windows
        ),
        None => format!("{} window only, no error estimate", paired_windows),
    }
}

/// The book pair's cost in words from `cost_ratio` (stateless's training time over
/// stateful's): which mode trained in what share of the other's time.
fn cost_words(cost_ratio: Option<f64>) -> String {
    match cost_ratio {
        Some(k) if k >= 1.0 => format!(
            "stateful trained in {} of the time stateless took",
            fraction(k)
        ),
        Some(k) => format!(
            "stateless trained in {} of the time stateful took",
            fraction(1.0 / k)
        ),
        None => "training time could not be compared".to_string(),
    }
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
    let (Some(best), Some(chosen)) = (
        r.best(),
        r.ranking
            .iter()
            .find(|s| Choice::Policy(s.policy) == rec.policy),
    ) else {
        return "Not enough windows scored to compare the policies.".to_string();
    };
    let time = |s: &relearn_train::compare::Standing| {
        fraction(best.train_seconds.max(1e-9) / s.train_seconds.max(1e-9))
    };
    let why = match rec.reason {
        Reason::CheaperInTime => format!(
            "it is within the noise of {} on {metric}, keeps as little past data as any policy within it, and trained in {} of {}'s time",
            best.policy,
            time(chosen),
            best.policy
        ),
        Reason::KeepsLessData => format!(
            "it is within the noise of {} on {metric} and keeps the least past data of the policies within it ({}; {} keeps {}), in {} of {}'s training time",
            best.policy,
            data_kept(
                &r.modes
                    .get(chosen.policy)
                    .expect("ranked policies ran")
                    .retained_at_end
            ),
            best.policy,
            data_kept(
                &r.modes
                    .get(best.policy)
                    .expect("ranked policies ran")
                    .retained_at_end
            ),
            time(chosen),
            best.policy
        ),
        Reason::SmallerModel => format!(
            "it is within the noise of {} on {metric}, keeps as little past data and trains about as fast, and its model is {} against {}",
            best.policy,
            model_size(r, chosen.policy),
            model_size(r, best.policy)
        ),
        _ => format!("it had the best mean {metric}"),
    };
    let with_size = both_families(r);
    let per_policy: Vec<String> = r
        .ranking
        .iter()
        .map(|s| policy_in_words(r, s, best, with_size))
        .collect();
    format!(
        "Use {}: {why}. Mean {metric} per policy: {}.",
        chosen.policy,
        per_policy.join("; ")
    )
}

/// One policy of [`among`]'s list: its mean score, how far behind the best, its training
/// time, the data it keeps and, when both model families ran (their sizes differ by orders
/// of magnitude), its model's size.
fn policy_in_words(
    r: &Report,
    s: &relearn_train::compare::Standing,
    best: &relearn_train::compare::Standing,
    with_size: bool,
) -> String {
    let unit = r.setup.unit();
    let m = r.modes.get(s.policy).expect("ranked policies ran");
    let behind = match (s.behind_best_points, s.std_error_points) {
        (Some(d), _) if s.policy == best.policy && d == 0.0 => "best".to_string(),
        (Some(d), Some(se)) => format!("{d:+.2} ± {:.2} {unit}", CLOSE_STD_ERRORS * se),
        (Some(d), None) => format!("{d:+.2} {unit}"),
        (None, _) => "not scored".to_string(),
    };
    let size = match with_size {
        true => format!("; model {}", model_size(r, s.policy)),
        false => String::new(),
    };
    format!(
        "{} {} ({behind}; {:.2} s training; {}{size})",
        s.policy,
        s.mean.map_or("-".into(), |v| fmt_score(&r.setup, v)),
        s.train_seconds,
        data_kept(&m.retained_at_end)
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

    use std::collections::BTreeMap;

    use relearn_train::compare::{Inputs, Invocation, RunInput, StreamSummary};

    /// The report `compare` makes of one regression run scoring `rows` (`(mse, baseline)`
    /// per update window, from window 1 on).
    fn regression_report(rows: &[(f64, f64)]) -> Report {
        let manifest = |window: usize, prequential: Option<BTreeMap<String, f64>>| {
            serde_json::from_value::<relearn_store::Manifest>(serde_json::json!({
                "id": format!("{window:064x}"), "run": "t-stateful", "mode": "stateful",
                "window": window, "parent": null,
                "relation": if prequential.is_none() { "initial" } else { "fine-tuned" },
                "replaces": null, "samples_trained": 100, "samples_skipped": 0,
                "retained": {"samples": 0, "bytes": 0},
                "metrics": {"prequential": prequential, "train_loss": null},
                "train_seconds": 0.01, "created_at": "2026-01-01T00:00:00.000Z",
                "config_fingerprint": "c", "trained_on": {"windows": [window], "samples": 100},
                "parts": {}
            }))
            .unwrap()
        };
        let mut chain = vec![manifest(0, None)];
        for (i, &(mse, base)) in rows.iter().enumerate() {
            let metrics = BTreeMap::from([
                ("mse".to_string(), mse),
                ("baseline".to_string(), base),
                ("skill".to_string(), 1.0 - mse / base),
            ]);
            chain.push(manifest(i + 1, Some(metrics)));
        }
        let setup = Setup {
            name: "t".into(),
            config: "t.toml".into(),
            store: "s".into(),
            task: "regression",
            metric: "mse",
            higher_is_better: false,
            stream: StreamSummary {
                source: "csv:t.csv".into(),
                samples: 100 * chain.len(),
                window_size: 100,
                initial_windows: 1,
                windows: chain.len(),
                label_delay: 0,
                drift_points: Vec::new(),
                every: None,
                window_samples: Vec::new(),
                target_variance: Some(1.0),
                baseline_mse: None,
                samples_unused_at_end: 0,
            },
        };
        relearn_train::compare::build(Inputs {
            setup,
            runs: vec![RunInput {
                mode: Policy::STATEFUL,
                chain: &chain,
                now: Invocation::default(),
                previous_concept: BTreeMap::new(),
            }],
        })
    }

    #[test]
    fn the_no_skill_message_names_the_windows_that_carry_the_loss() {
        let rows: Vec<(f64, f64)> = (1..=20)
            .map(|w| match w {
                17 => (900.0, 10.0),
                18 => (300.0, 10.0),
                _ => (10.5, 10.0),
            })
            .collect();
        let r = regression_report(&rows);
        let rec = relearn_train::compare::recommend(&r);
        let text = recommendation(&r, rec, &|_| None);
        assert!(
            text.starts_with("No policy beats the no-skill baseline"),
            "{text}"
        );
        assert!(
            text.contains(
                "Windows 17 and 18 carry 99 % of the squared error the most accurate policy, \
                 stateful, has in excess of the baseline's (over the 20 of 20 windows where it \
                 does worse, the rest spread over 18 other windows)"
            ),
            "{text}"
        );
        assert!(
            !text.contains("check the features and the target"),
            "{text}"
        );
        // A note on a window follows its number.
        let noted = no_skill(&r, &|w| (w == 17).then(|| "x3 at 5,800 std".to_string()));
        assert!(
            noted.contains("Windows 17 (x3 at 5,800 std) and 18 carry"),
            "{noted}"
        );
        // The pooled skill is what the words give for regression.
        assert!(
            text.contains("Pooled skill over the no-skill baseline"),
            "{text}"
        );
        assert!(text.contains("stateful -5.945"), "{text}");
    }

    #[test]
    fn window_lists_take_notes() {
        let none: WindowNote = &|_| None;
        assert_eq!(window_list(&[17], none), "window 17");
        assert_eq!(window_list(&[17, 18], none), "windows 17 and 18");
        let note: WindowNote = &|w| (w == 17).then(|| "price 5,800 std out".to_string());
        assert_eq!(
            window_list(&[3, 17, 18], note),
            "windows 3, 17 (price 5,800 std out) and 18"
        );
        assert_eq!(capitalised("windows 3"), "Windows 3");
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(fraction(6.2), "1/6");
        assert_eq!(fraction(1.6), "62 %");
    }
}
