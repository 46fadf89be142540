//! `replay`: fine-tune the serving checkpoint on the new window plus a bounded reservoir of
//! past samples (`[policy.replay]`), stored with each checkpoint as its `replay` part. A
//! chain; what it keeps is the reservoir.

use rand::SeedableRng;
use rand::rngs::StdRng;
use relearn_data::{Batch, Window};
use relearn_store::{Manifest, Retained};

use super::{Context, History, Plan, PolicyState, Start, TrainingSet, UpdatePolicy, decode_part};
use crate::TrainError;
use crate::checkpoint::parts;
use crate::replay::Reservoir;
use relearn_spec::ReplaySpec;
use relearn_spec::seed::WindowSeeds;

/// The replay policy with its `[policy.replay]` settings.
#[derive(Debug, Clone)]
pub struct Replay {
    spec: ReplaySpec,
}

impl Replay {
    /// The policy with these settings.
    pub fn new(spec: &ReplaySpec) -> Replay {
        Replay { spec: spec.clone() }
    }
}

impl UpdatePolicy for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    /// A reservoir filled from the initial windows, in order.
    fn start(&self, history: &History, ctx: &Context) -> Box<dyn PolicyState> {
        let mut reservoir = Reservoir::new(
            self.spec.samples,
            ctx.n_features,
            ctx.n_categorical,
            self.spec.sampling,
        );
        let last_initial = ctx.initial_windows - 1;
        let mut rng = StdRng::seed_from_u64(WindowSeeds::new(ctx.seed, last_initial).reservoir);
        let samples = history.initial.len();
        for w in 0..ctx.initial_windows {
            let span = ctx.windowing.span(w);
            let range: Vec<usize> = (span.start..span.end.min(samples)).collect();
            reservoir.offer(&history.initial.select(&range), w, &mut rng);
        }
        Box::new(WithReservoir { reservoir })
    }

    fn resume(
        &self,
        head: &Manifest,
        part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Box<dyn PolicyState>, TrainError> {
        let reservoir = decode_part(head, parts::REPLAY, part, Reservoir::from_bytes)?;
        Ok(Box::new(WithReservoir { reservoir }))
    }

    /// The reservoir.
    fn retained(&self, _window: usize, state: &dyn PolicyState, _ctx: &Context) -> Retained {
        let kept = state.samples().expect("a replay state holds its reservoir");
        Retained {
            samples: kept.len() as u64,
            bytes: kept.bytes(),
        }
    }
}

/// The replay policy's state: its reservoir.
#[derive(Debug, Clone)]
pub struct WithReservoir {
    reservoir: Reservoir,
}

impl PolicyState for WithReservoir {
    /// The window, then the reservoir's samples.
    fn plan(
        &mut self,
        window: &Window,
        _losses: &dyn Fn() -> Vec<f64>,
        _history: &History,
        _ctx: &Context,
        _seeds: &WindowSeeds,
    ) -> Plan {
        let mut raw = window.batch.clone();
        raw.extend(self.reservoir.samples());
        let mut windows = self.reservoir.windows();
        windows.push(window.index as u64);
        windows.dedup();
        Plan {
            start: Start::Serving,
            set: TrainingSet { raw, windows },
            record: None,
        }
    }

    /// The reservoir is offered the window it just trained on.
    fn trained(&mut self, window: &Window, _ctx: &Context, seeds: &WindowSeeds) {
        let mut rng = StdRng::seed_from_u64(seeds.reservoir);
        self.reservoir.offer(&window.batch, window.index, &mut rng);
    }

    fn parts(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![(parts::REPLAY, self.reservoir.to_bytes())]
    }

    fn samples(&self) -> Option<&Batch> {
        Some(self.reservoir.samples())
    }
}
