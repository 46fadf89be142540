//! What a window does to the run: the initial model from the initial windows, and for each
//! later window the update, in steps: score the serving model, let the policy plan, train a
//! [`Candidate`] (fresh or fine-tuned) through the model family.

use std::collections::BTreeMap;
use std::time::Instant;

use relearn_data::{Batch, OutOfRange, Preprocessor, Task, Window};
use relearn_spec::seed::WindowSeeds;
use relearn_spec::{Metric, Mode};
use relearn_store::{CheckpointId, Relation};

use super::checks::adopt_missing;
use super::{Candidate, CandidateRecord, Loop, Outcome, Serving};
use crate::TrainError;
use crate::advice::data_scale_advice;
use crate::checkpoint::ImportRecord;
use crate::model::{FreshJob, ModelFamily};
use crate::policy::{Plan, PolicyState, Start};
use crate::score::{add_skill, metrics_in_target_units, sample_losses};

/// The serving model's prequential score on a window, and what the update reuses of it.
struct Scored {
    /// The metrics, in the target's units, with the skill over the no-skill forecast.
    prequential: BTreeMap<String, f64>,
    /// The window as the serving model sees it.
    scaled: Batch,
    /// The serving model's raw outputs on it.
    outputs: Vec<f32>,
    /// The window's inputs that the serving model's scaler clipped.
    out_of_range: Vec<OutOfRange>,
    /// With a label delay: the checkpoint that scored it.
    scored_by: Option<CheckpointId>,
}

/// A trained model with its preprocessing and where it descends from.
struct Fitted<M> {
    model: M,
    preprocessor: Preprocessor,
    parent: Option<CheckpointId>,
    relation: Relation,
    train_loss: f64,
    new_classes: Vec<String>,
}

impl<F: ModelFamily> Loop<'_, F> {
    /// The run's first model, trained on the initial windows (or imported from
    /// `model.init`), committed as the root of the run.
    pub(super) fn train_initial(&mut self) -> Result<Outcome, TrainError> {
        if self.spec.model.init.is_some() {
            return self.import_initial();
        }
        let started = Instant::now();
        let preprocessor = self.initial_preprocessor();
        let data = preprocessor.transform(&self.history.initial);
        let window = self.spec.initial_windows - 1;
        let seeds = WindowSeeds::new(self.spec.seed, window);
        let (model, train_loss) = self.family.fit_fresh(FreshJob {
            data: &data,
            outputs: self.info.n_outputs(),
            window,
            seeds: &seeds,
            warm: None,
            serving: None,
        })?;
        let record = CandidateRecord {
            samples_trained: self.history.initial.len() as u64,
            trained_windows: (0..self.spec.initial_windows as u64).collect(),
            train_loss: Some(train_loss),
            relation: Relation::Initial,
            record: None,
            ..self.root_record(window, started)
        };
        self.commit_root(model, preprocessor, record)
    }

    /// The preprocessing of the initial model, fitted on the initial windows (warning about
    /// constant columns).
    fn initial_preprocessor(&self) -> Preprocessor {
        let mut preprocessor =
            Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
        preprocessor.fit(&self.history.initial);
        let constant = preprocessor.constant_columns();
        if !constant.is_empty() {
            tracing::warn!(
                "column(s) {} are constant in the initial windows: they are centred, not scaled, \
                 and a later value enters the model in the column's own units, clipped to \
                 ±{} (data.clip)",
                constant.join(", "),
                self.spec.clip
            );
        }
        preprocessor
    }

    /// What the root checkpoint at `window` records; the caller sets what it trained.
    fn root_record(&self, window: usize, started: Instant) -> CandidateRecord {
        CandidateRecord {
            window,
            parent: None,
            relation: Relation::Imported,
            replaces: None,
            samples_trained: 0,
            samples_skipped: self.initial_skipped as u64,
            trained_windows: Vec::new(),
            prequential: None,
            train_loss: None,
            train_seconds: started.elapsed().as_secs_f64(),
            retained: Default::default(),
            record: None,
            import: None,
            new_classes: Vec::new(),
            out_of_range: Vec::new(),
            scored_by: None,
        }
    }

    /// Gates and commits the run's root model; it becomes the parent of every retrained
    /// checkpoint, and the initial data is dropped unless the policy keeps it.
    fn commit_root(
        &mut self,
        model: F::Model,
        preprocessor: Preprocessor,
        mut record: CandidateRecord,
    ) -> Result<Outcome, TrainError> {
        let state = self.policy.start(&self.history, &self.ctx);
        record.retained = self.policy.retained(record.window, &*state, &self.ctx);
        let candidate = Candidate {
            model,
            preprocessor,
            state,
            record,
        };
        let verdict = self.gate(&candidate, &self.history.initial, None);
        let outcome = self.commit(candidate, verdict)?;
        if let Outcome::Promoted(manifest) = &outcome {
            self.initial_id = Some(manifest.id.clone());
            if !self.policy.keeps_initial_data() {
                self.history.initial = self.info.empty_batch();
            }
        }
        Ok(outcome)
    }

    /// `model.init`: the run's initial checkpoint is the imported model (see
    /// docs/import.md). The initial windows train nothing: they fit the preprocessing only
    /// when the file carries none (with `data.scaling = "none"` that is the label map), and
    /// the model is first scored, prequentially, on the first update window.
    fn import_initial(&mut self) -> Result<Outcome, TrainError> {
        let init = self
            .spec
            .model
            .init
            .as_ref()
            .expect("import_initial runs for model.init");
        let started = Instant::now();
        let preprocessor = match &init.model.preprocessor {
            Some(pre) => adopt_missing(pre.clone(), &self.info).with_clip(self.spec.clip),
            None => {
                let mut pre =
                    Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
                pre.fit(&self.history.initial);
                pre
            }
        };
        let window = self.spec.initial_windows - 1;
        let model = self
            .family
            .imported(&preprocessor.transform(&self.history.initial));
        let record = CandidateRecord {
            import: Some(ImportRecord {
                file: init.file.clone(),
                sha256: init.sha256.clone(),
                format: init.model.format.name().to_string(),
            }),
            ..self.root_record(window, started)
        };
        self.commit_root(model, preprocessor, record)
    }

    /// The update of a window after the initial ones. A rejected or failed candidate leaves
    /// the serving model (and its state) as it was; a promoted one has installed itself.
    pub(super) fn update(&mut self, window: Window) -> Result<Outcome, TrainError> {
        let serving = self
            .serving
            .take()
            .expect("the initial model precedes every update");
        let result = self.update_from(&serving, window);
        if !matches!(result, Ok(Outcome::Promoted(_))) {
            self.serving.get_or_insert(serving);
        }
        result
    }

    /// Score, plan, train, gate, commit.
    fn update_from(
        &mut self,
        serving: &Serving<F::Model>,
        window: Window,
    ) -> Result<Outcome, TrainError> {
        let seeds = WindowSeeds::new(self.spec.seed, window.index);
        // The model serving when the window's rows arrived scores them: the latest one, or
        // with a label delay of K windows, the one K updates older.
        let scorer = match self.predictors.front() {
            Some(p) if self.spec.label_delay > 0 => (&p.id, &p.model, &p.preprocessor),
            _ => (&serving.id, &serving.model, &serving.preprocessor),
        };
        let scored_by = (self.spec.label_delay > 0).then(|| scorer.0.clone());
        let mut scored = self.score_serving(scorer, &window)?;
        scored.scored_by = scored_by;
        // The candidate's policy state starts as the serving one's; the plan may change it
        // (a detector scans the window's losses).
        let mut state = serving.state.clone_state();
        let task = self.info.task;
        let losses = || sample_losses(&scored.outputs, &scored.scaled.targets, task);
        let plan = state.plan(&window, &losses, &self.history, &self.ctx, &seeds);
        let candidate = self.train_candidate(serving, &window, plan, state, scored, &seeds)?;
        let verdict = self.gate(&candidate, &window.batch, self.previous_targets.as_deref());
        self.commit(candidate, verdict)
    }

    /// The prequential score on `window` of `(id, model, preprocessing)`, the model that
    /// served its rows: refused when not finite.
    fn score_serving(
        &self,
        (id, model, preprocessor): (&CheckpointId, &F::Model, &Preprocessor),
        window: &Window,
    ) -> Result<Scored, TrainError> {
        // The model sees (and the drift detector's losses are in) standardised units; the
        // scores are in the target's own.
        let scaled = preprocessor.transform(&window.batch);
        let out_of_range = preprocessor.out_of_range(&window.batch);
        let outputs =
            self.family
                .outputs(model, &scaled)
                .map_err(|message| TrainError::BadCheckpoint {
                    id: id.clone(),
                    message,
                })?;
        let task = self.info.task;
        let mut prequential =
            metrics_in_target_units(preprocessor, outputs.clone(), &window.batch.targets, task);
        let headline = Metric::headline(task).name();
        if let Some(previous) = self.previous_targets.as_deref()
            && prequential.get(headline).is_some_and(|s| s.is_finite())
        {
            add_skill(&mut prequential, previous, &window.batch.targets, task);
        }
        if let Some((metric, value)) = prequential.iter().find(|(_, v)| !v.is_finite()) {
            return Err(TrainError::NotFinite {
                what: "the serving model's score is not a finite number",
                window: window.index,
                detail: format!("its prequential {metric} is {value}"),
                advice: data_scale_advice(self.spec, &scaled, task)
                    .unwrap_or_else(|| "check the window's rows for extreme values".to_string()),
            });
        }
        Ok(Scored {
            prequential,
            scaled,
            outputs,
            out_of_range,
            scored_by: None,
        })
    }

    /// Trains what `plan` says into a candidate for `window`.
    fn train_candidate(
        &self,
        serving: &Serving<F::Model>,
        window: &Window,
        plan: Plan,
        mut state: Box<dyn PolicyState>,
        scored: Scored,
        seeds: &WindowSeeds,
    ) -> Result<Candidate<F::Model>, TrainError> {
        let started = Instant::now();
        let raw = &plan.set.raw;
        let fitted = match plan.start {
            Start::Fresh(relation) => self.retrain(serving, raw, relation, window.index, seeds)?,
            Start::Serving => self.fine_tune(serving, window, raw, seeds)?,
        };
        self.family
            .note_new_classes(window.index, &fitted.new_classes);
        state.trained(window, &self.ctx, seeds);
        // Building the training set, training, and the policy state's update.
        let train_seconds = started.elapsed().as_secs_f64();
        let record = CandidateRecord {
            window: window.index,
            parent: fitted.parent,
            relation: fitted.relation,
            replaces: Some(serving.id.clone()),
            samples_trained: raw.len() as u64,
            samples_skipped: window.skipped as u64,
            trained_windows: plan.set.windows,
            prequential: Some(scored.prequential),
            train_loss: Some(fitted.train_loss),
            train_seconds,
            retained: self.policy.retained(window.index, &*state, &self.ctx),
            record: plan.record,
            import: None,
            new_classes: fitted.new_classes,
            out_of_range: scored.out_of_range,
            scored_by: scored.scored_by,
        };
        Ok(Candidate {
            model: fitted.model,
            preprocessor: fitted.preprocessor,
            state,
            record,
        })
    }

    /// A model from fresh weights on `raw` with fresh preprocessing: a stateless
    /// retraining or a drift reset (`relation`).
    fn retrain(
        &self,
        serving: &Serving<F::Model>,
        raw: &Batch,
        relation: Relation,
        window: usize,
        seeds: &WindowSeeds,
    ) -> Result<Fitted<F::Model>, TrainError> {
        let mut preprocessor =
            Preprocessor::new(&self.info, self.spec.scaling).with_clip(self.spec.clip);
        // A fresh model keeps the classes its predecessor knew, and learns the training
        // set's new ones.
        preprocessor.classes = serving.preprocessor.classes.clone();
        let new_classes = preprocessor.learn_classes(&self.info.all_classes(), &raw.targets);
        preprocessor.fit(raw);
        let data = preprocessor.transform(raw);
        let outputs = match self.info.task {
            Task::Classification => preprocessor.classes.len(),
            Task::Regression => 1,
        };
        // `stateless.init = "shrink-perturb"` starts from the serving weights, shrunk and
        // perturbed: they descend from it, so it is the parent. (Not when the classes grew:
        // the shapes differ, and it starts fresh.)
        let warm = (relation == Relation::Retrained
            && !self.spec.stateless.init.is_fresh()
            && self.spec.mode == Mode::Stateless
            && new_classes.is_empty())
        .then_some(&serving.model);
        let (model, train_loss) = self.family.fit_fresh(FreshJob {
            data: &data,
            outputs,
            window,
            seeds,
            warm,
            serving: Some(&serving.model),
        })?;
        let parent = match relation {
            Relation::Retrained if warm.is_none() => self.initial_id.clone(),
            _ => Some(serving.id.clone()),
        };
        Ok(Fitted {
            model,
            preprocessor,
            parent,
            relation,
            train_loss,
            new_classes,
        })
    }

    /// The serving model fine-tuned on `raw`; its scaler takes the new window only (not
    /// replayed samples, which it saw).
    fn fine_tune(
        &self,
        serving: &Serving<F::Model>,
        window: &Window,
        raw: &Batch,
        seeds: &WindowSeeds,
    ) -> Result<Fitted<F::Model>, TrainError> {
        let mut preprocessor = serving.preprocessor.clone();
        preprocessor.update(&window.batch);
        let new_classes = preprocessor.learn_classes(&self.info.all_classes(), &raw.targets);
        let data = preprocessor.transform(raw);
        let (model, train_loss) = self.family.fine_tune(
            &serving.model,
            &data,
            new_classes.len(),
            window.index,
            seeds,
        )?;
        Ok(Fitted {
            model,
            preprocessor,
            parent: Some(serving.id.clone()),
            relation: Relation::FineTuned,
            train_loss,
            new_classes,
        })
    }
}
