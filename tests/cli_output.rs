//! What the CLI writes and where: non-finite predictions are refused, `--out` writes
//! through symlinks and refuses special files, a failing stdout is exit 1 with one line,
//! bad store paths and bad `rollback` arguments are bad input that changes nothing. Unix only
//! (symlinks, FIFOs, sockets, `/dev/full`).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::common::{Sandbox, assert_fails, command, entries_under, sea_config, stderr};

/// A sandbox holding a trained run `sea` (two windows), its config and a CSV of its first
/// window (`data.csv`, header `x0,x1,x2,y`).
fn trained() -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let config = sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    let c = config.to_str().unwrap();
    sb.ok(&["run", "--config", c, "--windows", "2"]);
    generate_first_window(&sb, c);
    (sb, config)
}

/// Writes the first window of config `c`'s stream to `data.csv` in the sandbox.
fn generate_first_window(sb: &Sandbox, c: &str) {
    let args = [
        "generate",
        "--config",
        c,
        "--out",
        "data.csv",
        "--windows",
        "1",
    ];
    let out = command(&args, sb.dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The first `rows` data rows of `data.csv`, with the feature `x1` of data row `bad`
/// (1-based) replaced by `value`.
fn csv_with(sb: &Sandbox, name: &str, rows: usize, bad: usize, value: &str) -> PathBuf {
    let text = std::fs::read_to_string(sb.path("data.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(rows + 1).map(str::to_string).collect();
    let mut cells: Vec<&str> = lines[bad].split(',').collect();
    cells[1] = value;
    lines[bad] = cells.join(",");
    sb.write(name, &(lines.join("\n") + "\n"))
}

// ---------------------------------------------------------------------------------------
// Item 5: non-finite outputs

/// A small regression run `fr` (Friedman, features in [0, 1], so that the scaling turns
/// 3e38 into infinity) trained on two windows, with `data.csv` its first window. Its inputs
/// are not clipped (`data.clip = inf`): clipped, 3e38 would enter the model as 4.
fn trained_regression() -> Sandbox {
    let sb = Sandbox::new();
    let config = sea_config("fr", "stateful", "")
        .replace(
            "generator = \"sea\"\nsamples = 2000",
            "generator = \"friedman\"\nsamples = 1000\nn_features = 5\nclip = inf",
        )
        .replace("drift_points = [1000]", "drift_points = [500]");
    let config = sb.write("fr.toml", &config);
    let c = config.to_str().unwrap();
    sb.ok(&["run", "--config", c, "--windows", "2"]);
    generate_first_window(&sb, c);
    sb
}

#[test]
fn predict_and_eval_refuse_a_non_finite_output_naming_file_and_row() {
    let sb = trained_regression();
    // 3e38 is a finite f32 (a common "missing" marker) that the model's scaling overflows.
    let csv = csv_with(&sb, "missing.csv", 5, 3, "3e38");
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .lines()
            .nth(3)
            .unwrap()
            .contains(",3e38,"),
        "data row 3 is line 4"
    );
    let c = csv.to_str().unwrap();
    for args in [
        vec!["predict", "fr", "--csv", c],
        vec!["predict", "fr", "--csv", c, "--json"],
        vec!["eval", "fr", "--csv", c],
        vec!["eval", "fr", "--csv", c, "--json"],
    ] {
        let out = sb.relearn(&args);
        let err = stderr(&out);
        assert_fails(&out, 2, "missing.csv");
        // Data row 3 is line 4 of the file, which the data crate calls row 4.
        assert!(err.contains("row 4"), "{args:?} names no row: {err}");
        assert!(err.contains("data row 3"), "{args:?}: {err}");
        assert!(err.contains("\"x1\""), "{args:?} names no column: {err}");
        assert!(err.contains("missing"), "{args:?} gives no hint: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed before the error");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A file without the marker still predicts.
    let good = csv_with(&sb, "good.csv", 5, 3, "1.5");
    let text = sb.ok(&["predict", "fr", "--csv", good.to_str().unwrap()]);
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(!text.contains("NaN"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Item 6: `--out` and special files

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

/// `relearn export sea --out out` in the sandbox.
fn export_to(sb: &Sandbox, out: &Path) -> Output {
    sb.relearn(&["export", "sea", "--out", out.to_str().unwrap()])
}

#[test]
fn out_writes_through_symlinks_and_refuses_special_files() {
    let (sb, config) = trained();
    let out = export_to(&sb, &sb.path("direct.st"));
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = std::fs::read(sb.path("direct.st")).unwrap();
    export_writes_through_symlinks(&sb, &expected);
    generate_writes_through_a_symlink(&sb, &config);
    special_files_are_refused(&sb);
}

/// Export through a symlink, a chain of them and a dangling one writes `expected` to the
/// target and leaves the links links, with no temporary file behind; a dangling symlink into a
/// missing folder is bad input.
fn export_writes_through_symlinks(sb: &Sandbox, expected: &[u8]) {
    use std::os::unix::fs::symlink;
    // A symlink with a relative target, to an existing file.
    std::fs::write(sb.path("real.st"), "old").unwrap();
    symlink("real.st", sb.path("link.st")).unwrap();
    // A chain: l2 -> sub/l1 -> real2.st (relative to sub/).
    std::fs::create_dir(sb.path("sub")).unwrap();
    std::fs::write(sb.path("sub/real2.st"), "old").unwrap();
    symlink("real2.st", sb.path("sub/l1")).unwrap();
    symlink("sub/l1", sb.path("l2")).unwrap();
    // A dangling symlink whose target's folder exists.
    symlink("sub/made.st", sb.path("dangling.st")).unwrap();
    for (link, target) in [
        ("link.st", "real.st"),
        ("l2", "sub/real2.st"),
        ("dangling.st", "sub/made.st"),
    ] {
        let out = export_to(sb, &sb.path(link));
        assert!(out.status.success(), "{link}: {}", stderr(&out));
        assert!(is_symlink(&sb.path(link)), "{link} is no longer a symlink");
        assert_eq!(
            std::fs::read(sb.path(target)).unwrap(),
            expected,
            "{target}"
        );
        assert!(!is_symlink(&sb.path(target)));
    }
    assert!(is_symlink(&sb.path("sub/l1")));
    let leftovers: Vec<PathBuf> = entries_under(sb.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".relearn-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A dangling symlink into a missing folder is bad input.
    symlink("nowhere/x.st", sb.path("lost.st")).unwrap();
    assert_fails(&export_to(sb, &sb.path("lost.st")), 2, "does not exist");
}

/// `generate --out` through a symlink writes the stream to its target.
fn generate_writes_through_a_symlink(sb: &Sandbox, config: &Path) {
    std::fs::write(sb.path("stream.csv"), "old").unwrap();
    std::os::unix::fs::symlink("stream.csv", sb.path("stream-link.csv")).unwrap();
    let out = command(
        &[
            "generate",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "stream-link.csv",
            "--windows",
            "1",
        ],
        sb.dir.path(),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(is_symlink(&sb.path("stream-link.csv")));
    assert_eq!(
        std::fs::read(sb.path("stream.csv")).unwrap(),
        std::fs::read(sb.path("data.csv")).unwrap()
    );
}

/// Export to a FIFO, a socket, `/dev/full` (through a symlink) or a folder (through a symlink)
/// is refused, and each stays what it was. Needs the folder `sub` made by
/// [`export_writes_through_symlinks`].
fn special_files_are_refused(sb: &Sandbox) {
    use std::os::unix::fs::{FileTypeExt, symlink};
    let fifo = sb.path("fifo.st");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    assert_fails(&export_to(sb, &fifo), 2, "FIFO");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let socket = sb.path("socket.st");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_fails(&export_to(sb, &socket), 2, "socket");
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket()
    );

    if Path::new("/dev/full").exists() {
        // Through a symlink only: a regression must not replace the real device node.
        symlink("/dev/full", sb.path("full.st")).unwrap();
        assert_fails(&export_to(sb, &sb.path("full.st")), 2, "character device");
        assert!(is_symlink(&sb.path("full.st")));
        let meta = std::fs::metadata("/dev/full").unwrap();
        assert!(meta.file_type().is_char_device());
    }

    symlink("sub", sb.path("dir-link")).unwrap();
    assert_fails(&export_to(sb, &sb.path("dir-link")), 2, "folder");
}

// ---------------------------------------------------------------------------------------
// Item 7: stdout that cannot be written

#[test]
fn a_failing_stdout_is_exit_1_with_one_line_and_a_closed_pipe_is_quiet() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let (sb, config) = trained();
    sb.ok(&["tag", "sea", "first"]);
    let c = config.to_str().unwrap();
    let csv = sb.path("data.csv");
    let csv = csv.to_str().unwrap();
    let export = sb.path("x.st");
    let export = export.to_str().unwrap();
    let with_store: Vec<Vec<&str>> = vec![
        vec!["run", "--config", c, "--windows", "3"],
        vec!["log"],
        vec!["verify"],
        vec!["tag"],
        vec!["tag", "sea", "second"],
        vec!["tag", "--delete", "second"],
        vec!["show", "sea"],
        vec!["diff", "sea~1", "sea"],
        vec!["tree"],
        vec!["gc", "--keep-last", "5", "--dry-run"],
        vec!["export", "sea", "--out", export],
        vec!["eval", "sea", "--csv", csv],
        vec!["predict", "sea", "--csv", csv],
        vec!["rollback", "sea", "--history"],
        vec!["log", "--json"],
        vec!["compare", "--config", c, "--windows", "2", "--out", "cmp"],
    ];
    let full = || OpenOptions::new().write(true).open("/dev/full").unwrap();
    let check = |args: &[&str], out: Output| {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("error: cannot write to stdout: No space left on device"),
            "{args:?}: {err}"
        );
        assert_eq!(err.matches("No space left").count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("error:").count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    };
    for args in &with_store {
        let out = sb.command(args).stdout(full()).output().unwrap();
        check(args, out);
    }
    let generate = ["generate", "--config", c, "--out", "-", "--windows", "1"];
    let out = command(&generate, sb.dir.path())
        .stdout(full())
        .output()
        .unwrap();
    check(&generate, out);

    // A reader that went away (`| head`) stops the command quietly.
    for args in [vec!["log"], vec!["tree"], vec!["show", "sea"]] {
        let mut child = sb
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
        assert_ne!(out.status.code(), Some(101), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Minor items

/// The `--store` paragraph of a command's `--help`.
fn store_help(args: &[&str]) -> String {
    let out = crate::common::relearn(args, Path::new("."));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let start = text.find("--store").expect("--store in help");
    let rest = &text[start..];
    let end = rest[1..].find("\n  -").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

#[test]
fn store_help_mentions_a_config_only_for_commands_that_take_one() {
    for cmd in [
        "log", "show", "tree", "diff", "verify", "tag", "rollback", "gc", "export", "eval",
        "predict",
    ] {
        let help = store_help(&[cmd, "--help"]);
        assert!(!help.contains("config"), "{cmd}: {help}");
        assert!(help.contains("checkpoints"), "{cmd}: {help}");
    }
    for cmd in ["run", "compare"] {
        let help = store_help(&[cmd, "--help"]);
        assert!(help.contains("run.store"), "{cmd}: {help}");
    }
}

#[test]
fn a_store_path_that_is_a_file_is_bad_input_for_every_command() {
    let sb = Sandbox::new();
    let config = sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    let c = config.to_str().unwrap();
    let file = sb.write("not-a-store", "just a file\n");
    let f = file.to_str().unwrap();
    let data = sb.write("data.csv", "x0,x1,x2,y\n1,2,3,0\n");
    let d = data.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", "--config", c],
        vec!["compare", "--config", c, "--windows", "2", "--out", "cmp"],
        vec!["log"],
        vec!["show", "sea"],
        vec!["tree"],
        vec!["diff", "sea~1", "sea"],
        vec!["verify"],
        vec!["tag"],
        vec!["tag", "sea", "t"],
        vec!["tag", "--delete", "t"],
        vec!["rollback", "sea"],
        vec!["rollback", "sea", "--history"],
        vec!["gc", "--keep-last", "1"],
        vec!["export", "sea", "--out", "x.st"],
        vec!["eval", "sea", "--csv", d],
        vec!["predict", "sea", "--csv", d],
    ];
    for args in &cases {
        let mut full = args.clone();
        full.extend(["--store", f]);
        let out = command(&full, sb.dir.path()).output().unwrap();
        assert_fails(&out, 2, "not a folder");
        assert!(stderr(&out).contains("not-a-store"), "{args:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "just a file\n");
    }
    // The config's run.store too.
    let config = sb.write(
        "file-store.toml",
        &sea_config("sea", "stateful", "").replace(
            "[run]\n",
            &format!("[run]\nstore = {:?}\n", file.to_str().unwrap()),
        ),
    );
    let out = command(
        &["run", "--config", config.to_str().unwrap()],
        sb.dir.path(),
    )
    .output()
    .unwrap();
    assert_fails(&out, 2, "not a folder");
    assert!(!sb.path("cmp").exists(), "compare made its output folder");
}

#[test]
fn compare_out_on_an_existing_file_is_bad_input() {
    let sb = Sandbox::new();
    let config = sb.write("sea.toml", &sea_config("sea", "stateful", ""));
    let file = sb.write("report.txt", "mine\n");
    let out = sb.relearn(&[
        "compare",
        "--config",
        config.to_str().unwrap(),
        "--windows",
        "2",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "report.txt");
    assert!(stderr(&out).contains("not a folder"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    assert!(
        !sb.store().exists(),
        "compare trained before refusing --out"
    );
}

#[test]
fn rollback_with_bad_input_leaves_the_store_unchanged() {
    let (sb, config) = trained();
    let other = sb.write("other.toml", &sea_config("other", "stateful", ""));
    sb.ok(&["run", "--config", other.to_str().unwrap(), "--windows", "2"]);
    let _ = config;
    // A store copied without its (transient) locks/ folder.
    std::fs::remove_dir_all(sb.store().join("locks")).unwrap();
    let before = entries_under(&sb.store());
    let snapshot = sb.snapshot();
    let cases: [(&[&str], &str); 6] = [
        (&["rollback", "sea", "nope"], "nope"),
        (&["rollback", "sea", "other"], "belongs to run 'other'"),
        (&["rollback", "sea", "sea"], "already serves"),
        (&["rollback", "sea", "sea~9"], "sea~9"),
        (&["rollback", "nobody"], "nobody"),
        (&["rollback", "Bad/Name"], "Bad/Name"),
    ];
    for (args, says) in cases {
        let out = sb.relearn(args);
        assert_fails(&out, 2, says);
        assert_eq!(
            entries_under(&sb.store()),
            before,
            "{args:?} changed the store"
        );
        assert_eq!(sb.snapshot(), snapshot, "{args:?}");
    }
    // The initial checkpoint has nothing before it.
    let out = sb.relearn(&["rollback", "sea", "sea~1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_dir_all(sb.store().join("locks")).unwrap();
    let before = entries_under(&sb.store());
    assert_fails(&sb.relearn(&["rollback", "sea"]), 2, "initial checkpoint");
    assert_eq!(entries_under(&sb.store()), before);
}
