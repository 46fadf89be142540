//! A tiny persistent thread pool for splitting one matrix product (or one optimizer pass)
//! over the machine's cores.
//!
//! Spawning threads per call costs tens of microseconds, more than a whole training step of
//! a small MLP, so the workers live for the process and wait for work spinning briefly, then
//! parked. Work is handed over as "run `f(0..tasks)`"; the caller runs tasks too and returns
//! once every task has finished. Which task computes what never depends on which thread runs
//! it, so results are the same whatever the scheduling.
//!
//! The thread count is `RELEARN_THREADS` when set (>= 1), else the available parallelism.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A job: `tasks` calls of a borrowed closure, claimed through `next`.
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: std::sync::atomic::AtomicBool,
}

// SAFETY: `f` points to a `Sync` closure that the submitting thread keeps alive until `done`
// reaches `tasks`; a worker dereferences it only after claiming a task index below `tasks`,
// which implies the submitter is still waiting.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

struct Shared {
    generation: AtomicU64,
    job: Mutex<Option<Arc<Job>>>,
    wake: Condvar,
}

struct Pool {
    shared: Arc<Shared>,
    threads: usize,
    /// One job at a time.
    submit: Mutex<()>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

thread_local! {
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Threads that [`run`] spreads work over (the caller included).
pub(crate) fn threads() -> usize {
    pool().threads
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let threads = std::env::var("RELEARN_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
            .min(64);
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            job: Mutex::new(None),
            wake: Condvar::new(),
        });
        for i in 1..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("relearn-worker-{i}"))
                .spawn(move || worker(&shared))
                .expect("spawn a relearn worker thread");
        }
        Pool {
            shared,
            threads,
            submit: Mutex::new(()),
        }
    })
}

/// How long an idle worker spins before it parks.
const SPIN: Duration = Duration::from_micros(200);

fn worker(shared: &Shared) {
    IS_WORKER.with(|w| w.set(true));
    let mut seen = 0u64;
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.generation.load(Ordering::Acquire) == seen {
            spins += 1;
            if spins.is_multiple_of(64) && started.elapsed() > SPIN {
                let mut guard = shared.job.lock().expect("pool lock");
                while shared.generation.load(Ordering::Acquire) == seen {
                    guard = shared.wake.wait(guard).expect("pool lock");
                }
                break;
            }
            std::hint::spin_loop();
        }
        let job = {
            let guard = shared.job.lock().expect("pool lock");
            seen = shared.generation.load(Ordering::Acquire);
            guard.clone()
        };
        if let Some(job) = job {
            work(&job);
        }
    }
}

fn work(job: &Job) {
    loop {
        let i = job.next.fetch_add(1, Ordering::AcqRel);
        if i >= job.tasks {
            return;
        }
        // SAFETY: see `Job`: task `i` is unfinished, so the submitter is still waiting.
        let f = unsafe { &*job.f };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
            job.panicked.store(true, Ordering::Release);
        }
        job.done.fetch_add(1, Ordering::AcqRel);
    }
}

/// Runs `f(0)`, ..., `f(tasks - 1)`, spread over the pool; returns when all have run.
/// Runs them in order on the calling thread when the pool has one thread, when there is one
/// task, or when called from inside a task.
pub(crate) fn run(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let pool = pool();
    if tasks <= 1 || pool.threads <= 1 || IS_WORKER.with(|w| w.get()) {
        (0..tasks).for_each(f);
        return;
    }
    let Ok(_one_at_a_time) = pool.submit.try_lock() else {
        // Another thread is using the pool: do the work here rather than wait for it.
        (0..tasks).for_each(f);
        return;
    };
    // SAFETY: erases the closure's lifetime; this function does not return before every
    // task has finished, and workers touch `f` only while a task is unfinished.
    let f: *const (dyn Fn(usize) + Sync + '_) = f;
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let job = Arc::new(Job {
        f,
        tasks,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: std::sync::atomic::AtomicBool::new(false),
    });
    {
        let mut guard = pool.shared.job.lock().expect("pool lock");
        *guard = Some(Arc::clone(&job));
        pool.shared.generation.fetch_add(1, Ordering::AcqRel);
        pool.shared.wake.notify_all();
    }
    work(&job);
    let mut spins = 0u32;
    while job.done.load(Ordering::Acquire) < tasks {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    assert!(
        !job.panicked.load(Ordering::Acquire),
        "a parallel task panicked"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        for tasks in [0usize, 1, 2, 3, 17] {
            let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            run(tasks, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{tasks} tasks"
            );
        }
    }
}
