//! Picking up a stored run: its head's config fingerprint, its initial model (for a policy
//! whose updates descend from it), its serving state, and (for a CSV run) a check that the
//! rows it trained on are still those of the file.

use relearn_data::{Stream, Window};
use relearn_store::{CheckpointId, Manifest, Relation};

use super::checks::csv_path;
use super::{Loop, Serving};
use crate::TrainError;
use crate::checkpoint::{CheckpointExtra, LoadedCheckpoint};
use crate::model::ModelFamily;

impl<F: ModelFamily> Loop<'_, F> {
    /// A resumed CSV run's check, before it reports or trains anything, that the rows it
    /// trained on are still those of the file: none removed, none changed.
    pub(super) fn check_data(&mut self, stream: &Stream) -> Result<(), TrainError> {
        let Some(head) = self.data_check.as_ref() else {
            return Ok(());
        };
        if let Some(gone) = self.files_gone()? {
            return Err(TrainError::DataChanged {
                run: self.spec.name.clone(),
                message: format!("in {}, {gone}", csv_path(self.spec)),
            });
        }
        if head.window as usize >= stream.n_windows() {
            return Err(TrainError::DataChanged {
                run: self.spec.name.clone(),
                message: format!(
                    "{} now holds {} full window(s){}, but the run has trained through window {} \
                     (checkpoint {:.12}): rows were removed or the file was replaced",
                    csv_path(self.spec),
                    stream.n_windows(),
                    match stream.windowing() {
                        relearn_data::Windowing::Rows { size } => format!(" of {size} rows"),
                        relearn_data::Windowing::Time { every, .. } => {
                            format!(" (one per {})", every.noun())
                        }
                    },
                    head.window,
                    head.id
                ),
            });
        }
        for window in stream.windows()? {
            self.observe(&window?)?;
            if !self.data_check_pending() {
                break;
            }
        }
        Ok(())
    }

    /// A folder stream's files that checkpoints of the run trained on and that are no
    /// longer there, said as the error's message; `None` when there is none (or the
    /// stream is one file).
    fn files_gone(&self) -> Result<Option<String>, TrainError> {
        let Some(trail) = self.trail.as_ref().filter(|t| !t.files().is_empty()) else {
            return Ok(None);
        };
        let mut gone: Vec<(String, u64)> = Vec::new();
        for m in self.store.run_chain(&self.spec.name)? {
            let Some(data) = CheckpointExtra::of(&m).ok().and_then(|e| e.data) else {
                continue;
            };
            for name in data.files {
                if !trail.files().iter().any(|f| f.name == name)
                    && !gone.iter().any(|(g, _)| g == &name)
                {
                    gone.push((name, m.window));
                }
            }
        }
        gone.sort_by_key(|(_, w)| *w);
        Ok(gone.first().map(|(name, w)| {
            let names: Vec<String> = gone.iter().map(|(n, _)| n.clone()).collect();
            format!(
                "{} no longer there, though window {w} trained on rows of {:?} (a file the run trained on must stay)",
                if names.len() == 1 {
                    format!("{} is", relearn_data::quoted(&names))
                } else {
                    format!("{} are", relearn_data::quoted(&names))
                },
                name
            )
        }))
    }

    /// Whether the data a resumed CSV run trained on is still to be checked.
    fn data_check_pending(&self) -> bool {
        self.data_check.is_some()
    }

    /// Hashes a window as it streams past (CSV runs), and checks the data the run trained on
    /// once the head's window has passed.
    pub(super) fn observe(&mut self, window: &Window) -> Result<(), TrainError> {
        let Some(trail) = &mut self.trail else {
            return Ok(());
        };
        if trail.len() != window.index {
            // Hashed already: by the check before the run, or an earlier pass over the stream.
            return Ok(());
        }
        trail.push(&window.batch);
        let Some(head) = self
            .data_check
            .as_ref()
            .filter(|h| h.window as usize == window.index)
        else {
            return Ok(());
        };
        let (store, run) = (self.store, self.spec.name.as_str());
        if let Some(change) = trail.check(head, || store.run_chain(run))? {
            let rows = |w: usize| {
                let span = self.ctx.windowing.span(w);
                format!(
                    "rows {}-{} (file lines {}-{})",
                    span.start + 1,
                    span.end,
                    span.start + 2,
                    span.end + 1
                )
            };
            let which = match change.first_changed {
                Some(w) if !trail.files().is_empty() => {
                    changed_files(trail, &change.recorded_files, w, self.ctx.windowing.span(w))
                }
                Some(w) => format!("window {w}, {}, is not what the run trained on", rows(w)),
                None => format!(
                    "a window at or before window {} is not what the run trained on (the \
                     checkpoints that would name it were removed by gc)",
                    change.head_window
                ),
            };
            return Err(TrainError::DataChanged {
                run: self.spec.name.clone(),
                message: format!("in {}, {which}", csv_path(self.spec)),
            });
        }
        self.data_check = None;
        Ok(())
    }

    pub(super) fn resume_from(&mut self, head: Manifest) -> Result<(), TrainError> {
        if head.config_fingerprint != self.fingerprint {
            self.check_import_unchanged()?;
            return Err(TrainError::ConfigChanged {
                run: self.spec.name.clone(),
                store: self.store.root().to_path_buf(),
                stored: head.config_fingerprint.clone(),
                current: self.fingerprint.clone(),
            });
        }
        // Only a policy whose updates descend from the initial model needs it: it is their
        // parent, so the head names it. Fine-tuning needs only the head (`gc` may prune a
        // stateful run's initial checkpoint).
        if self.policy.needs_initial_model() {
            self.initial_id = Some(self.initial_model_of(&head)?);
        }
        let loaded = LoadedCheckpoint::load(self.store, head.clone())?;
        loaded.preprocessor.check_compatible(&self.info)?;
        let preprocessor = loaded.preprocessor.clone();
        let name = self.policy.name();
        let (store, policy) = (self.store, &self.policy);
        let mut part = |part: &str| {
            if !head.parts.contains_key(part) {
                return Err(TrainError::bad_checkpoint(
                    &head,
                    format!("it has no `{part}` part, which a {name} run needs"),
                ));
            }
            Ok(store.load_part(&head, part)?)
        };
        let state = policy.resume(&head, &mut part)?;
        let model = self.family.resume(&head, loaded, &mut |name| {
            store.load_part(&head, name).map_err(TrainError::from)
        })?;
        self.next_window = head.window as usize + 1;
        self.resume_predictors(&head)?;
        self.remember_predictor(&head.id, &model, &preprocessor);
        self.serving = Some(Serving {
            id: head.id.clone(),
            model,
            preprocessor,
            state,
        });
        self.head_manifest = Some(head);
        Ok(())
    }

    /// With a label delay of K windows: the K models that served before `head`, oldest
    /// first, found up its `replaces` links (fewer at the start of the run), so that a
    /// resumed run scores each window with the model an uninterrupted one would.
    fn resume_predictors(&mut self, head: &Manifest) -> Result<(), TrainError> {
        let mut earlier = Vec::new();
        let mut at = head.replaces.clone();
        while let Some(id) = at.filter(|_| earlier.len() < self.spec.label_delay) {
            let manifest = self.store.manifest(&id)?;
            at = manifest.replaces.clone();
            earlier.push(manifest);
        }
        for manifest in earlier.into_iter().rev() {
            let loaded = LoadedCheckpoint::load(self.store, manifest.clone())?;
            let preprocessor = loaded.preprocessor.clone();
            let store = self.store;
            let model = self.family.resume(&manifest, loaded, &mut |name| {
                store.load_part(&manifest, name).map_err(TrainError::from)
            })?;
            self.remember_predictor(&manifest.id, &model, &preprocessor);
        }
        Ok(())
    }

    /// The id of the run's initial model, found from `head` up its chain of retrained
    /// parents.
    fn initial_model_of(&self, head: &Manifest) -> Result<CheckpointId, TrainError> {
        let initial_id = match head.relation.is_root() {
            true => Some(head.id.clone()),
            false => head.parent.clone(),
        };
        let read = |id: &Option<CheckpointId>| -> Result<Option<Manifest>, TrainError> {
            match id {
                Some(id) => match self.store.manifest(id) {
                    Ok(m) => Ok(Some(m)),
                    Err(relearn_store::StoreError::UnknownRef { .. }) => Ok(None),
                    Err(e) => Err(e.into()),
                },
                None => Ok(None),
            }
        };
        let mut initial = read(&initial_id)?;
        // A shrink-and-perturb retraining's parent is the checkpoint it started from,
        // itself retrained: the initial model is up the chain (`gc` keeps every
        // retrained checkpoint's parent, transitively).
        while let Some(m) = initial
            .as_ref()
            .filter(|m| m.relation == Relation::Retrained && m.run == self.spec.name)
        {
            initial = read(&m.parent.clone())?;
        }
        match initial {
            Some(m) if m.relation.is_root() && m.run == self.spec.name => Ok(m.id),
            _ => Err(TrainError::BadCheckpoint {
                id: head.id.clone(),
                message: format!(
                    "run '{}' has no initial checkpoint in the store",
                    self.spec.name
                ),
            }),
        }
    }

    /// A resumed run started from `model.init` whose file changed since: a message that
    /// says so (the fingerprint records the file's sha256), instead of the general one.
    fn check_import_unchanged(&self) -> Result<(), TrainError> {
        let Some(init) = &self.spec.model.init else {
            return Ok(());
        };
        let chain = self.store.run_chain(&self.spec.name)?;
        let Some(imported) = chain.iter().find(|m| m.relation == Relation::Imported) else {
            return Ok(());
        };
        let stored = CheckpointExtra::of(imported)
            .ok()
            .and_then(|extra| extra.import)
            .map(|import| import.sha256);
        match stored {
            Some(sha) if sha != init.sha256 => Err(TrainError::Usage(format!(
                "`model.init` {} changed since run '{}' imported it (checkpoint {:.12}): its sha256 was {sha:.16}..., it is now {:.16}...; put the original file back to continue the run, or give the new model a new `run.name`",
                init.path.display(),
                self.spec.name,
                imported.id,
                init.sha256
            ))),
            _ => Ok(()),
        }
    }
}

/// Names the files behind window `w` (samples `span`) of a folder stream, whose rows are not
/// those its checkpoint trained on: a file it trained on that is gone, one that changed, or
/// files added or removed before it.
fn changed_files(
    trail: &crate::data_trail::DataTrail,
    recorded: &[String],
    w: usize,
    span: std::ops::Range<usize>,
) -> String {
    let now = trail.files_of(span);
    let gone: Vec<&String> = recorded
        .iter()
        .filter(|r| !trail.files().iter().any(|f| &f.name == *r))
        .collect();
    let list = |names: &[String]| relearn_data::quoted(names);
    if !gone.is_empty() {
        let gone: Vec<String> = gone.into_iter().cloned().collect();
        format!(
            "window {w} trained on rows of {}, and {} is no longer there (a file the run trained on must stay)",
            list(recorded),
            list(&gone)
        )
    } else if now == recorded {
        format!(
            "window {w} trained on rows of {}, which changed since (a file the run trained on must not be edited or rewritten; add new rows as new files)",
            list(recorded)
        )
    } else {
        format!(
            "window {w} trained on rows of {} and now reads {}: a file was added or removed before it (new files must sort after those already trained on)",
            list(recorded),
            list(&now)
        )
    }
}
