//! What a hostile but realistic user found (issue 16), each case a test: tags the gate must not
//! move, data rewritten under a run, ids that must not depend on how a path is spelled, names
//! that would shadow each other, models too large to allocate, damaged stores, divergence
//! messages and manifest edits that `verify` must notice.

use std::path::Path;

use serde_json::Value;

use crate::common::{Sandbox, assert_fails, command, ids, relearn, sea_config, stderr};

/// A labelled CSV of `rows` rows: three features from a fixed recurrence, label 1 iff
/// `x0 + x1 > 1`; `edit(row, fields)` may change a row's fields before it is written.
fn csv_text(rows: usize, edit: impl Fn(usize, &mut Vec<String>)) -> String {
    let mut state: u64 = 12345;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    let mut text = String::from("x0,x1,x2,label\n");
    for row in 0..rows {
        let (a, b, c) = (next(), next(), next());
        let mut fields = vec![
            format!("{a:.4}"),
            format!("{b:.4}"),
            format!("{c:.4}"),
            u8::from(a + b > 1.0).to_string(),
        ];
        edit(row, &mut fields);
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

/// A CSV run over `data.csv` beside the config: windows of 100 rows, one initial window.
fn csv_config(name: &str, mode: &str, extra: &str) -> String {
    format!(
        "[run]\nname = \"{name}\"\nmode = \"{mode}\"\nseed = 3\n\n[data]\ncsv = \"data.csv\"\ntarget = \"label\"\n\n\
         [window]\nsize = 100\ninitial = 1\n\n[model]\nhidden = [8]\n\n[train]\nepochs = 2\n{extra}"
    )
}

/// Asserts that a store's files are as they were (comparing lists of (path, bytes) without
/// printing megabytes when they differ).
#[track_caller]
fn assert_unchanged(before: &[(std::path::PathBuf, Vec<u8>)], sb: &Sandbox, what: &str) {
    let after = sb.snapshot();
    let paths =
        |s: &[(std::path::PathBuf, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        paths(before),
        paths(&after),
        "{what}: the store's files changed"
    );
    assert!(
        before == after.as_slice(),
        "{what}: a file of the store changed"
    );
}

fn run_args(cfg: &Path) -> Vec<String> {
    vec!["run".into(), "--config".into(), cfg.display().to_string()]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_gate_never_moves_a_tag_a_user_made() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("q", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "3"]);
    let target = sb.ok(&["show", "q@1", "--json"]);
    let target: Value = serde_json::from_str(&target).unwrap();
    let target = target["id"].as_str().unwrap().to_string();

    // The names the gate writes are reserved.
    for name in ["rejected", "q.rejected.3"] {
        let before = sb.snapshot();
        assert_fails(&sb.relearn(&["tag", "q@1", name]), 2, "reserved");
        assert_unchanged(&before, &sb, "");
    }

    // A store whose user made such a tag before the names were reserved: the gate refuses to
    // move it, commits nothing, and gc keeps what the tag protects.
    let tags = sb.store().join("refs/tags");
    std::fs::create_dir_all(&tags).unwrap();
    std::fs::write(tags.join("rejected"), format!("{target}\n")).unwrap();
    let before = sb.snapshot();
    let out = sb.relearn(&[
        "run",
        "--config",
        cfg,
        "--windows",
        "6",
        "--gate",
        "accuracy>=0.999",
    ]);
    assert_fails(&out, 2, "was made by hand");
    assert_unchanged(&before, &sb, "nothing committed, no tag moved");
    sb.ok(&["gc", "--keep-last", "1"]);
    let shown: Value = serde_json::from_str(&sb.ok(&["show", "rejected", "--json"])).unwrap();
    assert_eq!(
        shown["id"],
        target.as_str(),
        "the user's tag and its checkpoint are kept"
    );
}

#[test]
fn a_csv_run_refuses_windows_that_changed_under_it() {
    for mode in ["stateful", "stateless"] {
        let sb = Sandbox::new();
        let cfg = sb.write("c.toml", &csv_config("c", mode, ""));
        let args = run_args(&cfg);
        sb.write("data.csv", &csv_text(500, |_, _| {}));
        sb.ok(&[strs(&args), vec!["--windows", "3"]].concat());
        let trained = ids(&sb.log("c"));

        // Appending rows is the normal way to feed the run.
        sb.write("data.csv", &csv_text(600, |_, _| {}));
        sb.ok(&[strs(&args), vec!["--windows", "4"]].concat());
        assert_eq!(ids(&sb.log("c"))[..3], trained[..], "{mode}");

        // Every label of window 1 flipped: refused, naming the window, even when no new
        // window is due.
        let flipped = csv_text(600, |row, f| {
            if (100..200).contains(&row) {
                f[3] = if f[3] == "1" { "0".into() } else { "1".into() };
            }
        });
        sb.write("data.csv", &flipped);
        let before = sb.snapshot();
        for extra in [vec![], vec!["--windows", "4"]] {
            let out = sb.relearn(&[strs(&args), extra].concat());
            assert_fails(&out, 2, "window 1, rows 101-200");
            assert!(stderr(&out).contains("changed"), "{mode}: {}", stderr(&out));
            assert_unchanged(&before, &sb, "{mode}");
        }

        // A file that shrank below what the run trained on.
        sb.write("data.csv", &csv_text(250, |_, _| {}));
        assert_fails(&sb.relearn(&strs(&args)), 2, "rows were removed");
        assert_unchanged(&before, &sb, "{mode}");
    }
}

#[test]
fn csv_ids_do_not_depend_on_how_the_config_path_is_spelled() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("d")).unwrap();
    sb.write("d/data.csv", &csv_text(400, |_, _| {}));
    sb.write("d/g.toml", &csv_config("g", "stateful", ""));
    let absolute = sb.path("d/g.toml").display().to_string();
    let store_a = sb.path("a").display().to_string();
    let store_b = sb.path("b").display().to_string();
    let run = |config: &str, store: &str, cwd: &Path| {
        relearn(
            &[
                "run",
                "--config",
                config,
                "--store",
                store,
                "--windows",
                "2",
            ],
            cwd,
        )
    };
    assert!(run("d/g.toml", &store_a, sb.dir.path()).status.success());
    std::fs::create_dir(sb.path("elsewhere")).unwrap();
    for (config, cwd) in [
        ("./d/g.toml", sb.dir.path().to_path_buf()),
        ("../d/g.toml", sb.path("elsewhere")),
        (absolute.as_str(), sb.path("elsewhere")),
    ] {
        let out = relearn(
            &[
                "run",
                "--config",
                config,
                "--store",
                &store_a,
                "--windows",
                "3",
            ],
            &cwd,
        );
        assert!(out.status.success(), "{config}: {}", stderr(&out));
    }
    assert!(
        run(&absolute, &store_b, &sb.path("elsewhere"))
            .status
            .success()
    );
    let log = |store: &str| {
        let out = relearn(&["log", "--json", "--store", store], sb.dir.path());
        let log: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        ids(&log)
    };
    assert_eq!(log(&store_a)[..2], log(&store_b)[..]);
}

#[test]
fn run_names_never_shadow_tags_or_id_prefixes() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("q", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    sb.ok(&["tag", "q@1", "futurerun"]);
    let before = sb.snapshot();
    let shadowed = sb.write("f.toml", &sea_config("futurerun", "stateful", ""));
    assert_fails(
        &sb.relearn(&["run", "--config", shadowed.to_str().unwrap()]),
        2,
        "is already a tag",
    );
    for name in ["4878a9", "q.rejected.2", "rejected"] {
        let cfg = sb.write("n.toml", &sea_config(name, "stateful", ""));
        assert_fails(
            &sb.relearn(&["run", "--config", cfg.to_str().unwrap()]),
            2,
            "run.name",
        );
    }
    assert_unchanged(&before, &sb, "");
}

#[test]
fn a_model_too_large_to_allocate_is_refused() {
    let sb = Sandbox::new();
    let text =
        sea_config("big", "stateful", "").replace("hidden = [16]", "hidden = [100000, 100000]");
    let cfg = sb.write("c.toml", &text);
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "model.hidden");
    assert!(stderr(&out).contains("GiB"), "{}", stderr(&out));
    assert!(
        crate::common::entries_under(&sb.store().join("manifests")).is_empty(),
        "nothing committed"
    );
}

#[test]
fn a_damaged_store_says_so_and_gc_deletes_nothing() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("q", "stateful", ""));
    let cfg = cfg.to_str().unwrap();
    sb.ok(&["run", "--config", cfg, "--windows", "3"]);
    sb.ok(&["tag", "q@1", "keep"]);
    let head = sb.head("q").unwrap();
    std::fs::remove_file(sb.store().join(format!("manifests/{head}.json"))).unwrap();
    let before = sb.snapshot();
    for args in [
        vec!["show", "q"],
        vec!["run", "--config", cfg],
        vec!["gc", "--keep-last", "1"],
    ] {
        let out = sb.relearn(&args);
        assert_fails(&out, 1, "damaged");
        assert!(
            stderr(&out).contains("relearn verify"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_unchanged(&before, &sb, "{args:?} changed the store");
    }
}

#[test]
fn divergence_names_the_window_and_blames_the_data_s_scale() {
    let sb = Sandbox::new();
    // Unclipped inputs (`data.clip = inf`): clipped, 3e38 would enter the model as 4.
    let cfg = sb.write(
        "c.toml",
        &csv_config("n", "stateful", "")
            .replace("target = \"label\"\n", "target = \"label\"\nclip = inf\n"),
    );
    sb.write(
        "data.csv",
        &csv_text(400, |row, f| {
            if row == 250 {
                f[0] = "3e38".into();
            }
        }),
    );
    let out = sb.relearn(&strs(&run_args(&cfg)));
    assert_fails(&out, 1, "window 2");
    assert!(stderr(&out).contains("data's scale"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Lower `"), "{}", stderr(&out));
    assert_eq!(sb.log("n").len(), 2, "windows 0 and 1 committed");
}

#[test]
fn verify_notices_an_edited_time_in_a_manifest() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("q", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "2"]);
    sb.ok(&["verify"]);
    let head = sb.head("q").unwrap();
    let path = sb.store().join(format!("manifests/{head}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    for (field, edit) in [
        (
            "created_at",
            text.replacen("\"created_at\": \"2", "\"created_at\": \"9", 1),
        ),
        (
            "train_seconds",
            text.replacen("\"train_seconds\": ", "\"train_seconds\": 1", 1),
        ),
    ] {
        assert_ne!(edit, text, "{field}");
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        std::fs::write(&path, &edit).unwrap();
        let out = sb.relearn(&["verify"]);
        assert_eq!(out.status.code(), Some(1), "{field}");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            report.contains("manifest-checksum-mismatch"),
            "{field}: {report}"
        );
        std::fs::write(&path, &text).unwrap();
        sb.ok(&["verify"]);
    }
}

#[test]
fn window_size_overflow_names_its_line() {
    let sb = Sandbox::new();
    let text = sea_config("w", "stateful", "").replace("size = 250", "size = 18446744073709551615");
    let cfg = sb.write("c.toml", &text);
    let out = sb.relearn(&["run", "--config", cfg.to_str().unwrap()]);
    assert_fails(&out, 2, "window.size");
    assert!(stderr(&out).contains("c.toml:12:"), "{}", stderr(&out));
}

#[test]
fn gc_of_one_run_waits_for_another_run_s_commits() {
    let sb = Sandbox::new();
    let a = sb.write("a.toml", &sea_config("a", "stateful", ""));
    sb.ok(&["run", "--config", a.to_str().unwrap(), "--windows", "3"]);
    let b = sb.write(
        "b.toml",
        &sea_config("b", "stateful", "").replace("samples = 2000", "samples = 20000"),
    );
    let mut writer = command(&["run", "--config", b.to_str().unwrap()], sb.dir.path())
        .arg("--store")
        .arg(sb.store())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut rounds = 0;
    while writer.try_wait().unwrap().is_none() && rounds < 40 {
        let out = sb.relearn(&["gc", "--keep-last", "2", "--run", "a"]);
        assert!(out.status.success(), "round {rounds}: {}", stderr(&out));
        rounds += 1;
    }
    assert!(writer.wait().unwrap().success());
    assert!(rounds > 0);
}

#[test]
fn one_unreadable_manifest_is_named_and_the_rest_still_listed() {
    let sb = Sandbox::new();
    let cfg = sb.write("c.toml", &sea_config("q", "stateful", ""));
    sb.ok(&["run", "--config", cfg.to_str().unwrap(), "--windows", "3"]);
    let log = sb.log("q");
    let bad = log[1]["id"].as_str().unwrap().to_string();
    let path = sb.store().join(format!("manifests/{bad}.json"));
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, "{ not json").unwrap();
    for args in [
        vec!["log"],
        vec!["log", "--run", "q", "--json"],
        vec!["tree"],
    ] {
        let out = sb.relearn(&args);
        assert_fails(&out, 1, &bad);
        assert!(stderr(&out).contains("relearn verify"), "{args:?}");
        let listed = String::from_utf8_lossy(&out.stdout);
        for m in [&log[0], &log[2]] {
            let id = m["id"].as_str().unwrap();
            assert!(
                listed.contains(&id[..12]),
                "{args:?} lists the readable {id}: {listed}"
            );
        }
    }
    sb.ok(&["show", "q"]);
    let before = sb.snapshot();
    assert_fails(
        &sb.relearn(&["gc", "--keep-last", "1"]),
        1,
        "relearn verify",
    );
    assert_unchanged(&before, &sb, "gc");
}
