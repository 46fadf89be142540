//! The model seam: everything the run loop asks of a model family, behind one trait.
//!
//! The loop owns the window, the preprocessing, the policy, the gate and the store; a
//! [`ModelFamily`] owns the weights: it trains a model from fresh weights or fine-tunes a
//! serving one, runs it forward, and turns it into the parts a checkpoint stores (and back).
//! The MLP, with its fused trainer, anchors and output growth, is the first family
//! ([`mlp::MlpFamily`]); another family is a new module here implementing the trait, chosen in
//! [`crate::runner::run_with`].

pub mod gbdt;
pub mod mlp;

use relearn_data::Batch;
use relearn_spec::seed::WindowSeeds;
use relearn_store::Manifest;

use crate::TrainError;
use crate::checkpoint::{LoadedCheckpoint, ModelInfo};

/// A model family, configured for one run (its architecture, its training settings, its
/// devices).
pub trait ModelFamily {
    /// A trained model with what its next update needs (e.g. weights, optimizer state, the
    /// anchor of the next fine-tune). The loop clones the serving one for each candidate, so a
    /// rejected or failed candidate changes nothing.
    type Model: Clone;

    /// Trains a model from fresh weights on `data` (preprocessed) with `outputs` outputs: the
    /// initial model, a stateless retraining, a drift reset. `warm`: start from this model's
    /// weights shrunk and perturbed (`stateless.init`) instead; `serving`: the model it
    /// replaces, whose anchor state carries over. Returns the model and the mean training
    /// loss of its last epoch.
    fn fit_fresh(&self, job: FreshJob<'_, Self::Model>) -> Result<(Self::Model, f64), TrainError>;

    /// Fine-tunes `serving` on `data` (preprocessed), first giving it outputs for
    /// `new_classes` more classes. Returns the model and the mean training loss of its last
    /// epoch.
    fn fine_tune(
        &self,
        serving: &Self::Model,
        data: &Batch,
        new_classes: usize,
        window: usize,
        seeds: &WindowSeeds,
    ) -> Result<(Self::Model, f64), TrainError>;

    /// The run's `model.init` file as its initial model; `data` (the initial windows,
    /// preprocessed) starts an anchor that needs data.
    fn imported(&self, data: &Batch) -> Self::Model;

    /// Raw outputs for `data` (preprocessed), row-major `[rows, outputs]`: logits for
    /// classification, standardised predictions for regression. An error says why the model
    /// cannot run (its stored shape contradicts its record).
    fn outputs(&self, model: &Self::Model, data: &Batch) -> Result<Vec<f32>, String>;

    /// What the checkpoint records of the model (`extra.model`).
    fn describe(&self, model: &Self::Model) -> ModelInfo;

    /// The parts the checkpoint stores the model as, by name (`model` first).
    fn parts(&self, model: &Self::Model) -> Vec<(String, Vec<u8>)>;

    /// The model stored with checkpoint `head`, whose common parts are `loaded`; `part(name)`
    /// reads one of its other parts (an error names the part the checkpoint lacks).
    fn resume(
        &self,
        head: &Manifest,
        loaded: LoadedCheckpoint,
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Self::Model, TrainError>;

    /// Says, once per update, what the run should know about classes first seen in `window`
    /// (e.g. that a frozen output layer cannot learn them).
    fn note_new_classes(&self, _window: usize, _new_classes: &[String]) {}
}

/// A training from fresh weights (see [`ModelFamily::fit_fresh`]).
#[derive(Debug, Clone, Copy)]
pub struct FreshJob<'a, M> {
    /// The training set, preprocessed.
    pub data: &'a Batch,
    /// Outputs of the model (classes, or 1 for regression).
    pub outputs: usize,
    /// The window it is trained at (names it in messages).
    pub window: usize,
    /// The window's seeds.
    pub seeds: &'a WindowSeeds,
    /// Start from this model's weights shrunk and perturbed (`stateless.init`).
    pub warm: Option<&'a M>,
    /// The serving model it replaces (`None` for the initial model).
    pub serving: Option<&'a M>,
}
