//! The built-in generators (see [`GeneratorKind`] for their definitions).
//!
//! Samples are drawn one after another from `rand`'s `StdRng` (ChaCha12) seeded with
//! `seed_from_u64`, and every transcendental function comes from the pure-Rust `libm`
//! crate rather than the platform's math library, so a spec gives the bit-identical stream
//! on every platform. Nothing but the generator's small state is kept: windows are made on
//! the fly.

use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::batch::Batch;
use crate::source::{GeneratorKind, GeneratorSpec};

/// SEA thresholds of the four concepts.
const SEA_THETA: [f64; 4] = [8.0, 9.0, 7.0, 9.5];
/// Hyperplane: probability that a weight's direction of change flips after a sample.
const HYPERPLANE_FLIP: f64 = 0.1;
/// Label drift: radius of the triangle the class means sit on.
const LABEL_DRIFT_RADIUS: f64 = 1.25;
/// Label drift: `sin(2 pi / 3)`.
const SIN_120: f64 = 0.866_025_403_784_438_6;
/// Label drift: class priors of the four concepts.
const LABEL_DRIFT_PRIORS: [[f64; 3]; 4] = [
    [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
    [0.8, 0.1, 0.1],
    [0.1, 0.1, 0.8],
    [0.1, 0.8, 0.1],
];

/// Feature names of a generator stream: `x0, x1, ...`.
pub(crate) fn feature_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("x{i}")).collect()
}

/// Class names of a generator stream: `"0", "1", ...` (empty for regression).
pub(crate) fn class_names(kind: GeneratorKind) -> Vec<String> {
    (0..kind.n_classes()).map(|c| c.to_string()).collect()
}

/// One random stream with a cached second Box-Muller deviate.
struct Draws {
    rng: StdRng,
    spare: Option<f64>,
}

impl Draws {
    fn from(master: &mut StdRng) -> Self {
        Draws {
            rng: StdRng::from_rng(master),
            spare: None,
        }
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Standard normal (Box-Muller; both deviates of a pair are used in turn).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: the log is finite
        let u2 = self.uniform();
        let r = (-2.0 * libm::log(u1)).sqrt();
        let t = 2.0 * PI * u2;
        self.spare = Some(r * libm::sin(t));
        r * libm::cos(t)
    }
}

/// A running generator: produces sample `i`, then `i + 1`, and so on.
pub(crate) struct Generator {
    spec: GeneratorSpec,
    /// Inputs (and, for label drift, the true class).
    inputs: Draws,
    /// Which concept a sample comes from while blending; hyperplane weights.
    concept: Draws,
    /// Label noise and regression noise.
    noise: Draws,
    /// Index of the next sample.
    next: usize,
    /// Hyperplane weights.
    weights: Vec<f64>,
    /// Hyperplane directions of change (+1 or -1).
    sigma: Vec<f64>,
}

impl Generator {
    /// A generator positioned at sample 0. The spec must be valid.
    pub(crate) fn new(spec: &GeneratorSpec) -> Self {
        let mut master = StdRng::seed_from_u64(spec.seed);
        let inputs = Draws::from(&mut master);
        let mut concept = Draws::from(&mut master);
        let noise = Draws::from(&mut master);
        let (weights, sigma) = if spec.kind == GeneratorKind::Hyperplane {
            let w = (0..spec.n_features).map(|_| concept.uniform()).collect();
            (w, vec![1.0; spec.n_features])
        } else {
            (Vec::new(), Vec::new())
        };
        Generator {
            spec: spec.clone(),
            inputs,
            concept,
            noise,
            next: 0,
            weights,
            sigma,
        }
    }

    /// The next `n` samples as a batch.
    pub(crate) fn batch(&mut self, n: usize) -> Batch {
        let d = self.spec.n_features;
        let mut batch = Batch::with_capacity(d, n);
        batch.features.resize(n * d, 0.0);
        for r in 0..n {
            let target = self.sample(&mut batch.features[r * d..(r + 1) * d]);
            batch.targets.push(target);
        }
        batch
    }

    /// The concept index of sample `i` (see [`GeneratorKind`]).
    fn concept_of(&mut self, i: usize) -> usize {
        let points = &self.spec.drift_points;
        if self.spec.drift_width == 0 {
            return points.partition_point(|&p| p <= i);
        }
        let w = self.spec.drift_width as f64;
        let mut k = 0;
        for &p in points {
            let prob = 1.0 / (1.0 + libm::exp(-4.0 * (i as f64 - p as f64) / w));
            if self.concept.uniform() < prob {
                k += 1;
            } else {
                break;
            }
        }
        k
    }

    /// Label noise: with probability `noise`, another class chosen uniformly.
    fn noisy_label(&mut self, y: usize, n_classes: usize) -> f32 {
        let flip = self.noise.uniform();
        let pick = self.noise.uniform();
        let y = if flip < self.spec.noise {
            let offset = 1 + ((pick * (n_classes - 1) as f64) as usize).min(n_classes - 2);
            (y + offset) % n_classes
        } else {
            y
        };
        y as f32
    }

    /// Writes the features of the next sample into `row` and returns its target.
    fn sample(&mut self, row: &mut [f32]) -> f32 {
        let i = self.next;
        self.next += 1;
        match self.spec.kind {
            GeneratorKind::Sea => {
                let k = self.concept_of(i);
                for x in row.iter_mut() {
                    *x = (10.0 * self.inputs.uniform()) as f32;
                }
                let y = f64::from(row[0]) + f64::from(row[1]) <= SEA_THETA[k % 4];
                self.noisy_label(usize::from(y), 2)
            }
            GeneratorKind::Hyperplane => {
                let (mut sum, mut total) = (0.0, 0.0);
                for (x, w) in row.iter_mut().zip(&self.weights) {
                    *x = self.inputs.uniform() as f32;
                    sum += w * f64::from(*x);
                    total += w;
                }
                let y = sum >= 0.5 * total;
                let target = self.noisy_label(usize::from(y), 2);
                for (w, s) in self.weights.iter_mut().zip(self.sigma.iter_mut()) {
                    *w += self.spec.drift_speed * *s;
                    if self.concept.uniform() < HYPERPLANE_FLIP {
                        *s = -*s;
                    }
                }
                target
            }
            GeneratorKind::FeatureDrift => {
                let mean = self.concept_of(i) as f64 * PI;
                for x in row.iter_mut() {
                    *x = (mean + self.inputs.normal()) as f32;
                }
                let y = feature_drift_score(row) > 0.0;
                self.noisy_label(usize::from(y), 2)
            }
            GeneratorKind::LabelDrift => {
                let priors = LABEL_DRIFT_PRIORS[self.concept_of(i) % 4];
                let u = self.inputs.uniform();
                let y = if u < priors[0] {
                    0
                } else if u < priors[0] + priors[1] {
                    1
                } else {
                    2
                };
                let mean = label_drift_mean(y);
                for (j, x) in row.iter_mut().enumerate() {
                    let m = if j < 2 { mean[j] } else { 0.0 };
                    *x = (m + self.inputs.normal()) as f32;
                }
                self.noisy_label(y, 3)
            }
            GeneratorKind::Friedman => {
                let k = self.concept_of(i);
                for x in row.iter_mut() {
                    *x = self.inputs.uniform() as f32;
                }
                let noise = self.spec.noise * self.noise.normal();
                (friedman(row, k) + noise) as f32
            }
        }
    }
}

/// The fixed concept of `feature-drift`: label 1 iff this is `> 0`.
pub(crate) fn feature_drift_score(row: &[f32]) -> f64 {
    let s: f64 = row.iter().map(|&x| libm::sin(f64::from(x))).sum();
    s + 0.5 * libm::sin(f64::from(row[0]) + f64::from(row[1]))
}

/// The `(x0, x1)` mean of class `y` in `label-drift`.
pub(crate) fn label_drift_mean(y: usize) -> [f64; 2] {
    let r = LABEL_DRIFT_RADIUS;
    match y {
        0 => [r, 0.0],
        1 => [-0.5 * r, SIN_120 * r],
        _ => [-0.5 * r, -SIN_120 * r],
    }
}

/// Friedman #1 under concept `k` (features rotated by `2k mod 5`), without noise.
pub(crate) fn friedman(row: &[f32], k: usize) -> f64 {
    let r = (2 * k) % 5;
    let x = |j: usize| f64::from(row[(j + r) % 5]);
    10.0 * libm::sin(PI * x(0) * x(1))
        + 20.0 * (x(2) - 0.5) * (x(2) - 0.5)
        + 10.0 * x(3)
        + 5.0 * x(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(spec: &GeneratorSpec) -> Batch {
        Generator::new(spec).batch(spec.samples)
    }

    #[test]
    fn batches_concatenate_to_the_whole_stream() {
        for kind in GeneratorKind::ALL {
            let spec = GeneratorSpec::new(kind, 1000, 3);
            let whole = stream(&spec);
            let mut g = Generator::new(&spec);
            let mut parts = g.batch(300);
            parts.extend(&g.batch(700));
            assert_eq!(whole, parts, "{kind:?}");
            assert_eq!(whole.len(), 1000);
            assert_eq!(whole.n_features, spec.n_features);
            assert!(whole.features.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn normal_deviates_look_standard() {
        let mut master = StdRng::seed_from_u64(1);
        let mut d = Draws::from(&mut master);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| d.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn label_noise_only_changes_labels() {
        let clean = GeneratorSpec::new(GeneratorKind::LabelDrift, 4000, 9);
        let noisy = GeneratorSpec {
            noise: 0.3,
            ..clean.clone()
        };
        let (a, b) = (stream(&clean), stream(&noisy));
        assert_eq!(a.features, b.features);
        let changed = a
            .targets
            .iter()
            .zip(&b.targets)
            .filter(|(x, y)| x != y)
            .count();
        let share = changed as f64 / 4000.0;
        assert!((share - 0.3).abs() < 0.03, "share {share}");
        assert!(b.targets.iter().all(|&t| t == 0.0 || t == 1.0 || t == 2.0));
    }

    #[test]
    fn hyperplane_label_rule_and_rotation() {
        let spec = GeneratorSpec::new(GeneratorKind::Hyperplane, 20_000, 5);
        let rule = |row: &[f32], w: &[f64]| {
            let s: f64 = row.iter().zip(w).map(|(&x, w)| f64::from(x) * w).sum();
            f32::from(u8::from(s >= 0.5 * w.iter().sum::<f64>()))
        };
        // Sample by sample, the label follows the current weights exactly.
        let mut g = Generator::new(&spec);
        let w0 = g.weights.clone();
        for _ in 0..2000 {
            let w = g.weights.clone();
            let b = g.batch(1);
            assert_eq!(b.targets[0], rule(b.row(0), &w));
        }
        assert_ne!(g.weights, w0);
        // The weights drift, so the first concept explains late samples worse.
        let b = g.batch(18_000);
        let late = (16_000..18_000)
            .filter(|&i| rule(b.row(i), &w0) == b.targets[i])
            .count();
        assert!(
            late < 1900,
            "{late} of 2000 late samples still follow the first concept"
        );
        // No drift without drift speed.
        let mut g = Generator::new(&GeneratorSpec {
            drift_speed: 0.0,
            ..spec
        });
        let w = g.weights.clone();
        g.batch(1000);
        assert_eq!(w, g.weights);
    }
}
