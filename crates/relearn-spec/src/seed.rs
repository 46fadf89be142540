//! Seeds derived from the run seed, so every random choice is reproducible on its own:
//! a resumed run draws exactly what an uninterrupted one would have.

use sha2::{Digest, Sha256};

/// What a derived seed is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Fresh weights (and dropout masks) of the model trained on a window.
    Weights,
    /// Shuffling order of a window's training.
    Shuffle,
    /// Which initial samples a stateless training set draws.
    InitialSample,
    /// Dropout masks while training on a window.
    Dropout,
    /// Which samples of a window the replay reservoir keeps.
    Reservoir,
}

/// A seed for `purpose` at `window`, independent of every other (seed, purpose, window).
pub fn derive(seed: u64, purpose: Purpose, window: usize) -> u64 {
    let mut h = Sha256::new();
    h.update(b"relearn-seed-v1");
    h.update(seed.to_le_bytes());
    h.update([purpose as u8]);
    h.update((window as u64).to_le_bytes());
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Every seed of one window's update, derived once from (`run.seed`, window): the loop
/// hands them to the model family (weights, dropout, shuffling) and the policy (sampling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSeeds {
    /// Fresh weights of a model trained on the window, and a grown output layer's rows.
    pub weights: u64,
    /// Shuffling order of the window's training.
    pub shuffle: u64,
    /// Which initial samples a stateless training set draws.
    pub initial_sample: u64,
    /// Dropout masks while training on the window.
    pub dropout: u64,
    /// Which samples of the window the replay reservoir keeps.
    pub reservoir: u64,
}

impl WindowSeeds {
    /// The seeds of `window` of a run seeded `seed`.
    pub fn new(seed: u64, window: usize) -> WindowSeeds {
        WindowSeeds {
            weights: derive(seed, Purpose::Weights, window),
            shuffle: derive(seed, Purpose::Shuffle, window),
            initial_sample: derive(seed, Purpose::InitialSample, window),
            dropout: derive(seed, Purpose::Dropout, window),
            reservoir: derive(seed, Purpose::Reservoir, window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        assert_eq!(
            derive(0, Purpose::Weights, 3),
            derive(0, Purpose::Weights, 3)
        );
        assert_ne!(
            derive(0, Purpose::Weights, 3),
            derive(0, Purpose::Weights, 4)
        );
        assert_ne!(
            derive(0, Purpose::Weights, 3),
            derive(1, Purpose::Weights, 3)
        );
        assert_ne!(
            derive(0, Purpose::Weights, 3),
            derive(0, Purpose::Shuffle, 3)
        );
    }
}
