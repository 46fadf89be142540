//! The MLP family: Burn's [`Mlp`] trained by relearn-fit (the fused trainer on Flex, Burn's
//! autodiff elsewhere), with Adam's moments carried across fine-tunes, the anchors of
//! `stateful.anchor`, an output layer that grows with new classes, and shrink-and-perturb
//! warm starts (`stateless.init`).

use std::sync::Arc;

use burn::tensor::Device;
use relearn_data::{Batch, StreamInfo, Task};
use relearn_fit::grow;
use relearn_fit::{AdamMoments, Anchor, Fisher, FitSettings, LayerOptions, MlpAdam, fit_anchored};
use relearn_model::{Mlp, MlpConfig, MlpWeights, parts};
use relearn_spec::seed::WindowSeeds;
use relearn_spec::{AnchorKind, RunSpec, StatelessInit};
use relearn_store::Manifest;

use super::{FreshJob, ModelFamily};
use crate::TrainError;
use crate::advice::data_scale_advice;
use crate::checkpoint::{LoadedCheckpoint, ModelInfo};

/// The MLP family as one run configures it.
pub struct MlpFamily<'a> {
    spec: &'a RunSpec,
    /// The architecture with the stream's initial outputs (a model's own output width
    /// grows with the classes).
    config: MlpConfig,
    task: Task,
    /// First 0/1 input (the fused trainer's sparse first layer).
    sparse_from: Option<usize>,
    /// Inference device.
    device: Device,
    /// Training (autodiff) device.
    train_device: Device,
    /// Whether the run's updates fine-tune (every policy but stateless): then fresh
    /// trainings keep their moments (with `stateful.carry_optimizer`) and fine-tunes are
    /// anchored (`stateful.anchor`).
    fine_tunes: bool,
}

/// A trained MLP and what its next fine-tune needs.
#[derive(Debug, Clone)]
pub struct MlpModel {
    /// The weights.
    pub weights: MlpWeights,
    /// Adam's moments, for a policy that fine-tunes with `stateful.carry_optimizer`.
    pub moments: Option<AdamMoments>,
    /// What anchors the next fine-tune (`stateful.anchor`).
    anchor: AnchorState,
}

/// The anchor a checkpoint carries to the next fine-tune (see [`relearn_fit::anchor`]):
/// stored as its `anchor` or `fisher` part.
#[derive(Debug, Clone)]
enum AnchorState {
    /// No anchor (`stateful.anchor = "none"`, or a policy that never fine-tunes).
    None,
    /// `l2-init`: the run's initial weights.
    L2Init(Arc<MlpWeights>),
    /// `ewc`: the Fisher of this checkpoint's weights on what it trained on.
    Ewc(Arc<Fisher>),
}

impl AnchorState {
    /// The part that stores it.
    fn part(&self) -> Option<(String, Vec<u8>)> {
        match self {
            AnchorState::None => None,
            AnchorState::L2Init(w) => Some((parts::ANCHOR.to_string(), w.to_bytes())),
            AnchorState::Ewc(f) => Some((parts::FISHER.to_string(), f.to_bytes())),
        }
    }
}

impl<'a> MlpFamily<'a> {
    /// The family of a run of `spec` on `info`'s stream, with `config`'s architecture;
    /// `fine_tunes`: whether its policy fine-tunes.
    pub fn new(
        spec: &'a RunSpec,
        info: &StreamInfo,
        config: MlpConfig,
        fine_tunes: bool,
    ) -> MlpFamily<'a> {
        let device = spec.backend.device();
        MlpFamily {
            spec,
            config,
            task: info.task,
            sparse_from: info.binary_inputs_from(),
            train_device: device.clone().autodiff(),
            device,
            fine_tunes,
        }
    }

    /// The architecture of a model with `weights` (its output width grows with the
    /// classes).
    fn config_for(&self, weights: &MlpWeights) -> MlpConfig {
        let mut config = self.config.clone();
        if let Some(&d) = weights.widths().last() {
            config.d_output = d;
        }
        config
    }

    /// The anchor of this run's fine-tunes: none for a policy that never fine-tunes.
    fn anchor_kind(&self) -> AnchorKind {
        match self.fine_tunes {
            true => self.spec.stateful.anchor.kind,
            false => AnchorKind::None,
        }
    }
}

impl ModelFamily for MlpFamily<'_> {
    type Model = MlpModel;

    fn fit_fresh(&self, job: FreshJob<'_, MlpModel>) -> Result<(MlpModel, f64), TrainError> {
        let lr = self.spec.train.lr;
        self.train_device.seed(job.seeds.weights);
        let mut config = self.config.clone();
        config.d_output = job.outputs;
        let mut model = config.init(&self.train_device);
        if let (Some(previous), StatelessInit::ShrinkPerturb { shrink, perturb }) =
            (job.warm, self.spec.stateless.init)
        {
            // Burn draws a fresh layer's weights when they are first read, and fresh training
            // first reads them after `train` has seeded the device for dropout: read them
            // under that seed too, so `w_fresh` is the fresh retraining's start, bit for bit.
            self.train_device.seed(job.seeds.dropout);
            let start = shrink_perturb(&previous.weights, &model.weights(), shrink, perturb);
            model = config
                .init_with(&start, &self.train_device)
                .expect("the serving weights have the config's shape");
        }
        let epochs = self.spec.train.fresh_epochs(job.data.len());
        let (weights, moments, loss) = self
            .train(
                model,
                AdamMoments::default(),
                job.data,
                job.seeds,
                epochs,
                lr,
                None,
            )
            .map_err(|epoch| self.diverged(job.window, epoch, "train.lr", lr, job.data, false))?;
        // Fresh training keeps its moments only for a policy that will fine-tune them.
        let keep = self.fine_tunes && self.spec.stateful.carry_optimizer;
        let anchor = self.fresh_anchor(&weights, job.data, job.serving.map(|s| &s.anchor));
        let model = MlpModel {
            weights,
            moments: keep.then_some(moments),
            anchor,
        };
        Ok((model, loss))
    }

    fn fine_tune(
        &self,
        serving: &MlpModel,
        data: &Batch,
        new_classes: usize,
        window: usize,
        seeds: &WindowSeeds,
    ) -> Result<(MlpModel, f64), TrainError> {
        let mut start = serving.clone();
        if !self.spec.stateful.carry_optimizer {
            start.moments = None;
        }
        let mut penalty = self.anchor_for_fine_tune(serving);
        if new_classes > 0 {
            self.grow(&mut start, penalty.as_mut(), new_classes, seeds.weights);
        }
        let model = self
            .config_for(&start.weights)
            .init_with(&start.weights, &self.train_device)
            .expect("shape checked above");
        let lr = self.spec.stateful.lr;
        let epochs = self.spec.stateful.epochs;
        let moments = start.moments.unwrap_or_default();
        let (weights, moments, loss) = self
            .train(model, moments, data, seeds, epochs, lr, penalty.as_ref())
            .map_err(|epoch| {
                self.diverged(window, epoch, "stateful.lr", lr, data, penalty.is_some())
            })?;
        let anchor = match &start.anchor {
            AnchorState::Ewc(_) => AnchorState::Ewc(Arc::new(relearn_fit::fisher(
                &weights,
                self.config.activation,
                data,
                self.task,
            ))),
            other => other.clone(),
        };
        let model = MlpModel {
            weights,
            moments: Some(moments),
            anchor,
        };
        Ok((model, loss))
    }

    fn imported(&self, data: &Batch) -> MlpModel {
        let init = self
            .spec
            .model
            .init
            .as_ref()
            .expect("an imported model comes from model.init");
        // An anchor holds to the imported weights (`l2-init`), or weighs them by their
        // Fisher on the initial windows (`ewc`).
        MlpModel {
            weights: init.model.weights.clone(),
            moments: None,
            anchor: self.fresh_anchor(&init.model.weights, data, None),
        }
    }

    fn outputs(&self, model: &MlpModel, data: &Batch) -> Result<Vec<f32>, String> {
        let mlp = self.inference_model(&model.weights)?;
        Ok(relearn_fit::outputs(&mlp, data, &self.device))
    }

    fn describe(&self, model: &MlpModel) -> ModelInfo {
        ModelInfo {
            widths: model.weights.widths(),
            activation: self.config.activation.name().to_string(),
            dropout: self.config.dropout,
            task: self.task,
            backend: self.spec.backend.name().to_string(),
            kind: relearn_spec::ModelKind::Mlp,
            trees: None,
        }
    }

    fn parts(&self, model: &MlpModel) -> Vec<(String, Vec<u8>)> {
        let mut parts = vec![(parts::MODEL.to_string(), model.weights.to_bytes())];
        // Fresh training keeps its moments only for a policy that will fine-tune them;
        // fine-tuning always stores them.
        if let Some(m) = &model.moments {
            parts.push((parts::OPTIMIZER.to_string(), m.to_bytes()));
        }
        parts.extend(model.anchor.part());
        parts
    }

    fn resume(
        &self,
        head: &Manifest,
        loaded: LoadedCheckpoint,
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<MlpModel, TrainError> {
        let weights = loaded
            .model
            .mlp()
            .map_err(|e| TrainError::bad_checkpoint(head, e))?
            .clone();
        let moments = match &loaded.optimizer {
            Some(bytes) if self.fine_tunes => {
                let model = self
                    .inference_model(&weights)
                    .map_err(|e| TrainError::bad_checkpoint(head, e))?;
                let moments =
                    AdamMoments::from_bytes(bytes, &model, &self.device).map_err(|source| {
                        TrainError::BadPart {
                            id: head.id.clone(),
                            source: Box::new(source),
                        }
                    })?;
                Some(moments)
            }
            _ => None,
        };
        let anchor = self.resume_anchor(head, &weights.widths(), part)?;
        Ok(MlpModel {
            weights,
            moments,
            anchor,
        })
    }

    fn note_new_classes(&self, window: usize, new_classes: &[String]) {
        let output = self.config.widths().len().saturating_sub(2);
        if !new_classes.is_empty() && self.spec.train.freeze.contains(&output) {
            // A new run with such classes is refused; these came with rows added since.
            tracing::warn!(
                "window {window}: class(es) [{}] first seen, but `train.freeze` holds the output \
                 layer ({output}): their outputs cannot be trained and the model will not \
                 predict them; leave layer {output} out of `train.freeze`",
                new_classes.join(", ")
            );
        }
    }
}

impl MlpFamily<'_> {
    /// A model with `weights` on the inference device.
    fn inference_model(&self, weights: &MlpWeights) -> Result<Mlp, String> {
        self.config_for(weights)
            .init_with(weights, &self.device)
            .map_err(|e| e.to_string())
    }

    /// Gives `model` outputs for `added` new classes: the weights the model had stay, the
    /// new rows start like a fresh layer's (seeded by `seed`), their Adam moments at zero;
    /// an anchor holds the new rows where they start.
    fn grow(&self, model: &mut MlpModel, penalty: Option<&mut Anchor>, added: usize, seed: u64) {
        let last = model.weights.layers.last().expect("an MLP has a layer");
        let (d_in, d_out) = (last.d_input, last.d_output);
        grow::grow_outputs(&mut model.weights, added, seed);
        if let Some(m) = &mut model.moments {
            grow::grow_moments(m, d_in, d_out, added);
        }
        if let Some(p) = penalty {
            p.center = match &model.anchor {
                AnchorState::Ewc(_) => model.weights.clone(),
                _ => {
                    let mut c = p.center.clone();
                    grow::grow_outputs(&mut c, added, seed);
                    c
                }
            };
            if let Some(f) = &mut p.precision {
                grow::grow_zeros(f, added);
            }
        }
        if let AnchorState::L2Init(initial) = &model.anchor {
            let mut c = (**initial).clone();
            grow::grow_outputs(&mut c, added, seed);
            model.anchor = AnchorState::L2Init(Arc::new(c));
        }
    }

    /// Trains `model` from `moments` on `data` for `epochs` at `lr`, under the window's
    /// dropout and shuffling seeds; `Err(epoch)` when the loss stopped being finite.
    #[allow(clippy::too_many_arguments)]
    fn train(
        &self,
        model: Mlp,
        moments: AdamMoments,
        data: &Batch,
        seeds: &WindowSeeds,
        epochs: usize,
        lr: f64,
        anchor: Option<&Anchor>,
    ) -> Result<(MlpWeights, AdamMoments, f64), usize> {
        self.train_device.seed(seeds.dropout);
        let train = &self.spec.train;
        let layers = self.config.widths().len() - 1;
        let mut optimizer = MlpAdam::new(train.weight_decay, moments).with_layers(
            LayerOptions::per_layer(layers, &train.freeze, &train.lr_scale),
        );
        let settings = FitSettings {
            epochs,
            batch_size: train.batch_size,
            lr,
            shuffle_seed: seeds.shuffle,
            sparse_from: self.sparse_from,
        };
        let (model, loss) = fit_anchored(
            self.spec.trainer,
            model,
            &mut optimizer,
            data,
            self.task,
            settings,
            anchor,
            &self.train_device,
        )
        .map_err(|d| d.epoch)?;
        Ok((model.weights(), optimizer.moments, loss))
    }
}

/// Anchored fine-tuning (`stateful.anchor`, see [`relearn_fit::anchor`]).
impl MlpFamily<'_> {
    /// The anchor state of a model trained from fresh weights on `data` (preprocessed): the
    /// initial model (`serving = None`) or a reset of the drift policy. `l2-init` keeps the
    /// run's initial weights (the initial model's own); `ewc` starts a new Fisher.
    fn fresh_anchor(
        &self,
        weights: &MlpWeights,
        data: &Batch,
        serving: Option<&AnchorState>,
    ) -> AnchorState {
        match (self.anchor_kind(), serving) {
            (AnchorKind::None, _) => AnchorState::None,
            (AnchorKind::L2Init, Some(AnchorState::L2Init(initial))) => {
                AnchorState::L2Init(initial.clone())
            }
            (AnchorKind::L2Init, _) => AnchorState::L2Init(Arc::new(weights.clone())),
            (AnchorKind::Ewc, _) => AnchorState::Ewc(Arc::new(relearn_fit::fisher(
                weights,
                self.config.activation,
                data,
                self.task,
            ))),
        }
    }

    /// The penalty of a fine-tune of `serving`, if the run anchors them.
    fn anchor_for_fine_tune(&self, serving: &MlpModel) -> Option<Anchor> {
        let strength = self.spec.stateful.anchor.strength as f32;
        match &serving.anchor {
            AnchorState::None => None,
            AnchorState::L2Init(initial) => Some(Anchor {
                strength,
                center: (**initial).clone(),
                precision: None,
            }),
            AnchorState::Ewc(fisher) => Some(Anchor {
                strength,
                center: serving.weights.clone(),
                precision: Some(fisher.0.clone()),
            }),
        }
    }

    /// The anchor state stored with `head` (its `anchor` or `fisher` part).
    fn resume_anchor(
        &self,
        head: &Manifest,
        widths: &[usize],
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<AnchorState, TrainError> {
        let kind = self.anchor_kind();
        let name = match kind {
            AnchorKind::None => return Ok(AnchorState::None),
            AnchorKind::L2Init => parts::ANCHOR,
            AnchorKind::Ewc => parts::FISHER,
        };
        if !head.parts.contains_key(name) {
            return Err(TrainError::bad_checkpoint(
                head,
                format!(
                    "it has no `{name}` part, which a run with `stateful.anchor = \"{}\"` needs",
                    kind.name()
                ),
            ));
        }
        let bytes = part(name)?;
        let decoded = match kind {
            AnchorKind::L2Init => relearn_fit::anchor::decode_anchor_weights(&bytes, widths)
                .map(|w| AnchorState::L2Init(Arc::new(w))),
            _ => Fisher::from_bytes(&bytes, widths).map(|f| AnchorState::Ewc(Arc::new(f))),
        };
        decoded.map_err(|source| TrainError::BadPart {
            id: head.id.clone(),
            source: Box::new(source),
        })
    }

    /// The error for training that diverged at `window`, with advice: the data's scale when
    /// it is extreme, else the learning rate.
    fn diverged(
        &self,
        window: usize,
        epoch: usize,
        lr_key: &str,
        lr: f64,
        data: &Batch,
        anchored: bool,
    ) -> TrainError {
        let advice = data_scale_advice(self.spec, data, self.task).unwrap_or_else(|| {
            let kind = self.anchor_kind();
            if anchored && kind != AnchorKind::None {
                // The penalty's gradient grows with its strength whatever the learning rate.
                format!(
                    "The fine-tune is anchored (`stateful.anchor = \"{}\"`, \
                     `stateful.anchor_strength = {}`): lower `stateful.anchor_strength` (the \
                     default is {}) or `{lr_key}` (now {lr}) and run again",
                    kind.name(),
                    self.spec.stateful.anchor.strength,
                    relearn_spec::defaults::anchor_strength(kind)
                )
            } else {
                format!("Lower `{lr_key}` (now {lr}) and run again")
            }
        });
        TrainError::NotFinite {
            what: "training diverged",
            window,
            detail: format!("epoch {epoch}: the loss is not a finite number"),
            advice,
        }
    }
}

/// Shrink-and-perturb (Ash & Adams 2020): `shrink * previous + perturb * fresh`, element by
/// element, in f32.
pub fn shrink_perturb(
    previous: &MlpWeights,
    fresh: &MlpWeights,
    shrink: f64,
    perturb: f64,
) -> MlpWeights {
    let (l, s) = (shrink as f32, perturb as f32);
    let mix = |p: &[f32], f: &[f32]| -> Vec<f32> {
        p.iter().zip(f).map(|(&p, &f)| l * p + s * f).collect()
    };
    MlpWeights {
        layers: previous
            .layers
            .iter()
            .zip(&fresh.layers)
            .map(|(p, f)| relearn_model::LayerWeights {
                d_input: p.d_input,
                d_output: p.d_output,
                weight: mix(&p.weight, &f.weight),
                bias: mix(&p.bias, &f.bias),
            })
            .collect(),
    }
}
