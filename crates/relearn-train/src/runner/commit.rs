//! The end of a window's update: the promotion gate's verdict on a [`Candidate`], and its
//! commit, as the run's new head or, rejected, under a gate tag.

use relearn_data::Batch;
use relearn_spec::Verdict;
use relearn_spec::gate::{REJECTED_TAG, rejected_tag};
use relearn_store::{CheckpointDraft, Metrics, Publish, TrainedOn};

use super::{Candidate, Loop, Outcome, Serving};
use crate::TrainError;
use crate::checkpoint::{CheckpointExtra, parts};
use crate::model::ModelFamily;
use crate::score::{add_skill, metrics_in_target_units};

impl<F: ModelFamily> Loop<'_, F> {
    /// The promotion gate's verdict on a candidate, scored on `raw` (the newest data it was
    /// trained on, unscaled); `None` without a gate. A gate on `skill` gets the candidate's
    /// skill over the no-skill forecast on `raw`, as the prequential skill is computed: the
    /// majority class (or mean target) of `previous`, the window before `raw`; for the root
    /// model (`previous` is `None`), of `raw` itself.
    pub(super) fn gate(
        &self,
        candidate: &Candidate<F::Model>,
        raw: &Batch,
        previous: Option<&[f32]>,
    ) -> Option<Verdict> {
        let gate = self.spec.gate.as_ref()?;
        let pre = &candidate.preprocessor;
        let outputs = self
            .family
            .outputs(&candidate.model, &pre.transform(raw))
            .expect("a model the trainer just made has the config's shape");
        let task = self.info.task;
        let mut scores = metrics_in_target_units(pre, outputs, &raw.targets, task);
        if gate.needs_skill() {
            add_skill(
                &mut scores,
                previous.unwrap_or(&raw.targets),
                &raw.targets,
                task,
            );
        }
        Some(gate.check(&scores))
    }

    /// Commits a candidate: as the run's new head when there is no gate or it passed;
    /// otherwise under a `<run>.rejected.<window>` tag (and [`REJECTED_TAG`]), with the
    /// verdict in `extra.gate`.
    pub(super) fn commit(
        &mut self,
        candidate: Candidate<F::Model>,
        verdict: Option<Verdict>,
    ) -> Result<Outcome, TrainError> {
        let rejected = verdict.as_ref().filter(|v| !v.passed());
        let window = candidate.record.window;
        let draft = self.draft(&candidate, rejected.cloned());
        if let Some(v) = rejected {
            let tag = rejected_tag(&self.spec.name, window);
            for name in [tag.as_str(), REJECTED_TAG] {
                self.check_gate_may_move(name)?;
            }
            let manifest = self.store.commit_to(draft, Publish::Tag(&tag))?;
            // `rejected` names the store's latest rejected candidate (`relearn show rejected`).
            self.store.set_tag(REJECTED_TAG, &manifest.id)?;
            let manifest = self.store.manifest(&manifest.id)?;
            return Ok(Outcome::Rejected(manifest, v.clone(), tag));
        }
        let manifest = self.store.commit(draft)?;
        self.remember_predictor(&manifest.id, &candidate.model, &candidate.preprocessor);
        self.serving = Some(Serving {
            id: manifest.id.clone(),
            model: candidate.model,
            preprocessor: candidate.preprocessor,
            state: candidate.state,
        });
        Ok(Outcome::Promoted(manifest))
    }

    /// The checkpoint of `candidate`: its parts (the model family's, the preprocessing, the
    /// policy state's) and its manifest's records; `rejected`: the gate's verdict on it.
    fn draft(&self, candidate: &Candidate<F::Model>, rejected: Option<Verdict>) -> CheckpointDraft {
        let mut parts_out = self.family.parts(&candidate.model);
        parts_out.push((
            parts::PREPROCESSOR.to_string(),
            candidate.preprocessor.to_bytes(),
        ));
        parts_out.extend(
            candidate
                .state
                .parts()
                .into_iter()
                .map(|(name, bytes)| (name.to_string(), bytes)),
        );
        let c = &candidate.record;
        let extra = self.extra(candidate, rejected);
        CheckpointDraft {
            run: self.spec.name.clone(),
            mode: self.policy.name().to_string(),
            window: c.window as u64,
            parent: c.parent.clone(),
            relation: c.relation,
            replaces: c.replaces.clone(),
            samples_trained: c.samples_trained,
            samples_skipped: c.samples_skipped,
            retained: c.retained.clone(),
            metrics: Metrics {
                prequential: c.prequential.clone(),
                train_loss: c.train_loss,
            },
            train_seconds: c.train_seconds,
            config_fingerprint: self.fingerprint.clone(),
            trained_on: TrainedOn {
                windows: c.trained_windows.clone(),
                samples: c.samples_trained,
            },
            extra: extra.to_value(),
            parts: parts_out,
        }
    }

    /// What relearn records under the checkpoint's `extra`.
    fn extra(&self, candidate: &Candidate<F::Model>, rejected: Option<Verdict>) -> CheckpointExtra {
        let c = &candidate.record;
        let csv = match &self.spec.source {
            relearn_data::StreamSource::Csv(csv) => Some(csv),
            relearn_data::StreamSource::Generator(_) => None,
        };
        CheckpointExtra {
            model: self.family.describe(&candidate.model),
            source: csv.map_or_else(|| self.info.source.clone(), |csv| csv.identity()),
            target: csv.map_or_else(|| "y".to_string(), |csv| csv.target.clone()),
            scaling: self.spec.scaling,
            window_size: self.spec.window_size,
            period: self.ctx.windowing.label(c.window),
            time_column: csv.and_then(|csv| csv.time.clone()),
            id_column: csv.and_then(|csv| csv.id.clone()),
            seed: self.spec.seed,
            data: self
                .trail
                .as_ref()
                .map(|trail| trail.record(c.window, self.ctx.windowing.span(c.window))),
            gate: rejected,
            new_classes: c.new_classes.clone(),
            out_of_range: c.out_of_range.clone(),
            scored_by: c.scored_by.clone(),
            import: c.import.clone(),
            policy: c
                .record
                .iter()
                .map(|r| (r.key.to_string(), r.value.clone()))
                .collect(),
        }
    }

    /// Refuses to move gate tag `name` if it names a checkpoint no gate rejected: a tag a
    /// user made (with a relearn from before these names were reserved) never moves.
    fn check_gate_may_move(&self, name: &str) -> Result<(), TrainError> {
        let Some(id) = self.store.tags()?.remove(name) else {
            return Ok(());
        };
        let made_by_gate = self
            .store
            .manifest(&id)
            .ok()
            .and_then(|m| CheckpointExtra::of(&m).ok())
            .is_some_and(|extra| extra.gate.is_some());
        if made_by_gate {
            return Ok(());
        }
        Err(TrainError::Usage(format!(
            "the promotion gate rejected the candidate of run '{}' and would tag it '{name}', but \
             tag '{name}' was made by hand (it names checkpoint {id:.12}, which no gate rejected) \
             and a tag you made never moves. Nothing was committed. Give your tag another name \
             (`relearn tag {:.12} NEW-NAME`, then `relearn tag --delete {name}`) and run again",
            self.spec.name, id
        )))
    }
}
