//! `cargo run` and `cargo test` must share one build of the dependencies (the README's two
//! set-up commands). Cargo compiles a dependency again whenever the test build asks for a
//! different feature set than the run build, which happens when a dev-dependency turns on a
//! feature of something Burn also uses: then every Burn crate above it is compiled twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `package version -> features` as `cargo tree` resolves them for `args`.
fn resolved_features(args: &[&str]) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--prefix",
            "none",
            "--format",
            "{p}|{f}",
        ])
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches(" (*)");
            let (package, features) = line.split_once('|')?;
            Some((package.trim().to_owned(), features.trim().to_owned()))
        })
        .collect()
}

#[test]
fn the_test_build_reuses_every_dependency_of_the_run_build() {
    // What `cargo run` builds: the binary's package without dev-dependencies.
    let run = resolved_features(&["--package", "relearn", "--edges", "normal,build"]);
    // What `cargo test --workspace` builds: every member with its dev-dependencies.
    let test = resolved_features(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(run.len() > 100, "cargo tree listed too little: {run:?}");
    let differing: Vec<String> = run
        .iter()
        .filter_map(|(package, features)| {
            let in_test = test.get(package)?;
            (in_test != features).then(|| format!("{package}: run [{features}], test [{in_test}]"))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "these dependencies get other features under `cargo test` than under `cargo run`, so \
         the test command would compile them (and everything above them) again; ask for the \
         same features in the root Cargo.toml's [dependencies]:\n{}",
        differing.join("\n")
    );
}
