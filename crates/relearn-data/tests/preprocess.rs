//! Scaler statistics and preprocessing state.

use proptest::prelude::*;
use relearn_data::{Batch, DataError, Preprocessor, Scaler, Scaling, StreamInfo, Task};

fn batch(rows: &[&[f32]]) -> Batch {
    let mut b = Batch::new(rows[0].len());
    for (i, r) in rows.iter().enumerate() {
        b.push(r, i as f32);
    }
    b
}

/// Deterministic pseudo-random batch (features on different scales).
fn synthetic(n: usize, d: usize, seed: u64) -> Batch {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut b = Batch::new(d);
    let mut row = vec![0.0; d];
    for _ in 0..n {
        for (j, x) in row.iter_mut().enumerate() {
            *x = (next() - 0.3) * 10f32.powi(j as i32) + j as f32 * 100.0;
        }
        b.push(&row, 0.0);
    }
    b
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * y.abs().max(1.0))
}

fn info() -> StreamInfo {
    StreamInfo {
        source: "csv:data.csv".to_string(),
        feature_names: vec!["a".to_string(), "b".to_string(), "c".to_string()],
        task: Task::Classification,
        classes: vec!["down".to_string(), "up".to_string()],
        n_samples: 100,
        skipped_rows: 0,
        trailing_rows: 0,
        drift_points: vec![],
        time: vec![],
        time_column: None,
        every: None,
        empty_periods: 0,
        waiting_period: None,
        labels: None,
        indicators: vec![],
        categorical: vec![],
        later_classes: vec![],
        missing: vec![],
    }
}

/// A stream of `d` numeric features `x0, x1, ...`, for regression.
fn info_of(d: usize) -> StreamInfo {
    StreamInfo {
        feature_names: (0..d).map(|j| format!("x{j}")).collect(),
        task: Task::Regression,
        classes: vec![],
        ..info()
    }
}

/// A stream of one numeric feature `a` (with a missing indicator) and one categorical column
/// `c` of 4 one-hot inputs (and `buckets` hashed ones).
fn mixed_info(buckets: usize) -> StreamInfo {
    StreamInfo {
        feature_names: vec!["a".to_string()],
        indicators: vec![0],
        categorical: vec![relearn_data::CategoricalColumn {
            name: "c".to_string(),
            slots: 4,
            buckets,
        }],
        later_classes: vec!["new".to_string()],
        missing: vec!["".to_string()],
        ..info()
    }
}

fn mixed(rows: &[(f32, &str, f32)]) -> Batch {
    let mut b = Batch::mixed(1, 1);
    for &(a, c, y) in rows {
        b.push_mixed(&[a], &[c.to_string()], y);
    }
    b
}

#[test]
fn encoders_impute_flag_one_hot_grow_and_hash() {
    let mut pre = Preprocessor::new(&mixed_info(2), Scaling::Running);
    assert_eq!(pre.n_inputs(), 1 + 1 + 4 + 2);
    // `x` twice, `y` once, a blank cell, a missing number.
    let fit = mixed(&[
        (1.0, "y", 0.0),
        (3.0, "x", 1.0),
        (f32::NAN, "x", 0.0),
        (5.0, "", 1.0),
    ]);
    pre.fit(&fit);
    let e = pre.encoders.as_ref().unwrap();
    assert_eq!(
        e.categorical[0].vocabulary,
        vec!["x", "y"],
        "most frequent first"
    );
    assert_eq!(
        pre.scaler.mean[0], 3.0,
        "the missing cell takes the observed mean"
    );
    let inputs = pre.transform(&fit);
    let row = |i: usize| inputs.row(i).to_vec();
    assert_eq!(row(2)[0], 0.0, "imputed: the mean, 0 once standardised");
    assert_eq!(row(2)[1], 1.0, "its missing indicator");
    assert_eq!(row(0)[1], 0.0);
    assert_eq!(&row(0)[2..], &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0], "y: slot 1");
    assert_eq!(&row(3)[2..], &[0.0; 6], "a missing category sets no input");
    // A value outside the vocabulary is hashed into one of the 2 buckets.
    let unseen = pre.transform(&mixed(&[(1.0, "zebra", 0.0)]));
    let bucket = (relearn_data::fnv1a64(b"zebra") % 2) as usize;
    assert_eq!(unseen.row(0)[2 + 4 + bucket], 1.0);
    assert_eq!(unseen.row(0)[2..6], [0.0; 4]);
    // A fine-tune's window brings `zebra`, `w`, `v` and `u`: the first two fill the free
    // slots, in order of appearance; the others stay hashed.
    pre.update(&mixed(&[
        (2.0, "zebra", 0.0),
        (2.0, "x", 0.0),
        (2.0, "w", 0.0),
        (2.0, "v", 0.0),
        (2.0, "u", 1.0),
    ]));
    let e = pre.encoders.as_ref().unwrap();
    assert_eq!(e.categorical[0].vocabulary, vec!["x", "y", "zebra", "w"]);
    let grown = pre.transform(&mixed(&[(1.0, "zebra", 0.0)]));
    assert_eq!(&grown.row(0)[2..], &[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    // The state survives its bytes.
    assert_eq!(Preprocessor::from_bytes(&pre.to_bytes()).unwrap(), pre);
    // Without buckets, an unseen value sets nothing.
    let mut plain = Preprocessor::new(&mixed_info(0), Scaling::Running);
    plain.fit(&fit);
    assert_eq!(
        &plain.transform(&mixed(&[(1.0, "zebra", 0.0)])).row(0)[2..],
        &[0.0; 4]
    );
}

#[test]
fn classes_grow_as_a_prefix_of_the_stream_s_labels() {
    let info = mixed_info(0);
    let mut pre = Preprocessor::new(&info, Scaling::Running);
    let all = info.all_classes();
    assert!(pre.learn_classes(&all, &[0.0, 1.0]).is_empty());
    assert_eq!(pre.learn_classes(&all, &[2.0, 0.0]), vec!["new"]);
    assert_eq!(pre.classes, vec!["down", "up", "new"]);
    pre.check_compatible(&info).unwrap();
    let mut other = info.clone();
    other.later_classes = vec!["else".to_string()];
    assert!(pre.check_compatible(&other).is_err());
}

#[test]
fn running_update_equals_fit_on_the_concatenation() {
    let parts: Vec<Batch> = (0..5)
        .map(|s| synthetic(37 + 11 * s as usize, 4, s))
        .collect();
    let mut running = Scaler::new(Scaling::Running, 4);
    running.fit(&parts[0]);
    let mut all = parts[0].clone();
    for p in &parts[1..] {
        running.update(p);
        all.extend(p);
    }
    let mut whole = Scaler::new(Scaling::Running, 4);
    whole.fit(&all);
    assert_eq!(running.count, whole.count);
    assert!(
        close(&running.mean, &whole.mean, 1e-9),
        "{:?} vs {:?}",
        running.mean,
        whole.mean
    );
    assert!(
        close(&running.m2, &whole.m2, 1e-9),
        "{:?} vs {:?}",
        running.m2,
        whole.m2
    );
}

#[test]
fn initial_and_none_modes_ignore_updates() {
    let (a, b) = (synthetic(50, 3, 1), synthetic(50, 3, 2));
    let mut initial = Scaler::new(Scaling::Initial, 3);
    initial.fit(&a);
    let fitted = initial.clone();
    initial.update(&b);
    assert_eq!(initial, fitted);
    // Fitting again starts over.
    initial.fit(&b);
    let mut fresh = Scaler::new(Scaling::Initial, 3);
    fresh.fit(&b);
    assert_eq!(initial, fresh);

    let mut none = Scaler::new(Scaling::None, 3);
    none.fit(&a);
    none.update(&b);
    assert_eq!(none.count, 0);
    assert_eq!(none.transform(&a), a);
    // Unfitted: identity.
    assert_eq!(Scaler::new(Scaling::Running, 3).transform(&a), a);
}

#[test]
fn transform_gives_zero_mean_unit_variance() {
    let b = synthetic(500, 4, 9);
    let mut s = Scaler::new(Scaling::Initial, 4);
    s.fit(&b);
    let t = s.transform(&b);
    assert_eq!(t.targets, b.targets);
    for j in 0..4 {
        let col: Vec<f64> = (0..t.len()).map(|i| f64::from(t.row(i)[j])).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
        assert!(mean.abs() < 1e-5, "feature {j}: mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "feature {j}: var {var}");
    }
    let mut in_place = b.clone();
    s.transform_in_place(&mut in_place);
    assert_eq!(in_place, t);
}

#[test]
fn constant_features_are_only_centred() {
    let b = batch(&[&[5.0, 1.0], &[5.0, 3.0]]);
    let mut s = Scaler::new(Scaling::Running, 2);
    s.fit(&b);
    assert_eq!(s.std(), vec![1.0, 1.0]);
    assert_eq!(s.transform(&b).features, vec![0.0, -1.0, 0.0, 1.0]);
}

#[test]
fn a_column_in_tiny_units_is_scaled_by_its_real_spread() {
    // Spreads of 1e-9 and 1e-12: an absolute floor (1e-6) left them unscaled.
    let b = batch(&[&[1e-9, 3e-12], &[3e-9, 1e-12], &[2e-9, 2e-12]]);
    let mut s = Scaler::new(Scaling::Initial, 2);
    s.fit(&b);
    let t = s.transform(&b);
    for j in 0..2 {
        let col: Vec<f32> = (0..3).map(|i| t.row(i)[j]).collect();
        let max = col.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((1.0..1.5).contains(&max), "feature {j}: {col:?}");
    }
}

#[test]
fn a_column_constant_up_to_rounding_is_only_centred() {
    // 0.1 is not a binary fraction: the f64 mean of many 0.1f32 cells carries rounding,
    // which is no spread to divide by (it would blow 1e-17 up to a whole input).
    let rows: Vec<[f32; 1]> = (0..1000).map(|_| [0.1f32]).collect();
    let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
    let mut s = Scaler::new(Scaling::Initial, 1);
    s.fit(&batch(&refs));
    assert_eq!(s.std(), vec![1.0]);
    // f32 cells near 1e6 are 0.0625 apart: a spread of 1 is real, one of 0.01 is not.
    assert_eq!(relearn_data::real_spread(1e6, 1.0), Some(1.0));
    assert_eq!(relearn_data::real_spread(1e6, 0.01), None);
    assert_eq!(relearn_data::real_spread(0.0, 0.0), None);
}

#[test]
fn inputs_beyond_the_clip_are_clipped_and_reported_and_the_rest_is_unchanged() {
    // Window 0: x0 evenly spread, x1 zero but for ten 1s (std 0.3: a 1 is 3 std out, inside
    // the clip).
    let mut rows: Vec<[f32; 2]> = (0..100).map(|i| [i as f32 / 10.0, 0.0]).collect();
    for r in (0..100).step_by(10) {
        rows[r][1] = 1.0;
    }
    let refs: Vec<&[f32]> = rows.iter().map(|r| &r[..]).collect();
    let fit_on = batch(&refs);
    let mut plain = Scaler::new(Scaling::Initial, 2).with_clip(f64::INFINITY);
    plain.fit(&fit_on);
    let mut clipped = Scaler::new(Scaling::Initial, 2);
    clipped.fit(&fit_on);
    assert_eq!(clipped.clip, relearn_data::DEFAULT_CLIP);
    // Within the clip, the transform is the plain standardisation, bit for bit.
    assert_eq!(clipped.transform(&fit_on), plain.transform(&fit_on));
    // x1 = 101 is about 336 standard deviations out: clipped to the bound, and reported.
    let later = batch(&[&[5.0, 101.0], &[5.0, 0.0], &[-500.0, 101.0]]);
    let t = clipped.transform(&later);
    let bound = relearn_data::DEFAULT_CLIP as f32;
    assert_eq!(t.row(0)[1], bound);
    assert_eq!(t.row(2), &[-bound, bound]);
    assert!(plain.transform(&later).row(0)[1] > 300.0);
    let beyond = clipped.beyond_clip(&later);
    assert_eq!(beyond[0].unwrap().0, 1);
    let (rows_out, far) = beyond[1].unwrap();
    assert_eq!(rows_out, 2);
    assert!(far > 300.0, "{far}");
    assert!(clipped.beyond_clip(&fit_on).iter().all(Option::is_none));
    // The preprocessing names the columns, farthest first.
    let mut pre = Preprocessor::new(&info_of(2), Scaling::Initial);
    pre.fit(&fit_on);
    let found = pre.out_of_range(&later);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].column.as_str(), found[0].rows), ("x1", 2));
    assert_eq!((found[1].column.as_str(), found[1].rows), ("x0", 1));
    // With scaling off nothing is clipped nor reported.
    let mut off = Preprocessor::new(&info_of(2), Scaling::None);
    off.fit(&fit_on);
    assert!(off.out_of_range(&later).is_empty());
    assert_eq!(off.transform(&later).features, later.features);
}

#[test]
fn the_default_clip_is_not_in_the_bytes_and_another_is() {
    let mut pre = Preprocessor::new(&info(), Scaling::Running);
    pre.scaler.fit(&synthetic(100, 3, 4));
    let bytes = pre.to_bytes();
    assert!(!String::from_utf8_lossy(&bytes).contains("clip"));
    let other = pre.clone().with_clip(3.0);
    let back = Preprocessor::from_bytes(&other.to_bytes()).unwrap();
    assert_eq!(back.scaler.clip, 3.0);
    // No clip at all: JSON has no infinity, so it is written "inf" and read back.
    let off = pre.clone().with_clip(f64::INFINITY);
    let back = Preprocessor::from_bytes(&off.to_bytes()).unwrap();
    assert_eq!(back.scaler.clip, f64::INFINITY);
    assert_eq!(
        Preprocessor::from_bytes(&bytes).unwrap().scaler.clip,
        relearn_data::DEFAULT_CLIP
    );
}

#[test]
fn a_constant_target_is_standardised_by_its_magnitude() {
    let t = relearn_data::TargetScaler::fit(&[500.0, 500.0, 500.0]);
    assert_eq!((t.mean, t.std), (500.0, 500.0));
    let z = relearn_data::TargetScaler::fit(&[0.0, 0.0]);
    assert_eq!((z.mean, z.std), (0.0, 1.0));
    let tiny = relearn_data::TargetScaler::fit(&[1e-10, 3e-10]);
    assert!((tiny.std - 1e-10).abs() < 1e-15, "{}", tiny.std);
}

#[test]
fn preprocessor_bytes_round_trip_and_are_deterministic() {
    let mut pre = Preprocessor::new(&info(), Scaling::Running);
    assert_eq!(pre.scaler.mean.len(), 3);
    pre.scaler.fit(&synthetic(100, 3, 4));
    let bytes = pre.to_bytes();
    assert_eq!(bytes, pre.clone().to_bytes());
    let back = Preprocessor::from_bytes(&bytes).unwrap();
    assert_eq!(back, pre);
    assert_eq!(back.to_bytes(), bytes);
    // Exact f64 statistics survive the trip.
    assert_eq!(
        back.scaler
            .m2
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>(),
        pre.scaler
            .m2
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(r#"{"task":"classification","feature_names":["a","b","c"],"classes":["down","up"],"scaler":{"mode":"running","count":100,"#), "{text}");
}

#[test]
fn corrupt_preprocessor_bytes_are_rejected() {
    let e = Preprocessor::from_bytes(b"{not json").unwrap_err();
    assert!(matches!(e, DataError::BadPreprocessor { .. }));
    assert!(!e.is_user_error());
    let mut pre = Preprocessor::new(&info(), Scaling::Running);
    pre.scaler.mean.pop();
    let e = Preprocessor::from_bytes(&pre.to_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("3 features but scaler statistics for 2"),
        "{e}"
    );
}

#[test]
fn compatibility_checks_features_and_classes() {
    let pre = Preprocessor::new(&info(), Scaling::Initial);
    pre.check_compatible(&info()).unwrap();

    let mut reordered = info();
    reordered.feature_names.swap(0, 1);
    let e = pre.check_compatible(&reordered).unwrap_err();
    assert!(
        e.to_string().contains("same names in a different order"),
        "{e}"
    );
    assert!(e.is_user_error());

    let mut renamed = info();
    renamed.feature_names[2] = "z".to_string();
    let e = pre.check_compatible(&renamed).unwrap_err().to_string();
    assert!(
        e.contains("missing from the data: [c]; not in the checkpoint: [z]"),
        "{e}"
    );

    let mut classes = info();
    classes.classes.push("flat".to_string());
    let e = pre.check_compatible(&classes).unwrap_err().to_string();
    assert!(
        e.contains("knows classes [down, up] but csv:data.csv has [down, up, flat]"),
        "{e}"
    );

    let mut task = info();
    task.task = Task::Regression;
    assert!(pre.check_compatible(&task).is_err());
}

#[test]
fn scaling_names_parse() {
    for s in [Scaling::None, Scaling::Initial, Scaling::Running] {
        assert_eq!(Scaling::parse(s.name()), Some(s));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.name())
        );
    }
    assert_eq!(Scaling::parse("Running"), None);
}

proptest! {
    /// Any stream of rows, cut into windows anywhere, gives the same statistics merged
    /// window by window as fitted at once.
    #[test]
    fn windows_merged_equal_one_fit(
        d in 1usize..5,
        values in prop::collection::vec(-1.0e4f32..1.0e4, 1..600),
        cuts in prop::collection::vec(0usize..200, 0..8),
    ) {
        let n = values.len() / d;
        prop_assume!(n >= 1);
        let mut all = Batch::new(d);
        for i in 0..n {
            all.push(&values[i * d..(i + 1) * d], 0.0);
        }
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
        bounds.push(0);
        bounds.push(n);
        bounds.sort_unstable();
        let mut running = Scaler::new(Scaling::Running, d);
        for w in bounds.windows(2) {
            let part = all.select(&(w[0]..w[1]).collect::<Vec<_>>());
            running.update(&part);
        }
        let mut whole = Scaler::new(Scaling::Running, d);
        whole.fit(&all);
        prop_assert_eq!(running.count, whole.count);
        prop_assert!(close(&running.mean, &whole.mean, 1e-9), "{:?} vs {:?}", running.mean, whole.mean);
        // m2 can be tiny relative to the squared values it is made of: compare it on the
        // scale of the data.
        for (j, ((r, w), m)) in running.m2.iter().zip(&whole.m2).zip(&whole.mean).enumerate() {
            let scale = w + m * m * n as f64;
            prop_assert!((r - w).abs() <= 1e-9 * scale.max(1.0), "m2[{}]: {} vs {}", j, r, w);
        }
    }
}
