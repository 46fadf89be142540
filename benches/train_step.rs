//! One training step of the MLP (forward, cross-entropy, backward, Adam) over a grid of
//! shapes, on each training path: `flex` (the fused trainer, the default on Flex),
//! `flex-autodiff` (Burn autodiff on Flex) and `ndarray` (Burn autodiff on NdArray).
//!
//! The model is the one `../shared/bench/torch_mlp.py` trains: `inputs` features, two hidden
//! layers of `hidden` units, ReLU, 2 classes, Adam (lr 1e-3), one batch of `batch` rows per
//! step. Prints one line per (path, hidden, batch):
//!
//! ```text
//! step path=flex hidden=64 batch=64 samples_per_s=... gflops=... us_per_step=...
//! ```
//!
//! Usage: `cargo bench --bench train_step -- [--hidden 32,64] [--batch 32,64]
//! [--paths flex,flex-autodiff,ndarray] [--inputs 32] [--min-time 1.0]`.

use std::time::{Duration, Instant};

use relearn_data::{Batch, Task};
use relearn_fit::optim::{AdamMoments, MlpAdam};
use relearn_fit::{FitPath, FitSettings, fit_with};
use relearn_model::{Backend, MlpConfig};

struct Args {
    hidden: Vec<usize>,
    batch: Vec<usize>,
    paths: Vec<String>,
    inputs: usize,
    min_time: Duration,
}

fn parse_args() -> Args {
    let mut args = Args {
        hidden: vec![32, 64, 128, 256, 512],
        batch: vec![32, 64, 128, 256, 512],
        paths: vec!["flex".into(), "flex-autodiff".into(), "ndarray".into()],
        inputs: 32,
        min_time: Duration::from_secs_f64(1.0),
    };
    let list = |v: &str| {
        v.split(',')
            .map(|x| x.trim().parse::<usize>().expect("a number"))
            .collect::<Vec<_>>()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hidden" => args.hidden = list(&it.next().expect("--hidden LIST")),
            "--batch" => args.batch = list(&it.next().expect("--batch LIST")),
            "--paths" => {
                args.paths = it
                    .next()
                    .expect("--paths LIST")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--inputs" => args.inputs = it.next().expect("--inputs N").parse().expect("a number"),
            "--min-time" => {
                args.min_time = Duration::from_secs_f64(
                    it.next().expect("--min-time S").parse().expect("seconds"),
                )
            }
            // `cargo bench` passes `--bench`; ignore it and anything else.
            _ => {}
        }
    }
    args
}

/// `rows` rows of uniform features in [-1, 1) and alternating labels, from a fixed LCG.
fn data(rows: usize, d: usize) -> Batch {
    let mut s = 0x2545_f491u32;
    let mut batch = Batch::with_capacity(d, rows);
    let mut row = vec![0.0f32; d];
    for i in 0..rows {
        for v in &mut row {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
        }
        batch.push(&row, (i % 2) as f32);
    }
    batch
}

fn main() {
    let args = parse_args();
    let d = args.inputs;
    for path_name in &args.paths {
        let (backend, path) = match path_name.as_str() {
            "flex" => (Backend::Flex, FitPath::Fused),
            "flex-autodiff" => (Backend::Flex, FitPath::Autodiff),
            "ndarray" => (Backend::Ndarray, FitPath::Autodiff),
            other => panic!("unknown path {other} (flex, flex-autodiff, ndarray)"),
        };
        for &hidden in &args.hidden {
            for &batch in &args.batch {
                let params = (d * hidden + hidden) + (hidden * hidden + hidden) + (hidden * 2 + 2);
                // Steps per fit call: enough that per-call set-up is noise (~50 ms of work).
                let flops_per_step = 6.0 * params as f64 * batch as f64;
                let steps = ((5e9 / flops_per_step) as usize).clamp(20, 2000);
                let train = data(batch * steps, d);
                let device = backend.device().autodiff();
                device.seed(0);
                let mut model = MlpConfig::new(d, vec![hidden, hidden], 2).init(&device);
                let mut optimizer = MlpAdam::new(0.0, AdamMoments::default());
                let settings = FitSettings {
                    epochs: 1,
                    batch_size: batch,
                    lr: 1e-3,
                    shuffle_seed: 0,
                    sparse_from: None,
                };
                let mut pass = |model| {
                    let task = Task::Classification;
                    fit_with(path, model, &mut optimizer, &train, task, settings, &device)
                        .expect("a benchmark pass does not diverge")
                        .0
                };
                // Warm-up: one pass (allocations, caches, worker threads).
                model = pass(model);
                let (mut done, started) = (0usize, Instant::now());
                while started.elapsed() < args.min_time || done == 0 {
                    model = pass(model);
                    done += steps;
                }
                let secs = started.elapsed().as_secs_f64();
                let samples = (done * batch) as f64;
                println!(
                    "step path={path_name} hidden={hidden} batch={batch} samples_per_s={:.0} gflops={:.2} us_per_step={:.1}",
                    samples / secs,
                    flops_per_step * done as f64 / secs / 1e9,
                    secs / done as f64 * 1e6
                );
            }
        }
    }
}
