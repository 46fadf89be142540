//! Unit tests of the statistics, on synthetic per-window scores.

use std::collections::BTreeMap;

use relearn_store::Retained;

use super::stats::{self, backward, concepts, format_sig, recoveries, within_tolerance};
use super::{Better, CLOSE_STD_ERRORS, Choice, Reason, Recommendation};
use super::{
    Definitions, ModeReport, Modes, Report, Samples, ScoreSummary, Seconds, Setup, StreamSummary,
    WindowRow, recommend,
};
use relearn_spec::Policy;

fn setup(higher_is_better: bool, drift_points: Vec<usize>) -> Setup {
    Setup {
        name: "t".into(),
        config: "t.toml".into(),
        store: "s".into(),
        task: if higher_is_better {
            "classification"
        } else {
            "regression"
        },
        metric: if higher_is_better { "accuracy" } else { "mse" },
        higher_is_better,
        stream: StreamSummary {
            source: "generator:sea".into(),
            samples: 2000,
            window_size: 100,
            initial_windows: 1,
            windows: 20,
            label_delay: 0,
            drift_points,
            every: None,
            window_samples: Vec::new(),
            target_variance: None,
            baseline_mse: None,
            samples_unused_at_end: 0,
        },
    }
}

fn rows(scores: &[(u64, f64)]) -> Vec<WindowRow> {
    scores
        .iter()
        .map(|&(w, s)| WindowRow {
            window: w,
            id: relearn_store::CheckpointId::parse(&format!("{w:064x}")).unwrap(),
            score: s,
            prequential: BTreeMap::new(),
            train_seconds: 0.1,
            samples_trained: 100,
            retained: Retained::default(),
            previous_concept: None,
            period: None,
        })
        .collect()
}

#[test]
fn concepts_are_the_windows_wholly_between_drift_points() {
    let mut s = setup(true, vec![1000, 1450]);
    s.stream.windows = 20;
    let (concept_of, whole) = concepts(&s.stream);
    assert_eq!(&concept_of[8..16], &[0, 0, 1, 1, 1, 1, 2, 2]);
    // Window 14 holds sample 1450: it belongs to neither concept's whole windows.
    assert_eq!(whole, vec![0..10, 10..14, 15..20]);
}

#[test]
fn backward_compares_the_previous_concept_now_and_then() {
    let s = setup(true, vec![1000]);
    let mut w = rows(&[(8, 0.9), (9, 0.8), (10, 0.5), (11, 0.7)]);
    w[2].previous_concept = Some(0.75);
    w[3].previous_concept = Some(0.65);
    // Then: windows 1..10 of concept 0 scored 0.9 and 0.8 (mean 0.85); now 0.70.
    let b = backward(&s, &w).unwrap();
    assert_eq!(b.checkpoints, 2);
    assert!((b.score - 0.70).abs() < 1e-12);
    assert!((b.then - 0.85).abs() < 1e-12);
    assert!((b.transfer_points + 15.0).abs() < 1e-9);
}

#[test]
fn recovery_counts_windows_from_the_drift_window() {
    let s = setup(true, vec![1000]);
    // Pre-drift level 0.9 (windows 7, 8, 9); drop at 10, back within 0.02 at 12.
    let w = rows(&[
        (7, 0.9),
        (8, 0.9),
        (9, 0.9),
        (10, 0.6),
        (11, 0.85),
        (12, 0.885),
        (13, 0.9),
    ]);
    let r = &recoveries(&s, &w)[0];
    assert_eq!(r.drift_window, 10);
    assert!((r.pre_drift_level.unwrap() - 0.9).abs() < 1e-12);
    assert_eq!(r.windows_to_recover, Some(2));
    assert_eq!(r.recovered_at, Some(12));
    assert_eq!(r.lowest.unwrap().window, 10);
}

#[test]
fn no_dip_is_zero_and_no_return_is_none() {
    let s = setup(true, vec![1000]);
    let w = rows(&[(7, 0.9), (8, 0.9), (9, 0.9), (10, 0.89), (11, 0.95)]);
    assert_eq!(recoveries(&s, &w)[0].windows_to_recover, Some(0));
    let w = rows(&[
        (7, 0.9),
        (8, 0.9),
        (9, 0.9),
        (10, 0.5),
        (11, 0.6),
        (12, 0.7),
    ]);
    let r = &recoveries(&s, &w)[0];
    assert_eq!(r.windows_to_recover, None);
    assert_eq!(r.lowest.unwrap().score, 0.5);
}

#[test]
fn late_drift_dips_in_the_next_window() {
    let s = setup(true, vec![1090]);
    let w = rows(&[
        (7, 0.9),
        (8, 0.9),
        (9, 0.9),
        (10, 0.9),
        (11, 0.6),
        (12, 0.9),
    ]);
    assert_eq!(recoveries(&s, &w)[0].windows_to_recover, Some(2));
}

#[test]
fn regression_tolerance_is_relative() {
    // mse: 2 points of 0.5 (a target variance of 50) is 1.0 above the level.
    assert!(within_tolerance(false, 0.5, 10.9, 10.0));
    assert!(!within_tolerance(false, 0.5, 11.1, 10.0));
    assert!(within_tolerance(true, 0.01, 0.881, 0.9));
    assert!(!within_tolerance(true, 0.01, 0.879, 0.9));
}

#[test]
fn significant_digits() {
    assert_eq!(format_sig(12.3456, 4), "12.35");
    assert_eq!(format_sig(0.0123456, 4), "0.01235");
}

/// A policy's report with `rows`, `seconds` of training per update and `retained` samples
/// kept at the end.
fn mode_report(mode: Policy, rows: Vec<WindowRow>, seconds: f64, retained: u64) -> ModeReport {
    let scores: Vec<f64> = rows.iter().map(|w| w.score).collect();
    let updates_total = seconds * rows.len() as f64;
    ModeReport {
        run: format!("t-{mode}"),
        mode,
        head: rows.last().map(|w| w.id.clone()),
        initial: None,
        score: ScoreSummary {
            windows: rows.len(),
            mean: stats::mean(&scores),
            r#final: None,
            worst: None,
            baseline: None,
        },
        recovery: Vec::new(),
        backward: None,
        train_seconds: Seconds {
            initial: 0.0,
            updates_total,
            per_update_mean: None,
            total: updates_total,
        },
        samples_trained: Samples {
            initial: 0,
            updates_total: 0,
            total: 0,
        },
        retained_at_end: Retained {
            samples: retained,
            bytes: 0,
        },
        model_bytes: None,
        samples_skipped: 0,
        peak_memory: None,
        trained_now: 0,
        reused: 0,
        wall_seconds: 0.0,
        windows: rows,
    }
}

/// The report of `modes` as [`super::build`] makes it from manifests.
fn report(setup: Setup, modes: Vec<ModeReport>) -> Report {
    let modes = Modes(modes);
    let comparison = match (modes.get(Policy::STATELESS), modes.get(Policy::STATEFUL)) {
        (Some(stateless), Some(stateful)) => Some(recommend::compare(&setup, stateless, stateful)),
        _ => None,
    };
    let ranking = stats::rank(&setup, &modes);
    Report {
        version: super::VERSION,
        definitions: Definitions {
            point: String::new(),
            point_value: setup.point(),
            pre_drift_windows: 0,
            recovery_points: 0.0,
            close_points: 0.0,
            close_std_errors: 0.0,
        },
        policies: modes.0.iter().map(|m| m.mode).collect(),
        setup,
        modes,
        comparison,
        ranking,
        beat_baseline: None,
    }
}

/// `n` windows scoring `level` plus a wobble of `noise` (alternating signs).
fn scores(n: u64, level: f64, noise: f64) -> Vec<WindowRow> {
    let wobble = |w: u64| if w.is_multiple_of(2) { noise } else { -noise };
    rows(&(1..=n).map(|w| (w, level + wobble(w))).collect::<Vec<_>>())
}

#[test]
fn the_verdicts_serialise_as_compare_json_always_spelled_them() {
    let json = |v: serde_json::Value| v.to_string();
    assert_eq!(
        json(serde_json::json!(Better::TooClose)),
        r#""too close to call""#
    );
    assert_eq!(json(serde_json::json!(Better::Stateless)), r#""stateless""#);
    assert_eq!(json(serde_json::json!(Choice::Either)), r#""either""#);
    assert_eq!(
        json(serde_json::json!(Choice::Policy(Policy::STATEFUL))),
        r#""stateful""#
    );
}

#[test]
fn the_book_pair_prefers_the_better_mode_unless_it_only_matched_at_a_higher_cost() {
    let pick = |stateful: f64, stateful_seconds: f64| {
        let r = report(
            setup(true, vec![]),
            vec![
                mode_report(Policy::STATELESS, scores(10, 0.90, 0.001), 1.0, 500),
                mode_report(
                    Policy::STATEFUL,
                    scores(10, stateful, 0.001),
                    stateful_seconds,
                    0,
                ),
            ],
        );
        let c = r.comparison.as_ref().expect("both ran");
        let rec = recommend(&r);
        assert_eq!(c.recommended, rec.policy);
        (c.better, rec.policy, rec.reason)
    };
    let stateful = Choice::Policy(Policy::STATEFUL);
    let stateless = Choice::Policy(Policy::STATELESS);
    // 3 points better.
    assert_eq!(
        pick(0.93, 1.0),
        (Better::Stateful, stateful, Reason::BetterBeyondNoise)
    );
    // 0.8 points worse at a sixth of the time: matched.
    assert_eq!(
        pick(0.892, 1.0 / 6.0),
        (Better::Stateless, stateful, Reason::MatchedAndCheaper)
    );
    // 3 points worse: stateless, whatever the cost.
    assert_eq!(
        pick(0.87, 1.0 / 6.0),
        (Better::Stateless, stateless, Reason::BetterBeyondNoise)
    );
    // A draw at the same cost: the one keeping less data.
    assert_eq!(
        pick(0.901, 1.0),
        (Better::TooClose, stateful, Reason::KeepsLessData)
    );
}

#[test]
fn other_sets_pick_the_cheapest_within_the_noise_of_the_best() {
    let r = report(
        setup(true, vec![]),
        vec![
            mode_report(
                Policy::from(relearn_spec::Mode::Replay),
                scores(10, 0.90, 0.001),
                1.0,
                250,
            ),
            mode_report(
                Policy::from(relearn_spec::Mode::Drift),
                scores(10, 0.899, 0.001),
                0.5,
                250,
            ),
            mode_report(Policy::STATELESS, scores(10, 0.80, 0.001), 0.1, 1500),
        ],
    );
    assert_eq!(
        r.best().map(|s| s.policy),
        Some(Policy::from(relearn_spec::Mode::Replay))
    );
    let rec = recommend(&r);
    assert_eq!(
        (rec.policy, rec.reason),
        (
            Choice::Policy(Policy::from(relearn_spec::Mode::Drift)),
            Reason::CheaperInTime
        )
    );
    let none = report(
        setup(true, vec![]),
        vec![mode_report(
            Policy::from(relearn_spec::Mode::Replay),
            Vec::new(),
            1.0,
            250,
        )],
    );
    assert_eq!(
        recommend(&none),
        Recommendation {
            policy: Choice::Either,
            reason: Reason::NotEnoughWindows
        }
    );
}

#[test]
fn a_far_worse_policy_is_never_recommended_however_noisy() {
    // Drift is 5 points behind replay on average, but swings 20 points either way from
    // window to window: its differences are within 2 standard errors, yet its mean is far
    // outside the close band, so its lower cost does not make it the recommendation.
    let r = report(
        setup(true, vec![]),
        vec![
            mode_report(
                Policy::from(relearn_spec::Mode::Replay),
                scores(10, 0.90, 0.0),
                1.0,
                250,
            ),
            mode_report(
                Policy::from(relearn_spec::Mode::Drift),
                scores(10, 0.85, 0.2),
                0.1,
                250,
            ),
        ],
    );
    let drift = &r.ranking[1];
    let behind = drift.behind_best_points.expect("scored");
    assert!((behind + 5.0).abs() < 1e-9, "{behind}");
    assert!(behind.abs() < CLOSE_STD_ERRORS * drift.std_error_points.expect("noise"));
    assert!(!drift.close_to_best);
    assert_eq!(
        recommend(&r),
        Recommendation {
            policy: Choice::Policy(Policy::from(relearn_spec::Mode::Replay)),
            reason: Reason::BestMean
        }
    );
}

#[test]
fn baseline_beaten_only_beyond_the_noise() {
    let setup = setup(true, Vec::new());
    let rows = |base: f64| -> Vec<WindowRow> {
        scores(20, 0.80, 0.02)
            .into_iter()
            .map(|mut w| {
                w.prequential.insert("baseline".into(), base);
                w.prequential
                    .insert("skill".into(), (w.score - base) / (1.0 - base));
                w
            })
            .collect()
    };
    // The baseline scores as well as the model: no skill.
    let level = super::baseline_summary(&setup, &rows(0.80)).unwrap();
    assert!(!level.beats_baseline, "{level:?}");
    assert!(level.skill.abs() < 0.05, "{level:?}");
    // Five points under the model on every window: beaten.
    let beaten = super::baseline_summary(&setup, &rows(0.75)).unwrap();
    assert!(beaten.beats_baseline, "{beaten:?}");
    assert!(
        (beaten.over_baseline_points - 5.0).abs() < 1e-9,
        "{beaten:?}"
    );
    // No window records a baseline: none.
    assert!(super::baseline_summary(&setup, &scores(5, 0.8, 0.0)).is_none());
}

#[test]
fn identical_scores_go_to_the_policy_keeping_less_data_then_costing_less() {
    // A drift detector that never fired: drift scores exactly as stateful, keeps 50 past
    // samples, and happened to train clearly faster (0.06 s against 0.10 s). Replay scores
    // the same too, keeps 25 and is the cheapest of all. Stateless is far behind.
    let (stateful, drift, replay) = (
        Policy::STATEFUL,
        Policy::from(relearn_spec::Mode::Drift),
        Policy::from(relearn_spec::Mode::Replay),
    );
    let run = |p: Policy| match p {
        p if p == stateful => mode_report(p, scores(10, 0.85, 0.01), 0.010, 0),
        p if p == drift => mode_report(p, scores(10, 0.85, 0.01), 0.006, 50),
        p if p == replay => mode_report(p, scores(10, 0.85, 0.01), 0.004, 25),
        p => mode_report(p, scores(10, 0.70, 0.01), 0.001, 0),
    };
    for order in [
        vec![stateful, drift],
        vec![drift, stateful],
        vec![drift, replay, stateful, Policy::STATELESS],
    ] {
        let r = report(setup(true, vec![]), order.iter().map(|&p| run(p)).collect());
        let rec = recommend(&r);
        assert_eq!(rec.policy, Choice::Policy(stateful), "{order:?}: {rec:?}");
        let expected = if r.best().map(|b| b.policy) == Some(stateful) {
            Reason::BestMean
        } else {
            Reason::KeepsLessData
        };
        assert_eq!(rec.reason, expected, "{order:?}");
    }
}

#[test]
fn among_policies_keeping_as_little_the_clearly_cheaper_one_wins() {
    // Two data-free policies with identical scores: the clearly cheaper one, whichever is
    // listed (and so ranked best) first; at about the same cost, the first.
    let ewc = Policy::all()[5];
    assert_eq!(ewc.name(), "stateful+ewc");
    for order in [[Policy::STATEFUL, ewc], [ewc, Policy::STATEFUL]] {
        let r = report(
            setup(true, vec![]),
            order
                .iter()
                .map(|&p| {
                    let seconds = if p == ewc { 0.02 } else { 0.01 };
                    mode_report(p, scores(10, 0.85, 0.01), seconds, 0)
                })
                .collect(),
        );
        assert_eq!(
            recommend(&r).policy,
            Choice::Policy(Policy::STATEFUL),
            "{order:?}"
        );
        let similar = report(
            setup(true, vec![]),
            order
                .iter()
                .map(|&p| {
                    let seconds = if p == ewc { 0.011 } else { 0.01 };
                    mode_report(p, scores(10, 0.85, 0.01), seconds, 0)
                })
                .collect(),
        );
        assert_eq!(
            recommend(&similar),
            Recommendation {
                policy: Choice::Policy(order[0]),
                reason: Reason::BestMean
            },
            "{order:?}"
        );
    }
}

#[test]
fn a_book_pair_draw_goes_to_the_data_free_mode_before_the_cost() {
    // Too close to call; stateless trained in half the time but keeps 500 past samples.
    let r = report(
        setup(true, vec![]),
        vec![
            mode_report(Policy::STATELESS, scores(10, 0.90, 0.001), 1.0, 500),
            mode_report(Policy::STATEFUL, scores(10, 0.901, 0.001), 2.0, 0),
        ],
    );
    let c = r.comparison.as_ref().expect("both ran");
    assert_eq!(c.better, Better::TooClose);
    let rec = recommend(&r);
    assert_eq!(
        rec,
        Recommendation {
            policy: Choice::Policy(Policy::STATEFUL),
            reason: Reason::KeepsLessData
        }
    );
    assert_eq!(c.recommended, rec.policy);
}

/// A checkpoint as the store returns it, from its JSON.
fn manifest(
    run: &str,
    window: u64,
    prequential: Option<BTreeMap<String, f64>>,
    skipped: u64,
) -> relearn_store::Manifest {
    let id = format!("{:064x}", ((run.len() as u64) << 32) | window);
    serde_json::from_value(serde_json::json!({
        "id": id,
        "run": run,
        "mode": "stateful",
        "window": window,
        "parent": null,
        "relation": if prequential.is_none() { "initial" } else { "fine-tuned" },
        "replaces": null,
        "samples_trained": 100,
        "samples_skipped": skipped,
        "retained": {"samples": 0, "bytes": 0},
        "metrics": {"prequential": prequential, "train_loss": null},
        "train_seconds": 0.01,
        "created_at": "2026-01-01T00:00:00.000Z",
        "config_fingerprint": "c",
        "trained_on": {"windows": [window], "samples": 100},
        "parts": {}
    }))
    .expect("a manifest")
}

/// A regression run: an initial checkpoint at window 0, then one update per `(mse,
/// baseline)` from window 1 on, each skipping `skipped` rows.
fn regression_chain(run: &str, rows: &[(f64, f64)], skipped: u64) -> Vec<relearn_store::Manifest> {
    let mut chain = vec![manifest(run, 0, None, skipped)];
    for (i, &(mse, base)) in rows.iter().enumerate() {
        let prequential = BTreeMap::from([
            ("mse".to_string(), mse),
            ("baseline".to_string(), base),
            ("skill".to_string(), 1.0 - mse / base),
        ]);
        chain.push(manifest(run, i as u64 + 1, Some(prequential), skipped));
    }
    chain
}

/// The report `build` makes of regression runs, with `target_variance` as the initial
/// windows' variance.
fn regression_report(
    chains: &[(Policy, Vec<relearn_store::Manifest>)],
    target_variance: f64,
) -> Report {
    let mut s = setup(false, Vec::new());
    s.stream.windows = chains[0].1.len();
    s.stream.target_variance = Some(target_variance);
    super::build(super::Inputs {
        setup: s,
        runs: chains
            .iter()
            .map(|(mode, chain)| super::RunInput {
                mode: *mode,
                chain,
                now: super::Invocation::default(),
                previous_concept: BTreeMap::new(),
            })
            .collect(),
    })
}

#[test]
fn regression_reports_a_pooled_skill_that_calm_windows_do_not_drown() {
    // Two stormy windows where the baseline's mse is 100 and the model's 40, eight calm
    // ones where the baseline is nearly perfect (0.5) and the model a little worse (0.6):
    // the mean of per-window skills is negative although the model's squared error summed
    // over the windows is 58 % below the baseline's.
    let mut rows = vec![(40.0, 100.0); 2];
    rows.extend([(0.6, 0.5); 8]);
    let r = regression_report(
        &[(Policy::STATEFUL, regression_chain("t-stateful", &rows, 3))],
        1.0,
    );
    let b = r.modes.0[0].score.baseline.as_ref().expect("recorded");
    assert!(b.skill < 0.0, "{b:?}");
    let pooled = 1.0 - (2.0 * 40.0 + 8.0 * 0.6) / (2.0 * 100.0 + 8.0 * 0.5);
    assert!((b.pooled_skill - pooled).abs() < 1e-12, "{b:?}");
    // A point of mse is 1 % of the baseline's pooled mse, so the mean margin over the
    // baseline, in points, is 100 times the pooled skill.
    assert_eq!(r.setup.stream.baseline_mse, Some(20.4));
    assert!((r.setup.point() - 0.204).abs() < 1e-12);
    assert!(
        (b.over_baseline_points - 100.0 * pooled).abs() < 1e-9,
        "{b:?}"
    );
    assert_eq!(r.setup.unit(), "points of skill");
    // Every checkpoint compared, the initial one included, skipped 3 rows.
    assert_eq!(r.modes.0[0].samples_skipped, 33);
    // compare.json carries the new fields beside the old ones.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["version"], 3);
    assert!(json["modes"]["stateful"]["score"]["baseline"]["pooled_skill"].is_number());
    assert!(json["modes"]["stateful"]["score"]["baseline"]["skill"].is_number());
    assert_eq!(json["modes"]["stateful"]["samples_skipped"], 33);
    assert_eq!(json["stream"]["baseline_mse"], 20.4);
    assert_eq!(json["stream"]["samples_unused_at_end"], 0);
}

#[test]
fn the_regression_advantage_does_not_depend_on_the_targets_scale() {
    // The same runs with the target in units a thousand times smaller (mse a million times
    // smaller), while the initial windows' variance is tiny either way: the advantage in
    // points is the same, 100 times the difference in pooled skill, and not scaled by the
    // initial windows' variance.
    let stateless: Vec<(f64, f64)> = (0..10).map(|w| (8.0 + f64::from(w % 3), 20.0)).collect();
    let stateful: Vec<(f64, f64)> = (0..10).map(|w| (5.0 + f64::from(w % 2), 20.0)).collect();
    let advantage = |scale: f64| {
        let scaled = |rows: &[(f64, f64)]| -> Vec<(f64, f64)> {
            rows.iter().map(|&(m, b)| (m * scale, b * scale)).collect()
        };
        let r = regression_report(
            &[
                (
                    Policy::STATELESS,
                    regression_chain("t-stateless", &scaled(&stateless), 0),
                ),
                (
                    Policy::STATEFUL,
                    regression_chain("t-stateful", &scaled(&stateful), 0),
                ),
            ],
            1e-9,
        );
        let pooled = |p: Policy| {
            r.modes
                .get(p)
                .unwrap()
                .score
                .baseline
                .as_ref()
                .unwrap()
                .pooled_skill
        };
        let skill_gap = 100.0 * (pooled(Policy::STATEFUL) - pooled(Policy::STATELESS));
        let c = r.comparison.as_ref().unwrap();
        (c.advantage_points.unwrap(), skill_gap, c.better)
    };
    let (units, gap, better) = advantage(1.0);
    let (thousandths, _, better_small) = advantage(1e-6);
    assert!((units - gap).abs() < 1e-9, "{units} vs {gap}");
    assert!((units - 17.0).abs() < 1e-9, "{units}");
    assert!(
        (units - thousandths).abs() < 1e-6,
        "{units} vs {thousandths}"
    );
    assert_eq!((better, better_small), (Better::Stateful, Better::Stateful));
}

#[test]
fn the_excess_loss_names_the_windows_that_carry_it() {
    // Twenty windows a little worse than the baseline, two far worse.
    let rows: Vec<(f64, f64)> = (1..=20)
        .map(|w| match w {
            17 => (900.0, 10.0),
            18 => (300.0, 10.0),
            _ => (10.5, 10.0),
        })
        .collect();
    let r = regression_report(
        &[(Policy::STATEFUL, regression_chain("t-stateful", &rows, 0))],
        1.0,
    );
    assert!(r.no_policy_beats_baseline());
    let e = r.excess_loss().expect("baselines recorded");
    assert_eq!(e.policy, Policy::STATEFUL);
    assert_eq!((e.windows_scored, e.losing_windows), (20, 20));
    let listed: Vec<u64> = e.largest.iter().map(|w| w.window).collect();
    assert_eq!(listed, vec![17, 18]);
    // 890 + 290 of 1180 + 18 * 0.5, times the window's 100 samples.
    assert!(
        (e.total - 100.0 * (890.0 + 290.0 + 9.0)).abs() < 1e-6,
        "{e:?}"
    );
    assert!((e.listed_share() - 1180.0 / 1189.0).abs() < 1e-12);
    // No window worse than the baseline: nothing listed.
    let better: Vec<(f64, f64)> = (1..=5).map(|_| (9.0, 10.0)).collect();
    let r = regression_report(
        &[(Policy::STATEFUL, regression_chain("t-stateful", &better, 0))],
        1.0,
    );
    let e = r.excess_loss().unwrap();
    assert_eq!((e.losing_windows, e.largest.len()), (0, 0));
}
