//! `cargo run` and `cargo test` must share one build of the dependencies (the README's two
//! set-up commands). Cargo compiles a dependency again whenever the test build asks for a
//! different feature set than the run build, which happens when a dev-dependency turns on a
//! feature of something Burn also uses: then every Burn crate above it is compiled twice.
//! It also happens when a dev-dependency needs, as an ordinary dependency, a crate that the
//! run build only compiles for a procedural macro (proptest's `fork` feature did, with
//! `fnv`, which Burn's `enumset` derive uses): the macro is then compiled again, and every
//! Burn crate above it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `package version -> features` as `cargo tree` resolves them for `args`.
fn resolved_features(args: &[&str]) -> BTreeMap<String, String> {
    tree(args, "{p}|{f}")
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches(" (*)");
            let (package, features) = line.split_once('|')?;
            Some((package.trim().to_owned(), features.trim().to_owned()))
        })
        .collect()
}

/// The packages `cargo tree` lists for `args`.
fn packages(args: &[&str]) -> BTreeSet<String> {
    tree(args, "{p}")
        .lines()
        .map(|line| line.trim_end_matches(" (*)").trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `cargo tree` of the workspace for `args`, one package per line in `format`.
fn tree(args: &[&str], format: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none", "--format", format])
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo tree prints UTF-8")
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

#[test]
fn the_test_build_needs_no_macro_helper_as_an_ordinary_dependency() {
    // Compiled for the run build's procedural macros and build scripts only.
    let everything = packages(&["--package", "relearn", "--edges", "normal,build"]);
    let ordinary = packages(&["--package", "relearn", "--edges", "normal,no-proc-macro"]);
    let macro_only: BTreeSet<&String> = everything.difference(&ordinary).collect();
    assert!(
        !macro_only.is_empty(),
        "Burn's derives have helpers: {everything:?}"
    );
    // Ordinary dependencies of the test build.
    let test = packages(&["--workspace", "--edges", "normal,dev,no-proc-macro"]);
    let shared: Vec<&&String> = macro_only.iter().filter(|p| test.contains(**p)).collect();
    assert!(
        shared.is_empty(),
        "the test build links these as ordinary dependencies, while the run build compiles them \
         for procedural macros only, so `cargo test` would compile those macros (and every Burn \
         crate that uses them) again; drop the dev-dependency feature that pulls them in: \
         {shared:?}"
    );
}
