//! The documentation is checked like code: `README.md` and every `docs/*.md`.
//!
//! - **Links.** Every relative link outside code, `[text](path)` or `![alt](path)`, names a
//!   file or folder of the repository (relative to the page that holds it), and its
//!   `#anchor`, if any, names a heading of the target page (GitHub's heading ids: lower
//!   case, punctuation dropped, spaces as `-`, `-1`, `-2` for repeats). `http(s)://` and
//!   `mailto:` links are not followed (tests have no network).
//! - **Configs.** A fenced block whose info string is just `toml` is a whole config: it must
//!   pass the config loader as it stands (`RunSpec::from_toml`, the same validation as
//!   `relearn run`). A block that shows only part of a config is marked
//!   ```` ```toml fragment ```` (GitHub still highlights it as TOML): it must parse as TOML,
//!   and merged over `configs/quickstart.toml` (its keys replacing the base's; a fragment
//!   that sets `data.csv` replaces the base's generator) it must pass the loader too, so every
//!   key it shows exists and every value it shows is valid.
//! - **Commands.** Every `relearn COMMAND` (also `cargo run -- COMMAND`,
//!   `target/debug/relearn COMMAND`) in a `sh`, `bash`, `console` or `text` block (in
//!   `console` and `text` blocks, only the lines that start with `$ `) or in inline code
//!   names a subcommand of `relearn --help`, and each `--flag` after it is one that
//!   `relearn COMMAND --help` lists. An all-capitals word (`COMMAND`) is a placeholder.
//! - **Paths.** Every `configs/NAME.toml` mentioned anywhere exists, and every repository
//!   path in inline code (`tests/crash.rs`, `crates/relearn-fit/src/trainer.rs`, ...) exists;
//!   segments in capitals (`tests/NAME.rs`) are placeholders.
//!
//! Each check collects every problem and fails listing them all; the `*_catches_*` tests run
//! each check on a small page with a known mistake, so a check that stopped finding anything
//! fails too. Nothing here trains: the slowest part is 15 `--help` calls.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use relearn_train::RunSpec;

use crate::common;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and `docs/*.md`, as paths relative to the root, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root().join(&p)).expect("read page");
            (p, text)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A small Markdown reader: fenced blocks, prose lines, headings, inline code, links.

/// A page cut into fenced code blocks and prose lines.
struct Page {
    /// Fenced blocks: info string, first line number (1-based, the fence), contents.
    blocks: Vec<(String, usize, String)>,
    /// Lines outside fences, with their line numbers.
    prose: Vec<(usize, String)>,
}

fn parse(text: &str) -> Page {
    let mut page = Page {
        blocks: Vec::new(),
        prose: Vec::new(),
    };
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fence = line.trim_start().starts_with("```");
        match &mut open {
            Some(block) if fence => {
                page.blocks.push(std::mem::take(block));
                open = None;
            }
            Some((_, _, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some((info, n, String::new()));
            }
            None => page.prose.push((n, line.to_string())),
        }
    }
    if let Some((info, n, _)) = open {
        page.prose.push((n, format!("unclosed ```{info} fence")));
    }
    page
}

/// Prose split into text and inline code: each line's text outside code (links inside code
/// are not links), and each code span with the line it starts on. A span may run on over a
/// line break; a blank line ends it.
struct Prose {
    text: Vec<(usize, String)>,
    spans: Vec<(usize, String)>,
}

fn prose(page: &Page) -> Prose {
    let mut out = Prose {
        text: Vec::new(),
        spans: Vec::new(),
    };
    let mut open: Option<(usize, String)> = None;
    for (n, line) in &page.prose {
        if line.trim().is_empty() {
            open = None;
        }
        let mut text = String::new();
        for (k, piece) in line.split('`').enumerate() {
            if k > 0 {
                // A backtick: a span opens or closes here.
                match open.take() {
                    Some(span) => out.spans.push(span),
                    None => open = Some((*n, String::new())),
                }
            }
            match &mut open {
                Some((_, span)) => {
                    if !span.is_empty() {
                        span.push(' ');
                    }
                    span.push_str(piece);
                }
                None => text.push_str(piece),
            }
        }
        out.text.push((*n, text));
    }
    out
}

/// GitHub's id for a heading: lower case, every character but letters, digits, spaces, `-`
/// and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page's headings define, repeats numbered as GitHub numbers them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in parse(text).prose {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let count = seen.entry(base.clone()).or_insert(0);
        out.insert(match *count {
            0 => base.clone(),
            k => format!("{base}-{k}"),
        });
        *count += 1;
    }
    out
}

/// The targets of a prose line's links, `[text](target)` and `![alt](target)`, without a
/// `"title"`.
fn link_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The checks. Each returns one line per problem.

/// Links: every relative link of `page` (at `path`, relative to `root`) resolves.
fn check_links(root: &Path, path: &Path, text: &str) -> Vec<String> {
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (n, line) in prose(&parse(text)).text {
        for target in link_targets(&line) {
            if target.is_empty()
                || target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let (file_path, file_text) = if file.is_empty() {
                (path.to_path_buf(), Some(text.to_string()))
            } else {
                let p = folder.join(file);
                if !root.join(&p).exists() {
                    problems.push(format!(
                        "{}:{n}: link to {target}: {} does not exist",
                        path.display(),
                        p.display()
                    ));
                    continue;
                }
                (p.clone(), std::fs::read_to_string(root.join(&p)).ok())
            };
            if let Some(anchor) = anchor {
                let known = file_text.as_deref().map(anchors).unwrap_or_default();
                if !known.contains(anchor) {
                    problems.push(format!(
                        "{}:{n}: link to {target}: {} has no heading #{anchor}",
                        path.display(),
                        file_path.display()
                    ));
                }
            }
        }
    }
    problems
}

/// Keys of a fragment replace the base's; tables merge.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Configs: every ```toml block is a valid config, every ```toml fragment a valid part of one.
fn check_configs(root: &Path, path: &Path, text: &str) -> Vec<String> {
    let base_text =
        std::fs::read_to_string(root.join("configs/quickstart.toml")).expect("quickstart config");
    // Anchor relative paths (`data.csv`) at the page's folder, as if the config sat there.
    let anchor = root.join(path).with_extension("toml");
    let mut problems = Vec::new();
    for (info, n, body) in parse(text).blocks {
        let mut words = info.split_whitespace();
        if words.next() != Some("toml") {
            continue;
        }
        let at = format!("{}:{n}", path.display());
        let config = match words.next() {
            None => body,
            Some("fragment") => {
                let fragment: toml::Table = match toml::from_str(&body) {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(format!("{at}: toml fragment does not parse: {e}"));
                        continue;
                    }
                };
                let mut base: toml::Table = toml::from_str(&base_text).expect("quickstart parses");
                let sets_csv = fragment
                    .get("data")
                    .and_then(|d| d.as_table())
                    .is_some_and(|d| d.contains_key("csv") || d.contains_key("path"));
                if sets_csv && let Some(toml::Value::Table(data)) = base.get_mut("data") {
                    data.clear();
                }
                // A fragment with windows by time replaces the base's row windows.
                let sets_every = fragment
                    .get("window")
                    .and_then(|w| w.as_table())
                    .is_some_and(|w| w.contains_key("every"));
                if sets_every && let Some(toml::Value::Table(window)) = base.get_mut("window") {
                    window.remove("size");
                }
                merge(&mut base, fragment);
                toml::to_string(&base).expect("a table serialises")
            }
            Some(other) => {
                problems.push(format!(
                    "{at}: ```toml {other}: the only marker a toml block takes is `fragment`"
                ));
                continue;
            }
        };
        if let Err(e) = RunSpec::from_toml(&config, &anchor) {
            problems.push(format!("{at}: the config loader refuses it: {e}"));
        }
    }
    problems
}

/// The subcommands of `relearn --help`, each with the flags its own `--help` lists.
fn cli() -> BTreeMap<String, BTreeSet<String>> {
    let help = |args: &[&str]| {
        let out = common::relearn(args, &root());
        assert!(out.status.success(), "relearn {args:?} failed");
        String::from_utf8(out.stdout).expect("utf-8 help")
    };
    let top = help(&["--help"]);
    let mut commands = BTreeMap::new();
    commands.insert(String::new(), flags_of(&top));
    let listed = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(
        listed.len() >= 10,
        "relearn --help lists its commands:\n{top}"
    );
    for c in listed {
        let flags = flags_of(&help(&[&c, "--help"]));
        commands.insert(c, flags);
    }
    commands
}

/// Every `--flag` word of a help text.
fn flags_of(help: &str) -> BTreeSet<String> {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

/// The `relearn ...` invocations of a piece of shell: the subcommand and its flags, up to a
/// pipe, a redirection, a `;`, `&&` or a comment.
fn invocations(shell: &str) -> Vec<(String, Vec<String>)> {
    let words: Vec<&str> = shell.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let start = if w == "relearn" || w.ends_with("/relearn") {
            Some(i + 1)
        } else if w == "cargo" && words.get(i + 1) == Some(&"run") {
            // `cargo run [--release] -- COMMAND`
            words[i..]
                .iter()
                .position(|w| *w == "--")
                .map(|k| i + k + 1)
        } else {
            None
        };
        let Some(start) = start else {
            i += 1;
            continue;
        };
        let mut rest = words[start.min(words.len())..].iter().map(|w| {
            w.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ',' | '.' | ':' | '"'))
        });
        let Some(command) = rest.next() else { break };
        let mut flags = Vec::new();
        let mut used = 1;
        for w in rest {
            if matches!(w, "|" | "||" | "&&" | ";") || w.starts_with('#') || w.starts_with('>') {
                break;
            }
            used += 1;
            if let Some(flag) = w.strip_prefix("--").filter(|f| !f.is_empty()) {
                let name = flag.split('=').next().unwrap_or(flag);
                flags.push(format!("--{name}"));
            }
        }
        out.push((command.to_string(), flags));
        i = start + used;
    }
    out
}

/// Commands: every `relearn COMMAND --flag` shown is real.
fn check_commands(
    path: &Path,
    text: &str,
    cli: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let page = parse(text);
    let mut shown: Vec<(usize, String)> = Vec::new();
    for (info, n, body) in &page.blocks {
        let lang = info.split_whitespace().next().unwrap_or("");
        let prompt_only = match lang {
            "sh" | "bash" | "shell" => false,
            "console" | "text" | "" => true,
            _ => continue,
        };
        for (k, line) in body.lines().enumerate() {
            let line = match line.strip_prefix("$ ") {
                Some(command) => command,
                None if prompt_only => continue,
                None => line,
            };
            shown.push((n + 1 + k, line.to_string()));
        }
    }
    shown.extend(prose(&page).spans);
    let mut problems = Vec::new();
    for (n, line) in shown {
        for (command, flags) in invocations(&line) {
            let placeholder = command.chars().all(|c| c.is_ascii_uppercase());
            let key = if command.starts_with('-') {
                String::new()
            } else {
                command.clone()
            };
            let Some(known) = cli.get(&key) else {
                if !placeholder {
                    problems.push(format!(
                        "{}:{n}: `relearn {command}`: no such command (relearn --help lists {})",
                        path.display(),
                        cli.keys()
                            .filter(|k| !k.is_empty())
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                continue;
            };
            let mut flags = flags;
            if key.is_empty() {
                flags.push(command.clone());
            }
            for flag in flags {
                if !known.contains(&flag) && flag != "--help" {
                    problems.push(format!(
                        "{}:{n}: `relearn {command}` has no flag {flag}",
                        path.display()
                    ));
                }
            }
        }
    }
    problems
}

/// Where inline code names a path of the repository (as opposed to a store's or an output's).
const REPO_PREFIXES: [&str; 8] = [
    "configs/", "crates/", "src/", "tests/", "docs/", "bench/", "benches/", "fuzz/",
];

/// Paths: every `configs/NAME.toml` anywhere, and every repository path in inline code, exists.
fn check_paths(root: &Path, path: &Path, text: &str) -> Vec<String> {
    let placeholder = |p: &str| {
        p.split(['/', '.'])
            .any(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            || p.contains(['*', '<', '$', '{'])
    };
    let mut mentioned: BTreeSet<(usize, String)> = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("configs/") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')))
                .unwrap_or(tail.len());
            let candidate = tail[..end].trim_end_matches('.');
            if candidate.ends_with(".toml") {
                mentioned.insert((i + 1, candidate.to_string()));
            }
            rest = &tail[end.max(1)..];
        }
    }
    for (n, span) in prose(&parse(text)).spans {
        for word in span.split_whitespace() {
            let word = word.trim_matches(|c: char| matches!(c, ',' | '(' | ')' | '"' | ':'));
            if REPO_PREFIXES.iter().any(|p| word.starts_with(p)) {
                mentioned.insert((n, word.to_string()));
            }
        }
    }
    let mut problems = Vec::new();
    for (n, p) in mentioned {
        if !placeholder(&p) && !root.join(&p).exists() {
            problems.push(format!(
                "{}:{n}: `{p}` is not a path of the repository",
                path.display()
            ));
        }
    }
    problems
}

fn assert_none(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = root();
    let mut problems = Vec::new();
    let mut links = 0;
    for (path, text) in pages() {
        links += prose(&parse(&text))
            .text
            .iter()
            .map(|(_, line)| link_targets(line).len())
            .sum::<usize>();
        problems.extend(check_links(&root, &path, &text));
    }
    assert_none("links", problems);
    assert!(
        links >= 30,
        "the README and docs link to each other ({links} links found)"
    );
}

#[test]
fn every_toml_example_in_the_docs_is_a_valid_config_or_fragment() {
    let root = root();
    let mut problems = Vec::new();
    let mut blocks = 0;
    for (path, text) in pages() {
        blocks += parse(&text)
            .blocks
            .iter()
            .filter(|(info, _, _)| info.starts_with("toml"))
            .count();
        problems.extend(check_configs(&root, &path, &text));
    }
    assert_none("toml examples", problems);
    assert!(
        blocks >= 3,
        "the docs show configs ({blocks} toml blocks found)"
    );
}

#[test]
fn every_command_flag_and_path_shown_in_the_docs_exists() {
    let root = root();
    let cli = cli();
    let mut problems = Vec::new();
    let mut commands = BTreeSet::new();
    for (path, text) in pages() {
        problems.extend(check_commands(&path, &text, &cli));
        problems.extend(check_paths(&root, &path, &text));
        let page = parse(&text);
        for (_, span) in prose(&page).spans {
            commands.extend(invocations(&span).into_iter().map(|(c, _)| c));
        }
    }
    assert_none("commands and paths", problems);
    // Every command is shown somewhere (so the check above has seen each of them).
    let missing: Vec<&String> = cli
        .keys()
        .filter(|c| !c.is_empty() && !commands.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "commands the docs never show: {missing:?}"
    );
}

#[test]
fn the_configs_the_docs_point_at_are_valid() {
    let dir = root().join("configs");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml")
            && let Err(e) = RunSpec::load(&path)
        {
            problems.push(e.to_string());
        }
    }
    assert_none("configs/", problems);
}

// Each check finds a planted mistake (so that a check that stops finding anything fails).

#[test]
fn the_link_check_catches_a_missing_file_and_a_missing_heading() {
    let page = "# Title\n\n## A section\n\n[ok](#a-section) [ok](../README.md#relearn) \
                [ok](https://example.invalid/x) `[not a link](nowhere.md)`\n\
                [bad](nowhere.md) ![bad](missing.png) [bad](#no-such-heading) \
                [bad](../README.md#no-such-heading)\n\n```text\n[code](nowhere.md)\n```\n";
    let problems = check_links(&root(), Path::new("docs/test.md"), page);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].contains("docs/nowhere.md does not exist"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("missing.png"), "{problems:#?}");
    assert!(problems[2].contains("#no-such-heading"), "{problems:#?}");
    assert!(
        problems[3].contains("README.md has no heading"),
        "{problems:#?}"
    );
}

#[test]
fn heading_ids_follow_github() {
    let ids = anchors(
        "# relearn\n## `relearn show REF [--json]` and more\n## Friedman #1: regression\n\
         ## Set-up\n## Set-up\n```sh\n# not a heading\n```\n",
    );
    let expected = [
        "relearn",
        "relearn-show-ref---json-and-more",
        "friedman-1-regression",
        "set-up",
        "set-up-1",
    ];
    assert_eq!(ids, expected.iter().map(|s| s.to_string()).collect());
}

#[test]
fn the_config_check_catches_unknown_keys_bad_values_and_unmarked_fragments() {
    let page = "```toml\n[run]\nname = \"ok\"\n[data]\ngenerator = \"sea\"\n```\n\
                ```toml fragment\n[stateful]\nlr = 1e-4\n```\n\
                ```toml fragment\n[data]\ncsv = \"a.csv\"\ntarget = \"y\"\n```\n\
                ```toml fragment\n[stateful]\nlearning_rate = 1e-4\n```\n\
                ```toml fragment\n[train]\nlr = -1.0\n```\n\
                ```toml\n[window]\nsize = 100\n```\n\
                ```toml fragment\n[run\n```\n\
                ```toml partial\n[run]\n```\n";
    let problems = check_configs(&root(), Path::new("docs/test.md"), page);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0].contains("learning_rate"), "{problems:#?}");
    assert!(problems[1].contains("train.lr"), "{problems:#?}");
    assert!(
        problems[2].contains("run.name") || problems[2].contains("name"),
        "{problems:#?}"
    );
    assert!(problems[3].contains("does not parse"), "{problems:#?}");
    assert!(problems[4].contains("only marker"), "{problems:#?}");
}

#[test]
fn the_command_check_catches_unknown_commands_flags_and_paths() {
    let cli = BTreeMap::from([
        (
            String::new(),
            BTreeSet::from(["--help".to_string(), "--version".to_string()]),
        ),
        (
            "run".to_string(),
            BTreeSet::from(["--config".to_string(), "--windows".to_string()]),
        ),
        ("log".to_string(), BTreeSet::from(["--json".to_string()])),
    ]);
    let page = "`relearn run --config configs/quickstart.toml --windows 3` \
                `relearn COMMAND --help` `relearn --version`\n\
                `relearn lg` and `cargo run --release -- run\n--epochs 3` (a span over a line break)\n\
                ```sh\nrelearn log --json | head  # a --comment\nrelearn log --all\n```\n\
                ```console\n$ relearn log --json\nrelearn in output --is-not-checked\n```\n\
                See `configs/nowhere.toml`, `tests/nowhere.rs` and `tests/NAME.rs`.\n";
    let problems = check_commands(Path::new("docs/test.md"), page, &cli);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for planted in ["`relearn lg`", "has no flag --epochs", "has no flag --all"] {
        assert!(
            problems.iter().any(|p| p.contains(planted)),
            "{planted}: {problems:#?}"
        );
    }
    let problems = check_paths(&root(), Path::new("docs/test.md"), page);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("configs/nowhere.toml"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("tests/nowhere.rs"), "{problems:#?}");
}
