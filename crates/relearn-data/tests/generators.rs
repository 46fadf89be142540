//! Built-in generators: determinism and the documented drift semantics.

use std::f64::consts::PI;

use relearn_data::{Batch, DataError, GeneratorKind, GeneratorSpec, Stream, StreamSource, Task};

fn open(spec: &GeneratorSpec, window: usize) -> Stream {
    Stream::open(&StreamSource::Generator(spec.clone()), window, 1).unwrap()
}

/// The whole stream (full windows) as one batch.
fn all(spec: &GeneratorSpec, window: usize) -> Batch {
    let mut out = Batch::default();
    for w in open(spec, window).windows().unwrap() {
        out.extend(&w.unwrap().batch);
    }
    out
}

fn bits(b: &Batch) -> (Vec<u32>, Vec<u32>) {
    (
        b.features.iter().map(|x| x.to_bits()).collect(),
        b.targets.iter().map(|x| x.to_bits()).collect(),
    )
}

/// Concept index of sample `i` under abrupt drift.
fn concept(spec: &GeneratorSpec, i: usize) -> usize {
    spec.drift_points.iter().filter(|&&p| p <= i).count()
}

#[test]
fn same_spec_same_bits_different_seed_differs() {
    for kind in GeneratorKind::ALL {
        let spec = GeneratorSpec {
            noise: 0.1,
            drift_width: 50,
            ..GeneratorSpec::new(kind, 3000, 11)
        };
        let a = all(&spec, 500);
        let b = all(&spec, 500);
        assert_eq!(bits(&a), bits(&b), "{kind:?}");
        // Window size does not change the samples.
        assert_eq!(bits(&a), bits(&all(&spec, 1000)), "{kind:?}");
        let other = all(
            &GeneratorSpec {
                seed: 12,
                ..spec.clone()
            },
            500,
        );
        assert_ne!(a.features, other.features, "{kind:?}");
    }
}

#[test]
fn stream_info_of_generators() {
    let spec = GeneratorSpec::new(GeneratorKind::Sea, 10_500, 0);
    let s = open(&spec, 1000);
    let info = s.info();
    assert_eq!(info.source, "generator:sea");
    assert_eq!(info.feature_names, vec!["x0", "x1", "x2"]);
    assert_eq!(info.classes, vec!["0", "1"]);
    assert_eq!(info.task, Task::Classification);
    assert_eq!(info.n_samples, 10_500);
    assert_eq!(info.drift_points, vec![2625, 5250, 7875]);
    assert_eq!(s.n_windows(), 10, "the trailing partial window is dropped");
    assert_eq!(s.windows().unwrap().count(), 10);

    let ld = open(&GeneratorSpec::new(GeneratorKind::LabelDrift, 2000, 0), 100);
    assert_eq!(ld.info().n_outputs(), 3);
    assert_eq!(ld.info().n_features(), 5);
    let fr = open(&GeneratorSpec::new(GeneratorKind::Friedman, 2000, 0), 100);
    assert_eq!(fr.info().task, Task::Regression);
    assert!(fr.info().classes.is_empty());
    assert_eq!(fr.info().n_outputs(), 1);
    let hp = open(&GeneratorSpec::new(GeneratorKind::Hyperplane, 2000, 0), 100);
    assert!(hp.info().drift_points.is_empty());
    assert_eq!(hp.info().source, "generator:hyperplane");
}

#[test]
fn resuming_mid_stream_gives_the_same_windows() {
    let spec = GeneratorSpec::new(GeneratorKind::FeatureDrift, 5000, 4);
    let s = open(&spec, 1000);
    let all: Vec<_> = s.windows().unwrap().map(Result::unwrap).collect();
    let from: Vec<_> = s.windows_from(3).unwrap().map(Result::unwrap).collect();
    assert_eq!(from, all[3..]);
}

#[test]
fn invalid_spec_and_short_stream_are_errors() {
    let spec = GeneratorSpec {
        noise: 2.0,
        ..GeneratorSpec::new(GeneratorKind::Sea, 5000, 0)
    };
    let e = Stream::open(&StreamSource::Generator(spec), 1000, 1).unwrap_err();
    assert!(e.to_string().starts_with("data.noise: "), "{e}");
    let spec = GeneratorSpec::new(GeneratorKind::Sea, 1500, 0);
    let e = Stream::open(&StreamSource::Generator(spec), 1000, 1).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::TooShort {
                samples: 1500,
                needed: 2000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("generator:sea: the stream has 1500 samples"),
        "{e}"
    );
}

#[test]
fn sea_label_rule_holds_exactly_per_concept() {
    let spec = GeneratorSpec::new(GeneratorKind::Sea, 8000, 3);
    let b = all(&spec, 1000);
    let theta = [8.0, 9.0, 7.0, 9.5];
    let mut seen = [0usize; 4];
    for i in 0..b.len() {
        let k = concept(&spec, i);
        let x = b.row(i);
        assert!(x.iter().all(|&v| (0.0..=10.0).contains(&v)));
        let y = f64::from(x[0]) + f64::from(x[1]) <= theta[k % 4];
        assert_eq!(
            b.targets[i],
            f32::from(u8::from(y)),
            "sample {i}, concept {k}"
        );
        seen[k] += 1;
    }
    assert_eq!(seen, [2000; 4]);
    // Right around each drift point, the rule switches at the exact sample.
    for &p in &spec.drift_points {
        let (before, after) = (
            theta[concept(&spec, p - 1) % 4],
            theta[concept(&spec, p) % 4],
        );
        assert_ne!(before, after);
    }
}

#[test]
fn label_noise_flips_the_documented_share() {
    let spec = GeneratorSpec {
        noise: 0.2,
        ..GeneratorSpec::new(GeneratorKind::Sea, 20_000, 1)
    };
    let b = all(&spec, 1000);
    let theta = [8.0, 9.0, 7.0, 9.5];
    let wrong = (0..b.len())
        .filter(|&i| {
            let x = b.row(i);
            let y = f64::from(x[0]) + f64::from(x[1]) <= theta[concept(&spec, i) % 4];
            b.targets[i] != f32::from(u8::from(y))
        })
        .count();
    let share = wrong as f64 / b.len() as f64;
    assert!((share - 0.2).abs() < 0.015, "{share}");
}

#[test]
fn drift_width_blends_the_concepts() {
    // One drift at 10 000 from theta 8 to theta 9; samples with 8 < x0 + x1 <= 9 tell the
    // concepts apart (label 0 under the old one, 1 under the new one).
    let p = 10_000;
    let w = 1000;
    let spec = GeneratorSpec {
        drift_points: vec![p],
        drift_width: w,
        ..GeneratorSpec::new(GeneratorKind::Sea, 20_000, 2)
    };
    let b = all(&spec, 1000);
    let share_new = |from: usize, to: usize| {
        let (mut new, mut n) = (0, 0);
        for i in from..to {
            let s = f64::from(b.row(i)[0]) + f64::from(b.row(i)[1]);
            if s > 8.0 && s <= 9.0 {
                n += 1;
                new += usize::from(b.targets[i] == 1.0);
            }
        }
        new as f64 / n as f64
    };
    let sigmoid = |i: usize| 1.0 / (1.0 + (-4.0 * (i as f64 - p as f64) / w as f64).exp());
    assert!(share_new(p - 3000, p - 2000) < 0.01);
    assert!(share_new(p + 2000, p + 3000) > 0.99);
    // Within +-2w, in four quarters: observed count of new-concept labels against the
    // sigmoid's expectation, within 4 standard deviations.
    for q in 0..4 {
        let (from, to) = (p - 2 * w + q * w, p - w + q * w);
        let (mut observed, mut expected, mut var) = (0.0, 0.0, 0.0);
        for i in from..to {
            let s = f64::from(b.row(i)[0]) + f64::from(b.row(i)[1]);
            if s > 8.0 && s <= 9.0 {
                let prob = sigmoid(i);
                observed += f64::from(b.targets[i]);
                expected += prob;
                var += prob * (1.0 - prob);
            }
        }
        assert!(
            (observed - expected).abs() <= 4.0 * var.sqrt() + 1.0,
            "quarter {q}: {observed} new-concept labels, expected {expected:.1} +- {:.1}",
            var.sqrt()
        );
    }
    assert!((share_new(p - 100, p + 100) - 0.5).abs() < 0.2);

    // Abrupt: the switch is exact.
    let abrupt = all(
        &GeneratorSpec {
            drift_width: 0,
            ..spec.clone()
        },
        1000,
    );
    for i in p - 500..p + 500 {
        let s = f64::from(abrupt.row(i)[0]) + f64::from(abrupt.row(i)[1]);
        let theta = if i < p { 8.0 } else { 9.0 };
        assert_eq!(abrupt.targets[i], f32::from(u8::from(s <= theta)));
    }
}

#[test]
fn label_drift_priors_change_between_segments() {
    let spec = GeneratorSpec::new(GeneratorKind::LabelDrift, 40_000, 5);
    let b = all(&spec, 1000);
    let priors = [
        [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
        [0.8, 0.1, 0.1],
        [0.1, 0.1, 0.8],
        [0.1, 0.8, 0.1],
    ];
    for (k, prior) in priors.iter().enumerate() {
        let seg = k * 10_000..(k + 1) * 10_000;
        let mut counts = [0usize; 3];
        for i in seg {
            counts[b.targets[i] as usize] += 1;
        }
        for c in 0..3 {
            let freq = counts[c] as f64 / 10_000.0;
            assert!(
                (freq - prior[c]).abs() < 0.02,
                "segment {k} class {c}: {freq} vs {}",
                prior[c]
            );
        }
    }
    // The class-conditional inputs do not drift: class 0's x0 mean stays at 1.25.
    for k in 0..4 {
        let (mut sum, mut n) = (0.0, 0);
        for i in k * 10_000..(k + 1) * 10_000 {
            if b.targets[i] == 0.0 {
                sum += f64::from(b.row(i)[0]);
                n += 1;
            }
        }
        let mean = sum / n as f64;
        assert!((mean - 1.25).abs() < 0.1, "segment {k}: {mean}");
    }
}

#[test]
fn feature_drift_moves_inputs_under_a_fixed_concept() {
    let spec = GeneratorSpec::new(GeneratorKind::FeatureDrift, 20_000, 8);
    let b = all(&spec, 1000);
    for k in 0..4 {
        let seg = k * 5000..(k + 1) * 5000;
        let (mut sum, mut ones) = (0.0, 0);
        for i in seg.clone() {
            let x = b.row(i);
            sum += x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
            let f: f64 = x.iter().map(|&v| f64::from(v).sin()).sum::<f64>()
                + 0.5 * (f64::from(x[0]) + f64::from(x[1])).sin();
            if f.abs() > 1e-9 {
                assert_eq!(b.targets[i], f32::from(u8::from(f > 0.0)), "sample {i}");
            }
            ones += usize::from(b.targets[i] == 1.0);
        }
        let mean = sum / 5000.0;
        assert!(
            (mean - k as f64 * PI).abs() < 0.05,
            "segment {k}: mean {mean}"
        );
        let balance = ones as f64 / 5000.0;
        assert!((balance - 0.5).abs() < 0.05, "segment {k}: {balance}");
    }
}

#[test]
fn friedman_matches_the_formula_with_rotated_roles() {
    let spec = GeneratorSpec {
        noise: 0.0,
        ..GeneratorSpec::new(GeneratorKind::Friedman, 8000, 6)
    };
    let b = all(&spec, 1000);
    for i in 0..b.len() {
        let x = b.row(i);
        assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let r = (2 * concept(&spec, i)) % 5;
        let v = |j: usize| f64::from(x[(j + r) % 5]);
        let y = 10.0 * (PI * v(0) * v(1)).sin()
            + 20.0 * (v(2) - 0.5).powi(2)
            + 10.0 * v(3)
            + 5.0 * v(4);
        assert!(
            (f64::from(b.targets[i]) - y).abs() < 1e-4,
            "sample {i}: {} vs {y}",
            b.targets[i]
        );
    }
    // Concept 1 really differs from concept 0 on the same inputs.
    let x = b.row(2500);
    let c0 = 10.0 * (PI * f64::from(x[0]) * f64::from(x[1])).sin() + 10.0 * f64::from(x[3]);
    let c1 = 10.0 * (PI * f64::from(x[2]) * f64::from(x[3])).sin() + 10.0 * f64::from(x[0]);
    assert_ne!(c0, c1);

    // Noise: residual standard deviation close to `noise`.
    let noisy = all(
        &GeneratorSpec {
            noise: 1.0,
            ..spec.clone()
        },
        1000,
    );
    assert_eq!(noisy.features, b.features);
    let n = b.len() as f64;
    let var = noisy
        .targets
        .iter()
        .zip(&b.targets)
        .map(|(a, c)| (f64::from(*a) - f64::from(*c)).powi(2))
        .sum::<f64>()
        / n;
    assert!((var.sqrt() - 1.0).abs() < 0.05, "{}", var.sqrt());
}

#[test]
fn hyperplane_inputs_are_uniform_and_labels_mixed() {
    let spec = GeneratorSpec::new(GeneratorKind::Hyperplane, 10_000, 2);
    let b = all(&spec, 1000);
    assert_eq!(b.n_features, 10);
    assert!(b.features.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let ones = b.targets.iter().filter(|&&t| t == 1.0).count() as f64 / b.len() as f64;
    assert!((0.3..0.7).contains(&ones), "{ones}");
}
