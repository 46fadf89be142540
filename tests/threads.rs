//! The thread count is a speed setting only: a run gives the same checkpoint ids on one
//! thread as on several (products split over threads by output rows or columns, never along
//! the summed dimension; element-wise passes split by rows).

use crate::common::{Sandbox, stderr};

/// Large enough that every product and element-wise pass of the fused trainer is split over
/// the pool (hidden 256 x batch 256), with dropout (masks drawn on one thread).
const CONFIG: &str = r#"[run]
name = "threads"
mode = "stateful"
seed = 3

[data]
generator = "sea"
samples = 1536
drift_points = [768]

[window]
size = 512
initial = 1

[model]
hidden = [256, 256]
dropout = 0.1

[train]
epochs = 2
batch_size = 256
"#;

fn final_ref(threads: &str) -> String {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", CONFIG);
    let out = sb
        .command(&["run", "--config", cfg.to_str().unwrap()])
        .env("RELEARN_THREADS", threads)
        .output()
        .expect("run relearn");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read_to_string(sb.store().join("refs/runs/threads")).expect("the run's ref")
}

#[test]
fn thread_count_never_changes_an_id() {
    let one = final_ref("1");
    for threads in ["2", "3"] {
        assert_eq!(one, final_ref(threads), "RELEARN_THREADS={threads}");
    }
}
