//! Hot swap: a thread that polls the refs the server follows (the run's serving ref, and
//! the shadow's REF) and, when one moves, loads and verifies the new checkpoint off the
//! request path, then swaps it in atomically. Requests that started on the old model finish
//! on it; the old one is freed when the last of them is done. A checkpoint that fails to
//! load or verify is never served: the old one stays, the failure is logged and counted, and
//! the same id is not retried until the ref moves again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use relearn_store::Store;

use crate::metrics::Metrics;
use crate::model::ServedModel;

/// A ref the server follows, and what it last found there.
pub struct Followed {
    /// The model being served from the ref.
    pub model: ArcSwap<ServedModel>,
    /// How the ref is named: a run (its serving ref) or any REF.
    pub target: Target,
    /// The last id that failed to load (not retried until the ref moves elsewhere).
    failed: std::sync::Mutex<Option<String>>,
}

/// What a followed ref names.
#[derive(Debug, Clone)]
pub enum Target {
    /// A run's serving ref (`refs/runs/<run>`).
    Run(String),
    /// Any REF `relearn` resolves (run, tag, id, `NAME~K`...).
    Reference(String),
}

impl Target {
    /// The checkpoint id the ref names now.
    pub fn resolve(&self, store: &Store) -> Result<Option<String>, relearn_store::StoreError> {
        match self {
            Target::Run(run) => Ok(store.run_head(run)?.map(|id| id.to_string())),
            Target::Reference(r) => Ok(Some(store.resolve(r)?.to_string())),
        }
    }

    /// The ref as messages name it.
    pub fn name(&self) -> String {
        match self {
            Target::Run(run) => format!("run \"{run}\""),
            Target::Reference(r) => format!("\"{r}\""),
        }
    }
}

impl Followed {
    /// Follows `target`, serving `model` for now.
    pub fn new(target: Target, model: ServedModel) -> Followed {
        Followed {
            model: ArcSwap::from_pointee(model),
            target,
            failed: std::sync::Mutex::new(None),
        }
    }

    /// Looks at the ref once: loads and swaps in a new checkpoint if it moved. Returns the
    /// new id, and how long loading and verifying it took, when the served model changed.
    pub fn refresh(
        &self,
        store: &Store,
        id_column: Option<&str>,
    ) -> Result<Option<(String, Duration)>, String> {
        let id = match self.target.resolve(store) {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Err(format!(
                    "{} has no checkpoint now; still serving the last one",
                    self.target.name()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {e}; still serving the last one",
                    self.target.name()
                ));
            }
        };
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if id == self.model.load().id {
            // Back on the served checkpoint: a failed one is tried again if the ref returns.
            *failed = None;
            return Ok(None);
        }
        if failed.as_deref() == Some(id.as_str()) {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        match ServedModel::load(store, &id, id_column) {
            Ok(model) => {
                let took = started.elapsed();
                self.model.store(Arc::new(model));
                *failed = None;
                Ok(Some((id, took)))
            }
            Err(e) => {
                *failed = Some(id.clone());
                Err(format!(
                    "{} moved to {id:.12}, which cannot be served: {e}; still serving {:.12}",
                    self.target.name(),
                    self.model.load().id
                ))
            }
        }
    }
}

/// The polling thread's work: the refs it follows and where it reports.
pub struct Watcher {
    /// The store.
    pub store: Store,
    /// The run (the metrics label the served model with it).
    pub run: String,
    /// The id column, for the models it loads.
    pub id_column: Option<String>,
    /// The run's serving ref first, then the shadow's, if any.
    pub followed: Vec<Arc<Followed>>,
    /// Where swaps and failures are counted.
    pub metrics: Metrics,
    /// Set when the server stops.
    pub stopping: Arc<AtomicBool>,
    /// How often the refs are looked at.
    pub interval: Duration,
}

impl Watcher {
    /// Polls every `interval` until the server stops.
    pub fn run(self) {
        let mut warned: Vec<Option<String>> = vec![None; self.followed.len()];
        while !self.stopping.load(Ordering::Relaxed) {
            std::thread::sleep(self.interval);
            for (i, f) in self.followed.iter().enumerate() {
                let old = f.model.load().id.clone();
                match f.refresh(&self.store, self.id_column.as_deref()) {
                    Ok(Some((new, took))) => {
                        warned[i] = None;
                        if i == 0 {
                            self.metrics.serving(&self.run, Some(&old), &new);
                        }
                        tracing::info!(
                            "{} moved: now serving {new:.12} (was {old:.12}; loaded and verified in {:.1} ms)",
                            f.target.name(),
                            took.as_secs_f64() * 1e3
                        );
                    }
                    Ok(None) => {}
                    // Each distinct failure is logged and counted once.
                    Err(message) if warned[i].as_deref() != Some(message.as_str()) => {
                        tracing::error!("{message}");
                        self.metrics.swap_failed();
                        warned[i] = Some(message);
                    }
                    Err(_) => {}
                }
            }
        }
    }
}
