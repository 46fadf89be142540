//! Drift detectors on a stream of per-sample losses: Page-Hinkley and ADWIN. The `drift`
//! policy feeds each one the serving model's prequential loss, sample by sample; when it
//! fires, the update retrains from fresh weights instead of fine-tuning.
//!
//! Both detect increases only (a model getting worse), run in f64 and serialise their whole
//! state, so a resumed run continues exactly where an uninterrupted one would be.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use relearn_spec::DetectorSpec;

/// A detector's state. Built from a [`DetectorSpec`] by [`Detector::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Detector {
    /// See [`PageHinkley`].
    PageHinkley(PageHinkley),
    /// See [`Adwin`].
    Adwin(Adwin),
}

impl Detector {
    /// A fresh detector.
    pub fn new(spec: &DetectorSpec) -> Detector {
        match *spec {
            DetectorSpec::PageHinkley {
                delta,
                threshold,
                min_samples,
            } => Detector::PageHinkley(PageHinkley::new(delta, threshold, min_samples)),
            DetectorSpec::Adwin { confidence } => Detector::Adwin(Adwin::new(confidence)),
        }
    }

    /// Feeds one value; `true` when it signals a drift (the caller then resets it).
    pub fn update(&mut self, x: f64) -> bool {
        match self {
            Detector::PageHinkley(d) => d.update(x),
            Detector::Adwin(d) => d.update(x),
        }
    }

    /// Feeds values until one signals a drift, and says where. The rest is not fed: after a
    /// drift the model that produced them is replaced.
    pub fn scan(&mut self, values: &[f64]) -> Option<Alarm> {
        let at = values.iter().position(|&x| self.update(x))?;
        Some(Alarm {
            at,
            since_change: self.since_change(),
        })
    }

    /// How many of the values fed so far (the last one included) came after the change the
    /// detector estimates: Page-Hinkley's `T - argmin_t m_t`; ADWIN's newer part.
    pub fn since_change(&self) -> u64 {
        match self {
            Detector::PageHinkley(d) => d.n - d.minimum_at,
            Detector::Adwin(d) => d.window.len() as u64,
        }
    }

    /// The test statistic now: Page-Hinkley's `m_T - M_T`; ADWIN's largest gap between an
    /// older and a newer part's mean loss, less the bound it must exceed (> 0 fires; 0
    /// before its first check).
    pub fn statistic(&self) -> f64 {
        match self {
            Detector::PageHinkley(d) => d.statistic(),
            Detector::Adwin(d) => d.last_margin.unwrap_or(0.0),
        }
    }

    /// Forgets everything seen, keeping the parameters.
    pub fn reset(&mut self) {
        match self {
            Detector::PageHinkley(d) => *d = PageHinkley::new(d.delta, d.threshold, d.min_samples),
            Detector::Adwin(d) => *d = Adwin::new(d.confidence),
        }
    }

    /// The state as bytes (JSON), for a checkpoint part.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a detector serialises")
    }

    /// Reads [`Detector::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Detector, crate::PartError> {
        serde_json::from_slice(bytes).map_err(|source| crate::PartError::Json {
            part: crate::checkpoint::parts::DETECTOR,
            source,
        })
    }
}

/// Where a detector fired in the values given to [`Detector::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    /// Index of the value that fired it.
    pub at: usize,
    /// Values from the estimated change to that one (see [`Detector::since_change`]).
    pub since_change: u64,
}

/// The Page-Hinkley test for an increase of the mean: with `x̄_T` the running mean,
/// `m_T = Σ_{t<=T} (x_t - x̄_t - δ)` and `M_T = min_{t<=T} m_t`, it fires when
/// `m_T - M_T > λ` (after `min_samples` values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    delta: f64,
    threshold: f64,
    min_samples: usize,
    n: u64,
    mean: f64,
    cumulative: f64,
    minimum: f64,
    /// `n` when `minimum` was reached: the estimated change is just after it.
    minimum_at: u64,
}

impl PageHinkley {
    /// A fresh test with tolerance `delta` and alarm level `threshold`.
    pub fn new(delta: f64, threshold: f64, min_samples: usize) -> PageHinkley {
        PageHinkley {
            delta,
            threshold,
            min_samples,
            n: 0,
            mean: 0.0,
            cumulative: 0.0,
            minimum: 0.0,
            minimum_at: 0,
        }
    }

    /// Feeds one value; `true` when the test fires.
    pub fn update(&mut self, x: f64) -> bool {
        self.n += 1;
        self.mean += (x - self.mean) / self.n as f64;
        self.cumulative += x - self.mean - self.delta;
        if self.cumulative < self.minimum {
            self.minimum = self.cumulative;
            self.minimum_at = self.n;
        }
        self.n as usize >= self.min_samples && self.statistic() > self.threshold
    }

    /// `m_T - M_T`.
    pub fn statistic(&self) -> f64 {
        self.cumulative - self.minimum
    }
}

/// ADWIN (Bifet and Gavaldà, 2007) over a window of at most [`Adwin::MAX_WINDOW`] values,
/// checked exactly every [`Adwin::CLOCK`] values: for every split of the window into an older
/// part `W0` and a newer part `W1` (each at least [`Adwin::MIN_PART`] long), it fires when
/// `mean(W1) - mean(W0) > ε`, with the variance form of the bound,
/// `ε = sqrt(2 σ² ln(2/δ') / m) + 2 ln(2/δ') / (3 m)`, `m = 1 / (1/|W0| + 1/|W1|)`,
/// `δ' = δ / |W|`; then it drops `W0`. Only increases fire (a model getting worse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adwin {
    confidence: f64,
    window: VecDeque<f64>,
    since_check: usize,
    /// The largest margin of the last check (`None` before the first).
    last_margin: Option<f64>,
}

impl Adwin {
    /// Values kept at most (the oldest is dropped beyond it).
    pub const MAX_WINDOW: usize = 3000;
    /// Values between two checks.
    pub const CLOCK: usize = 32;
    /// The shortest part a split may leave.
    pub const MIN_PART: usize = 32;

    /// A fresh detector at confidence `delta`.
    pub fn new(confidence: f64) -> Adwin {
        Adwin {
            confidence,
            window: VecDeque::new(),
            since_check: 0,
            last_margin: None,
        }
    }

    /// Feeds one value; `true` when a drift is detected.
    pub fn update(&mut self, x: f64) -> bool {
        if self.window.len() == Self::MAX_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(x);
        self.since_check += 1;
        if self.since_check < Self::CLOCK {
            return false;
        }
        self.since_check = 0;
        match self.check() {
            Some(cut) => {
                self.window.drain(..cut);
                true
            }
            None => false,
        }
    }

    /// The first split where the newer part's mean exceeds the older part's by more than
    /// the bound; records the largest margin seen.
    fn check(&mut self) -> Option<usize> {
        let n = self.window.len();
        if n < 2 * Self::MIN_PART {
            return None;
        }
        let total: f64 = self.window.iter().sum();
        let mean = total / n as f64;
        let variance = self.window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let log_term = (2.0 * n as f64 / self.confidence).ln();
        let mut older = 0.0;
        let mut best = f64::NEG_INFINITY;
        let mut cut = None;
        for (i, x) in self.window.iter().enumerate().take(n - Self::MIN_PART) {
            older += x;
            let n0 = i + 1;
            if n0 < Self::MIN_PART {
                continue;
            }
            let n1 = n - n0;
            let gap = (total - older) / n1 as f64 - older / n0 as f64;
            let m = 1.0 / (1.0 / n0 as f64 + 1.0 / n1 as f64);
            let bound = (2.0 * variance * log_term / m).sqrt() + 2.0 * log_term / (3.0 * m);
            let margin = gap - bound;
            if margin > best {
                best = margin;
            }
            if margin > 0.0 && cut.is_none() {
                cut = Some(n0);
            }
        }
        self.last_margin = best.is_finite().then_some(best);
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// `n` values around `mean` (uniform noise of width 0.4).
    fn noisy(rng: &mut StdRng, mean: f64, n: usize) -> Vec<f64> {
        (0..n).map(|_| mean + rng.random_range(-0.2..0.2)).collect()
    }

    #[test]
    fn page_hinkley_matches_a_hand_computed_sequence() {
        // delta 0, threshold 1: values 0, 0, 2 -> means 0, 0, 2/3; m = 0, 0, 4/3; M = 0.
        let mut ph = PageHinkley::new(0.0, 1.0, 1);
        assert!(!ph.update(0.0));
        assert!(!ph.update(0.0));
        assert!(ph.update(2.0));
        assert!((ph.statistic() - 4.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn both_detect_a_rise_and_stay_quiet_on_a_steady_or_falling_loss() {
        for spec in [
            DetectorSpec::PageHinkley {
                delta: 0.05,
                threshold: 50.0,
                min_samples: 30,
            },
            DetectorSpec::Adwin { confidence: 0.002 },
        ] {
            let mut rng = StdRng::seed_from_u64(7);
            let mut d = Detector::new(&spec);
            assert!(
                d.scan(&noisy(&mut rng, 0.3, 5000)).is_none(),
                "{spec:?}: steady"
            );
            assert!(
                d.scan(&noisy(&mut rng, 0.1, 2000)).is_none(),
                "{spec:?}: falling"
            );
            let rise = noisy(&mut rng, 0.8, 1000);
            let alarm = d
                .scan(&rise)
                .unwrap_or_else(|| panic!("{spec:?} missed the rise"));
            assert!(alarm.at < 300, "{spec:?} fired only after {alarm:?}");
            // The change it estimates is near the start of the rise.
            let rise_len = alarm.at as u64 + 1;
            assert!(
                (rise_len / 2..=rise_len + 64).contains(&alarm.since_change),
                "{spec:?}: {alarm:?}"
            );
            d.reset();
            assert!(
                d.scan(&noisy(&mut rng, 0.8, 2000)).is_none(),
                "{spec:?}: after reset"
            );
        }
    }

    #[test]
    fn state_round_trips_and_continues_identically() {
        let mut rng = StdRng::seed_from_u64(1);
        let values = noisy(&mut rng, 0.4, 700);
        let mut a = Detector::new(&DetectorSpec::Adwin { confidence: 0.01 });
        a.scan(&values[..350]);
        let mut b = Detector::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(a, b);
        for &x in &values[350..] {
            assert_eq!(a.update(x), b.update(x));
        }
        assert_eq!(a.statistic().to_bits(), b.statistic().to_bits());
    }
}
