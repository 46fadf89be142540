//! `stateless`: retrain fresh weights at every window on a sample of the initial windows
//! plus the most recent windows (the book's stateless retraining). Keeps the initial and
//! recent windows; every update's parent is the initial model (a star).

use rand::SeedableRng;
use rand::rngs::StdRng;
use relearn_data::Window;
use relearn_store::{Manifest, Relation, Retained};

use super::{Context, History, Plan, PolicyState, Start, TrainingSet, UpdatePolicy};
use crate::TrainError;
use relearn_spec::StatelessSpec;
use relearn_spec::seed::WindowSeeds;

/// The stateless policy with its `[stateless]` settings.
#[derive(Debug, Clone)]
pub struct Stateless {
    spec: StatelessSpec,
}

impl Stateless {
    /// The policy with these settings.
    pub fn new(spec: &StatelessSpec) -> Stateless {
        Stateless { spec: spec.clone() }
    }
}

impl UpdatePolicy for Stateless {
    fn name(&self) -> &'static str {
        "stateless"
    }

    fn fine_tunes(&self) -> bool {
        false
    }

    fn recent_windows(&self) -> usize {
        self.spec.recent_windows
    }

    fn keeps_initial_data(&self) -> bool {
        true
    }

    fn needs_initial_model(&self) -> bool {
        true
    }

    fn start(&self, _history: &History, _ctx: &Context) -> Box<dyn PolicyState> {
        Box::new(Retrain {
            initial_fraction: self.spec.initial_fraction,
        })
    }

    fn resume(
        &self,
        _head: &Manifest,
        _part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Box<dyn PolicyState>, TrainError> {
        Ok(Box::new(Retrain {
            initial_fraction: self.spec.initial_fraction,
        }))
    }

    /// The initial windows plus the recent windows the next update reuses.
    fn retained(&self, window: usize, _state: &dyn PolicyState, ctx: &Context) -> Retained {
        let first_reused = (window + 2)
            .saturating_sub(self.spec.recent_windows)
            .max(ctx.initial_windows);
        ctx.windows_retained((0..ctx.initial_windows).chain(first_reused..window + 1))
    }
}

/// The stateless policy's state: only its setting (the data it needs is the loop's
/// [`History`]).
#[derive(Debug, Clone, Copy)]
pub struct Retrain {
    initial_fraction: f64,
}

impl PolicyState for Retrain {
    /// The last `recent_windows` post-initial windows, plus a sample of initial data sized
    /// so that it makes up `initial_fraction` of the whole.
    fn plan(
        &mut self,
        _window: &Window,
        _losses: &dyn Fn() -> Vec<f64>,
        history: &History,
        ctx: &Context,
        seeds: &WindowSeeds,
    ) -> Plan {
        let mut recent = ctx.empty_batch();
        let mut windows: Vec<u64> = Vec::new();
        for w in &history.recent {
            recent.extend(&w.batch);
            windows.push(w.index as u64);
        }
        let f = self.initial_fraction;
        let wanted = ((f / (1.0 - f)) * recent.len() as f64).round() as usize;
        let take = wanted.min(history.initial.len());
        let mut raw = ctx.empty_batch();
        if take > 0 {
            let mut rng = StdRng::seed_from_u64(seeds.initial_sample);
            let mut picked =
                rand::seq::index::sample(&mut rng, history.initial.len(), take).into_vec();
            picked.sort_unstable();
            raw = history.initial.select(&picked);
            windows.splice(0..0, 0..ctx.initial_windows as u64);
        }
        raw.extend(&recent);
        Plan {
            start: Start::Fresh(Relation::Retrained),
            set: TrainingSet { raw, windows },
            record: None,
        }
    }
}
