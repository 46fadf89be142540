//! `stateful`: fine-tune the serving checkpoint on the new window alone (the book's stateful
//! training). Keeps no data; the checkpoints form a chain.

use relearn_data::Window;
use relearn_store::{Manifest, Retained};

use super::{Context, History, Plan, PolicyState, Start, UpdatePolicy, window_alone};
use crate::TrainError;
use relearn_spec::seed::WindowSeeds;

/// The stateful policy (it has no settings of its own: `[stateful]` is the fine-tuning's).
#[derive(Debug, Clone, Copy)]
pub struct Stateful;

impl UpdatePolicy for Stateful {
    fn name(&self) -> &'static str {
        "stateful"
    }

    fn start(&self, _history: &History, _ctx: &Context) -> Box<dyn PolicyState> {
        Box::new(FineTuneOnWindow)
    }

    fn resume(
        &self,
        _head: &Manifest,
        _part: &mut dyn FnMut(&str) -> Result<Vec<u8>, TrainError>,
    ) -> Result<Box<dyn PolicyState>, TrainError> {
        Ok(Box::new(FineTuneOnWindow))
    }

    fn retained(&self, _window: usize, _state: &dyn PolicyState, _ctx: &Context) -> Retained {
        Retained::default()
    }
}

/// The stateful policy's (empty) state: every update fine-tunes on the window.
#[derive(Debug, Clone, Copy)]
pub struct FineTuneOnWindow;

impl PolicyState for FineTuneOnWindow {
    fn plan(
        &mut self,
        window: &Window,
        _losses: &dyn Fn() -> Vec<f64>,
        _history: &History,
        _ctx: &Context,
        _seeds: &WindowSeeds,
    ) -> Plan {
        Plan {
            start: Start::Serving,
            set: window_alone(window),
            record: None,
        }
    }
}
