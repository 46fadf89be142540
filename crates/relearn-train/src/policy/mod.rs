//! Update policies: for each new window, what the update trains on, from which weights, and
//! what state the policy carries to the next window (and into the checkpoint).
//!
//! The run loop ([`crate::runner`]) is written once: it scores the serving model, asks the
//! serving checkpoint's [`PolicyState`] for a [`Plan`], trains what the plan says, and commits
//! the candidate with the parts and records its state gives. Each policy lives in a file of
//! its own behind [`UpdatePolicy`]:
//!
//! | policy | file | starts from | trains on | keeps |
//! | --- | --- | --- | --- | --- |
//! | `stateless` | [`stateless`] | fresh weights | a sample of the initial windows + the recent windows | the initial and recent windows |
//! | `stateful` | [`stateful`] | the serving weights and Adam state | the new window | nothing |
//! | `replay` | [`replay`] | the serving weights | the new window + a reservoir of past samples | the reservoir (part `replay`) |
//! | `drift` | [`drift`] | the serving weights, or fresh ones when its detector fires | the new window, or the recent windows since the change | the detector (part `detector`) and the recent windows |
//!
//! A new policy is one more file here with its `UpdatePolicy` and `PolicyState` impls, a
//! line in [`for_spec`] and a `Mode` variant for its config name; the loop does not change.

pub mod drift;
pub mod replay;
pub mod stateful;
pub mod stateless;

use std::collections::VecDeque;
use std::fmt;

use relearn_data::{Batch, Window, Windowing};
use relearn_store::{Manifest, Relation, Retained};

use crate::TrainError;
use relearn_spec::seed::WindowSeeds;
use relearn_spec::{Mode, RunSpec};

/// A policy of one run: its settings and the questions the loop asks of it before any state
/// exists (what to keep of the stream, how to start, how to resume).
pub trait UpdatePolicy: fmt::Debug + Send + Sync {
    /// The name a checkpoint records as its `mode` (the config's `run.mode`).
    fn name(&self) -> &'static str;

    /// Whether updates continue the serving checkpoint's weights (and, with
    /// `stateful.carry_optimizer`, its Adam moments), so a resume loads them (all policies
    /// but stateless).
    fn fine_tunes(&self) -> bool {
        true
    }

    /// How many of the most recent post-initial windows the loop keeps for [`Plan`]s
    /// (0, the default: none).
    fn recent_windows(&self) -> usize {
        0
    }

    /// Whether the loop keeps the initial windows' samples after the initial model (the
    /// stateless policy samples them again at every update).
    fn keeps_initial_data(&self) -> bool {
        false
    }

    /// Whether resuming needs the run's initial checkpoint (the parent of every update).
    fn needs_initial_model(&self) -> bool {
        false
    }

    /// The state that goes with the initial model, trained on `history.initial`.
    fn start(&self, history: &History, ctx: &Context) -> Box<dyn PolicyState>;

    /// The state stored with checkpoint `head`: `part(name)` reads one of its parts (an
    /// error names the part the checkpoint lacks).
    fn resume(
        &self,
        head: &Manifest,
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Box<dyn PolicyState>, TrainError>;

    /// The past data the run keeps after committing a checkpoint of `window` with `state`.
    fn retained(&self, window: usize, state: &dyn PolicyState, ctx: &Context) -> Retained;
}

/// The state a policy carries from one checkpoint to the next. Each update works on a copy
/// ([`CloneState::clone_state`], which every `Clone` state has), so a candidate that is
/// rejected or fails leaves the serving checkpoint's state as it was.
pub trait PolicyState: fmt::Debug + Send + CloneState {
    /// What the update of `window` trains, given the serving model's per-sample losses on it
    /// (`losses()` computes them; only a policy that watches them pays for them).
    /// `seeds` are the window's (a policy that samples draws from its own seed).
    fn plan(
        &mut self,
        window: &Window,
        losses: &dyn Fn() -> Vec<f64>,
        history: &History,
        ctx: &Context,
        seeds: &WindowSeeds,
    ) -> Plan;

    /// Called once the update of `window` has trained (the reservoir takes its samples).
    fn trained(&mut self, _window: &Window, _ctx: &Context, _seeds: &WindowSeeds) {}

    /// The parts stored with the checkpoint, by name (see [`crate::checkpoint::parts`]).
    fn parts(&self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }

    /// The past samples this state holds (the replay reservoir), for `retained`.
    fn samples(&self) -> Option<&Batch> {
        None
    }
}

/// A boxed copy of a [`PolicyState`]; implemented for every state that is `Clone`.
pub trait CloneState {
    /// A copy for a candidate.
    fn clone_state(&self) -> Box<dyn PolicyState>;
}

impl<T: PolicyState + Clone + 'static> CloneState for T {
    fn clone_state(&self) -> Box<dyn PolicyState> {
        Box::new(self.clone())
    }
}

/// How a window's update trains.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Which weights it starts from.
    pub start: Start,
    /// The samples (unscaled) and the windows they come from (`trained_on.windows`).
    pub set: TrainingSet,
    /// What the checkpoint records under `extra.<key>` (e.g. the drift detector's statistic).
    pub record: Option<PolicyRecord>,
}

/// A record a policy keeps in its checkpoints' `extra`, under its own key: a typed value
/// (e.g. the drift policy's [`drift::DriftRecord`]) as the manifest stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    /// The key under `extra`.
    pub key: &'static str,
    /// The record, as JSON.
    pub value: serde_json::Value,
}

impl PolicyRecord {
    /// `record` under `extra.<key>`.
    pub fn new(key: &'static str, record: &impl serde::Serialize) -> PolicyRecord {
        PolicyRecord {
            key,
            value: serde_json::to_value(record).expect("a policy record serialises"),
        }
    }
}

/// Where an update's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The serving checkpoint's weights, Adam moments and preprocessing (whose scaler then
    /// takes the new window): `relation = "fine-tuned"`, the parent is the serving
    /// checkpoint.
    Serving,
    /// Fresh weights seeded by (seed, window) and preprocessing fitted on the training set,
    /// with this relation; the parent is the initial model for `Retrained`, the serving
    /// checkpoint otherwise.
    Fresh(Relation),
}

/// An update's training set.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The samples, unscaled.
    pub raw: Batch,
    /// The windows they come from.
    pub windows: Vec<u64>,
}

/// The part of the stream the loop keeps for its policy.
#[derive(Debug, Clone)]
pub struct History {
    /// The initial windows' samples: while the initial model trains, and afterwards when
    /// [`UpdatePolicy::keeps_initial_data`].
    pub initial: Batch,
    /// The most recent post-initial windows, the current one last
    /// ([`UpdatePolicy::recent_windows`] of them).
    pub recent: VecDeque<Window>,
}

/// Facts of the run a policy needs.
#[derive(Debug, Clone)]
pub struct Context {
    /// `run.seed`.
    pub seed: u64,
    /// How the stream is cut into windows.
    pub windowing: Windowing,
    /// `window.initial`.
    pub initial_windows: usize,
    /// Numeric features per sample.
    pub n_features: usize,
    /// Categorical cells per sample.
    pub n_categorical: usize,
}

impl Context {
    /// What the samples of `windows` (window indices) take, as `retained`.
    pub fn windows_retained(&self, windows: impl IntoIterator<Item = usize>) -> Retained {
        let samples: usize = windows
            .into_iter()
            .map(|w| self.windowing.span(w).len())
            .sum();
        Retained {
            samples: samples as u64,
            bytes: (samples * 4 * (self.n_features + 1 + self.n_categorical)) as u64,
        }
    }

    /// An empty raw batch of the stream's shape.
    pub fn empty_batch(&self) -> Batch {
        Batch::mixed(self.n_features, self.n_categorical)
    }
}

/// The policy `spec.mode` names, with its settings.
pub fn for_spec(spec: &RunSpec) -> Box<dyn UpdatePolicy> {
    match spec.mode {
        Mode::Stateless => Box::new(stateless::Stateless::new(&spec.stateless)),
        Mode::Stateful => Box::new(stateful::Stateful),
        Mode::Replay => Box::new(replay::Replay::new(&spec.replay)),
        Mode::Drift => Box::new(drift::Drift::new(&spec.drift)),
    }
}

/// The window alone, as a training set.
pub(crate) fn window_alone(window: &Window) -> TrainingSet {
    TrainingSet {
        raw: window.batch.clone(),
        windows: vec![window.index as u64],
    }
}

/// Reads part `name` through `part` and decodes it, naming the checkpoint on failure.
pub(crate) fn decode_part<T>(
    head: &Manifest,
    name: &str,
    part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    decode: impl FnOnce(&[u8]) -> Result<T, crate::PartError>,
) -> Result<T, TrainError> {
    let bytes = part(name)?;
    decode(&bytes).map_err(|source| TrainError::BadPart {
        id: head.id.clone(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    //! A policy defined here, outside the loop, runs through it unchanged.

    use std::path::Path;

    use relearn_store::Store;

    use super::*;
    use crate::runner::{RunOptions, run_with};

    /// Retrains fresh weights on the new window alone (a policy relearn does not ship).
    #[derive(Debug)]
    struct WindowOnly;

    impl UpdatePolicy for WindowOnly {
        fn name(&self) -> &'static str {
            "window-only"
        }
        fn fine_tunes(&self) -> bool {
            false
        }
        fn start(&self, _history: &History, _ctx: &Context) -> Box<dyn PolicyState> {
            Box::new(Counting { updates: 0 })
        }
        fn resume(
            &self,
            head: &Manifest,
            part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
        ) -> Result<Box<dyn PolicyState>, TrainError> {
            let updates = decode_part(head, "counter", part, |b| {
                let bytes = b.try_into().map_err(|_| crate::PartError::Malformed {
                    part: "counter",
                    reason: "not 8 bytes".into(),
                })?;
                Ok(u64::from_le_bytes(bytes))
            })?;
            Ok(Box::new(Counting { updates }))
        }
        fn retained(&self, _window: usize, _state: &dyn PolicyState, _ctx: &Context) -> Retained {
            Retained::default()
        }
    }

    /// Its state: how many updates it made (stored as a part, to show resuming works).
    #[derive(Debug, Clone)]
    struct Counting {
        updates: u64,
    }

    impl PolicyState for Counting {
        fn plan(
            &mut self,
            window: &Window,
            _losses: &dyn Fn() -> Vec<f64>,
            _history: &History,
            _ctx: &Context,
            _seeds: &WindowSeeds,
        ) -> Plan {
            self.updates += 1;
            Plan {
                start: Start::Fresh(Relation::Reset),
                set: window_alone(window),
                record: Some(PolicyRecord::new("updates", &self.updates)),
            }
        }
        fn parts(&self) -> Vec<(&'static str, Vec<u8>)> {
            vec![("counter", self.updates.to_le_bytes().to_vec())]
        }
    }

    #[test]
    fn a_policy_of_its_own_runs_resumes_and_records_through_the_unchanged_loop() {
        let text = "[run]\nname = \"w\"\n[data]\ngenerator = \"sea\"\nsamples = 1500\n\
                    [window]\nsize = 250\n[model]\nhidden = [8]\n[train]\nepochs = 1\n";
        let spec = RunSpec::from_toml(text, Path::new("w.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_for_write(dir.path()).unwrap();
        let go = |windows: Option<usize>| {
            let options = RunOptions {
                max_windows: windows,
            };
            run_with(&spec, &store, &options, Box::new(WindowOnly), &mut |_| {}).unwrap()
        };
        assert_eq!(go(Some(3)).committed, 3);
        assert_eq!(go(None).committed, 3, "resumed after window 2");
        let chain = store.run_chain("w").unwrap();
        assert_eq!(chain.len(), 6);
        for (t, m) in chain.iter().enumerate().skip(1) {
            assert_eq!(m.mode, "window-only");
            assert_eq!(m.relation, Relation::Reset);
            assert_eq!(m.parent.as_ref(), Some(&chain[t - 1].id));
            assert_eq!(m.trained_on.windows, vec![t as u64]);
            assert_eq!(
                m.extra["updates"],
                serde_json::json!(t),
                "the count survives resume"
            );
            assert!(m.parts.contains_key("counter") && !m.parts.contains_key("optimizer"));
        }
    }
}
