//! Two writers: a second `run` of a run that is being written is refused at once (exit 1);
//! runs with different names share one store in parallel.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Sandbox, sea_config, stderr};

/// A SEA run of `windows` windows of 250 samples (long enough to be caught running).
fn long_config(name: &str, mode: &str, windows: usize) -> String {
    sea_config(name, mode, "").replace("samples = 2000", &format!("samples = {}", windows * 250))
}

fn spawn_run(sb: &Sandbox, config: &Path) -> Child {
    sb.command(&["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn relearn")
}

fn finish(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{what} failed: {}", stderr(&out));
    out
}

/// Waits until `path` exists (the run has committed a checkpoint, so it holds its lock).
fn wait_for(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first run ended before committing anything"
        );
        assert!(Instant::now() < deadline, "no checkpoint after 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_writer_of_a_running_run_is_refused_at_once() {
    let sb = Sandbox::new();
    let cfg = sb.write("busy.toml", &long_config("busy", "stateful", 120));
    let mut first = spawn_run(&sb, &cfg);
    wait_for(&sb.store().join("refs/runs/busy"), &mut first);

    let started = Instant::now();
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("run 'busy' is being written by another relearn process"),
        "{err}"
    );
    assert!(err.contains("wait for it to finish"), "{err}");
    assert!(err.contains("busy.lock"), "{err}");
    // "At once": refused while the first is still running, not after waiting for it.
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run ended before the second was refused"
    );
    eprintln!("second writer refused after {took:?}");

    // So is a second writer in the other mode: the lock is per run, not per mode.
    let out = sb.relearn(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--mode",
        "stateless",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run ended too soon for this test"
    );

    let out = finish(first, "the first run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("window"))
            .count(),
        120
    );
    sb.ok(&["verify"]);
    assert_eq!(sb.log("busy").len(), 120);
}

#[test]
fn two_writers_started_together_one_wins() {
    let sb = Sandbox::new();
    let cfg = sb.write("race.toml", &long_config("race", "stateful", 60));
    let a = spawn_run(&sb, &cfg);
    let b = spawn_run(&sb, &cfg);
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let refused: Vec<&Output> = outs.iter().filter(|o| o.status.code() == Some(1)).collect();
    assert!(
        codes.contains(&Some(0)) && refused.len() == 1,
        "exit codes {codes:?}"
    );
    assert!(
        stderr(refused[0]).contains("being written by another relearn process"),
        "{}",
        stderr(refused[0])
    );
    sb.ok(&["verify"]);
    assert_eq!(sb.log("race").len(), 60);
}

#[test]
fn runs_with_different_names_write_one_store_in_parallel() {
    let windows = 40;
    let runs = [("left", "stateful"), ("right", "stateless")];
    let shared = Sandbox::new();
    let children: Vec<Child> = runs
        .iter()
        .map(|(name, mode)| {
            let cfg = shared.write(&format!("{name}.toml"), &long_config(name, mode, windows));
            spawn_run(&shared, &cfg)
        })
        .collect();
    for (child, (name, _)) in children.into_iter().zip(runs) {
        finish(child, name);
    }
    shared.ok(&["verify"]);

    let logs: Vec<_> = runs.iter().map(|(name, _)| shared.log(name)).collect();
    for (log, (name, _)) in logs.iter().zip(runs) {
        assert_eq!(log.len(), windows, "{name}");
    }
    // They did run at the same time: each committed while the other was committing.
    let span = |log: &[serde_json::Value]| {
        let times: Vec<&str> = log
            .iter()
            .map(|m| m["created_at"].as_str().unwrap())
            .collect();
        (
            times.iter().min().unwrap().to_string(),
            times.iter().max().unwrap().to_string(),
        )
    };
    let (a, b) = (span(&logs[0]), span(&logs[1]));
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "the runs did not overlap: {a:?} vs {b:?}"
    );

    // And each ends where it ends alone in a store of its own.
    for (name, mode) in runs {
        let alone = Sandbox::new();
        let cfg = alone.write("c.toml", &long_config(name, mode, windows));
        alone.ok(&["run", "--config", cfg.to_str().unwrap()]);
        assert_eq!(shared.head(name), alone.head(name), "{name}");
    }
}
