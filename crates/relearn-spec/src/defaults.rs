//! Default values of every optional key, chosen by measurement (see
//! docs/configuration.md).

/// `run.mode`
pub const MODE: crate::vocab::Mode = crate::vocab::Mode::Stateful;
/// `run.seed`
pub const SEED: u64 = 0;
/// `run.store`
pub const STORE: &str = "checkpoints";
/// `run.backend`: Burn's Flex, the pure-Rust CPU backend (with relearn's fused trainer).
pub const BACKEND: relearn_model::Backend = relearn_model::Backend::Flex;
/// `window.size`
pub const WINDOW_SIZE: usize = 1000;
/// `window.initial`
pub const WINDOW_INITIAL: usize = 1;
/// `window.label_delay`: labels arrive with their rows (the prequential score of a window is
/// the latest model's).
pub const LABEL_DELAY: usize = 0;
/// `model.hidden`
pub const HIDDEN: [usize; 2] = [64, 64];
/// `model.activation`
pub const ACTIVATION: relearn_model::Activation = relearn_model::Activation::Relu;
/// `model.dropout`: none.
pub const DROPOUT: f64 = 0.0;
/// `model.kind`
pub const MODEL_KIND: crate::vocab::ModelKind = crate::vocab::ModelKind::Mlp;
/// `gbdt.budget`: twice perpetual's own default (0.5). The tree family's stateless
/// retraining on ten real tables (docs/real-tables.md#gradient-boosted-trees) scores better
/// at 1.0 than at 0.5 on eight (bikeshare mse 2,798 against 3,982, hotel_rates 521 against
/// 688, Elec2 0.754 against 0.744) for about the same training time; 1.5 gains a little more
/// on seven at two to four times the time.
pub const GBDT_BUDGET: f64 = 1.0;
/// `gbdt.max_trees`: per output, over every stage of a continued model. The cap's reset
/// helps on drifting streams and keeps checkpoints small: stateful trees on the quickstart
/// (SEA, 40 windows of 500) score 0.961 with 100, 0.959 with 300 and 0.955 with 1,000
/// (stores of 18, 31 and 64 MB); on Elec2 (45 windows of 1,000) 0.762, 0.765 and 0.762
/// (33, 63 and 176 MB). docs/configuration.md#gradient-boosted-trees.
pub const GBDT_MAX_TREES: usize = 300;
/// `gbdt.memory_limit`, in GB: what perpetual sizes a fit's histograms by (it would
/// otherwise read the machine's free memory, and the trees would depend on it). It
/// preallocates towards it: Elec2's stateless tree run peaks at 625 MB with 1.0, 176 MB
/// with 0.25 and 85 MB with 0.1, with the same scores (0.7443) and 14, 8.6 and 6.9 s.
pub const GBDT_MEMORY_LIMIT: f64 = 0.25;
/// `train.epochs`
pub const TRAIN_EPOCHS: usize = 10;
/// `train.batch_size`
pub const BATCH_SIZE: usize = 32;
/// `train.min_steps`: 10 epochs of 32-sample batches are 40 steps on a 100-row window,
/// too few for a fresh MLP to fit (segment, window 100: 0.831 with 10 epochs, 0.889 with
/// 150 steps; docs/real-tables.md). 150 is below the 160 steps of every shipped config's
/// initial training (500 rows), whose ids stay.
pub const TRAIN_MIN_STEPS: usize = 150;
/// `train.max_steps`: a fresh model retrained on thousands of noisy rows overfits them in
/// 10 epochs (flights' stateless retraining, 4,286 rows: mse 2,307 at 10 epochs, 2,149
/// capped at 700 steps, against the no-skill forecast's 2,005); 700 changes nothing on
/// training sets below 2,240 rows (every shipped config's initial model keeps its id).
/// Measured in docs/real-tables.md#retraining-on-large-noisy-windows.
pub const TRAIN_MAX_STEPS: usize = 700;
/// `train.weight_decay`: none.
pub const WEIGHT_DECAY: f64 = 0.0;
/// `train.lr`
pub const TRAIN_LR: f64 = 1e-3;
/// `stateless.initial_fraction`
pub const INITIAL_FRACTION: f64 = 0.3;
/// `stateless.recent_windows`
pub const RECENT_WINDOWS: usize = 3;
/// `stateful.epochs`
pub const STATEFUL_EPOCHS: usize = 3;
/// `stateful.carry_optimizer`: Adam's moments continue across windows.
pub const CARRY_OPTIMIZER: bool = true;
/// `stateful.lr`
pub const STATEFUL_LR: f64 = 1e-3;
/// `data.samples` for generators
pub const SAMPLES: usize = 20_000;
/// `data.scaling`
pub const SCALING: relearn_data::Scaling = relearn_data::Scaling::Running;

/// `data.scaling` for a model family: [`SCALING`] for the MLP; `initial` for trees, whose
/// split thresholds are in the units of the inputs they were fitted on, so a scaler that
/// moves between windows would move every continued stage's thresholds with it (stateful
/// trees, mean prequential mse, running against initial: computers 83,631 against
/// 50,024, bikeshare 6,061 against 3,411, hotel_rates 780 against 666; stateless the same).
pub fn scaling(kind: crate::vocab::ModelKind) -> relearn_data::Scaling {
    match kind {
        crate::vocab::ModelKind::Mlp => SCALING,
        crate::vocab::ModelKind::Gbdt => relearn_data::Scaling::Initial,
    }
}
/// `data.clip`: standardised inputs are clipped to this many standard deviations.
pub const CLIP: f64 = relearn_data::DEFAULT_CLIP;
/// `policy.replay.samples` for windows of `window_size` samples: half a window, so each
/// update trains on the new window and half as many replayed samples.
pub fn replay_samples(window_size: usize) -> usize {
    (window_size / 2).max(1)
}
/// `policy.replay.sampling`
pub const REPLAY_SAMPLING: crate::vocab::Sampling = crate::vocab::Sampling::Recent;
/// `policy.drift.delta` (Page-Hinkley)
pub const DRIFT_DELTA: f64 = 0.05;
/// `policy.drift.threshold` (Page-Hinkley) for classification (cross-entropy losses).
pub const DRIFT_THRESHOLD: f64 = 800.0;
/// `policy.drift.threshold` for regression, whose per-sample losses are squared errors of
/// the standardised target: on Friedman, 100 to 300 fire at exactly the three drifts
/// (the statistic stays below 1 between them and peaks at 340 to 370 after each), 500
/// and 800 never.
pub const DRIFT_THRESHOLD_REGRESSION: f64 = 200.0;
/// `policy.drift.min_samples` (Page-Hinkley)
pub const DRIFT_MIN_SAMPLES: usize = 30;
/// `policy.drift.confidence` (ADWIN)
pub const DRIFT_CONFIDENCE: f64 = 0.002;
/// `policy.drift.recent_windows`
pub const DRIFT_RECENT_WINDOWS: usize = 2;

// Anchored fine-tuning and warm-started retraining (issue 14 B; measured in
// docs/policies.md#anchored-fine-tuning).
/// `stateful.anchor_strength` with `anchor = "l2-init"`.
pub const ANCHOR_STRENGTH_L2_INIT: f64 = 0.1;
/// `stateful.anchor_strength` with `anchor = "ewc"`.
pub const ANCHOR_STRENGTH_EWC: f64 = 100.0;
/// The largest `stateful.anchor_strength` accepted: 100 times the strongest of the
/// sweep (`ewc` 10,000 already holds the weights nearly still), far below where the
/// penalty's gradient `strength * F * (w - c)` or Adam's square of it overflows `f32`.
pub const MAX_ANCHOR_STRENGTH: f64 = 1e6;
/// `stateless.shrink` (λ of shrink-and-perturb).
pub const SHRINK: f64 = 0.4;
/// `stateless.perturb` (σ of shrink-and-perturb).
pub const PERTURB: f64 = 0.1;

/// The default `stateful.anchor_strength` of `kind` (see docs/policies.md for the sweep that
/// chose them).
pub fn anchor_strength(kind: crate::vocab::AnchorKind) -> f64 {
    use crate::vocab::AnchorKind;
    match kind {
        AnchorKind::None => 0.0,
        AnchorKind::L2Init => ANCHOR_STRENGTH_L2_INIT,
        AnchorKind::Ewc => ANCHOR_STRENGTH_EWC,
    }
}
