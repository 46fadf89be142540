//! Resume: a run interrupted by `--windows` continues to the same ids; a changed config is
//! refused.

use crate::common::{Sandbox, assert_fails, sea_config};

fn final_id(sb: &Sandbox, run: &str) -> String {
    sb.log(run).last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn resumed_run_reaches_the_same_final_id() {
    for mode in ["stateful", "stateless"] {
        let (whole, parts) = (Sandbox::new(), Sandbox::new());
        let text = sea_config("r", mode, "");
        let cfg = whole.write("c.toml", &text);
        whole.ok(&["run", "--config", cfg.to_str().unwrap()]);

        let cfg = parts.write("c.toml", &text);
        parts.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
        assert_eq!(parts.log("r").len(), 3);
        let out = parts.ok(&["run", "--config", cfg.to_str().unwrap()]);
        assert!(out.contains("resuming run 'r' after window 2"), "{out}");
        assert_eq!(final_id(&whole, "r"), final_id(&parts, "r"), "{mode}");
        let again = parts.ok(&["run", "--config", cfg.to_str().unwrap()]);
        assert!(again.contains("up to date"), "{again}");
    }
}

#[test]
fn changed_config_is_refused_and_store_unchanged() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("fp", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "2"]);
    let before = sb.snapshot();
    let cfg = sb.write("c.toml", &sea_config("fp", "stateful", "lr = 0.01\n"));
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "different config");
    assert_eq!(before, sb.snapshot());
}

#[test]
fn stateless_resume_without_its_initial_model_is_refused() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("s", "stateless", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    let log = sb.log("s");
    let initial = log[0]["id"].as_str().unwrap();
    assert_eq!(log[0]["relation"], "initial");
    std::fs::remove_file(sb.store().join(format!("manifests/{initial}.json"))).unwrap();
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 1, "run 's' has no initial checkpoint in the store");
    assert_eq!(sb.log("s").len(), 2, "nothing new was committed");
}
