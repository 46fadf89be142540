//! The shape of the code, read from the workspace's sources (std only, no compiler):
//!
//! - inside a crate (`crates/*/src`, the binary's `src/`) the modules form no import circle:
//!   a module depends on the modules it names through `use crate::x`, `use crate::{x, y::z}`,
//!   `crate::x::..` paths anywhere in its code and `super::..` paths that reach a sibling. A
//!   file `a/b.rs` (or `a/b/mod.rs`) is part of module `a`; the files of a directory module
//!   (`policy/`, `compare/`) must form no circle among themselves either;
//! - a crate's `[dependencies]` name only workspace crates of lower [`LAYERS`];
//! - no function is longer than [`MAX_FN_LINES`] lines (from its `fn` line to its closing
//!   brace), except those in [`LONG_FN_ALLOWED`].
//!
//! The scan skips comments (doc comments too), string literals (raw ones too) and char
//! literals. Test code may import anything: `#[cfg(test)]` items and `tests.rs` files are left
//! out of the import check (not of the length check).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The allowed order of the workspace's crates, lowest first: a crate may depend only on
/// crates of lower layers. A crate named here that is not on disk is skipped; a crate on disk
/// that is not named here fails the test.
const LAYERS: &[&[&str]] = &[
    &["relearn-store", "relearn-data", "relearn-trees"],
    &["relearn-model"],
    &["relearn-spec", "relearn-fit"],
    &["relearn-train"],
    &["relearn-serve"],
    &["relearn"],
];

/// The longest function allowed, in lines from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;

/// The functions allowed to be longer than [`MAX_FN_LINES`]: (file from the workspace root,
/// function name, why), for numerical kernels that read best in one piece. An entry that
/// matches no long function fails the test, so the list stays current.
const LONG_FN_ALLOWED: &[(&str, &str, &str)] = &[(
    "crates/relearn-fit/src/fused.rs",
    "backward",
    "the fused trainer's backward pass: one loop over the layers whose steps share the \
     row blocks' buffers; split, its hot loop would pass them through calls",
)];

/// The folders, from the workspace root, whose functions [`MAX_FN_LINES`] applies to, besides
/// each member crate's `src/`.
const LENGTH_CHECKED_DIRS: &[&str] = &["src", "tests", "benches"];

// ---------------------------------------------------------------------------------------------
// The checks on the workspace.

/// The workspace's crates and the binary: no import circle between modules.
#[test]
fn modules_of_each_crate_form_no_import_circle() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for (label, src) in crate_sources(&root) {
        let files: Vec<(String, String)> = rust_files(&src)
            .into_iter()
            .map(|path| (relative(&path, &src), read(&path)))
            .collect();
        problems.extend(import_circles(&label, &relative(&src, &root), &files));
    }
    assert!(
        problems.is_empty(),
        "{} import circle(s) between modules:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The workspace's crates follow [`LAYERS`].
#[test]
fn crates_depend_only_on_lower_layers() {
    let crates = workspace_crates(&workspace_root());
    let problems = layer_violations(&crates, LAYERS);
    assert!(
        problems.is_empty(),
        "the crates' dependencies break the layers:\n{}",
        problems.join("\n")
    );
}

/// The workspace's functions: none over [`MAX_FN_LINES`] lines but those allowed.
#[test]
fn no_function_is_longer_than_the_limit() {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = member_crates(&root).iter().map(|c| c.join("src")).collect();
    dirs.extend(LENGTH_CHECKED_DIRS.iter().map(|d| root.join(d)));
    let mut long = Vec::new();
    for path in dirs.iter().flat_map(|dir| rust_files(dir)) {
        let file = relative(&path, &root);
        for span in function_spans(&read(&path)) {
            if span.lines > MAX_FN_LINES {
                long.push((file.clone(), span));
            }
        }
    }
    let problems = long_function_problems(&long, LONG_FN_ALLOWED);
    assert!(
        problems.is_empty(),
        "{} function(s) longer than {MAX_FN_LINES} lines (or stale LONG_FN_ALLOWED entries):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The messages for the functions in `long` that `allowed` does not name, and for the entries
/// of `allowed` that name none of them.
fn long_function_problems(
    long: &[(String, FunctionSpan)],
    allowed: &[(&str, &str, &str)],
) -> Vec<String> {
    let is_allowed =
        |file: &str, name: &str| allowed.iter().any(|(f, n, _)| *f == file && *n == name);
    let mut problems: Vec<String> = long
        .iter()
        .filter(|(file, span)| !is_allowed(file, &span.name))
        .map(|(file, span)| {
            format!(
                "{file}:{}: fn {} is {} lines long",
                span.line, span.name, span.lines
            )
        })
        .collect();
    for (file, name, _) in allowed {
        if !long.iter().any(|(f, s)| f == file && s.name == *name) {
            problems.push(format!(
                "LONG_FN_ALLOWED names {file} fn {name}, which is not longer than \
                 {MAX_FN_LINES} lines (or not there): remove the entry"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Files.

/// The workspace root (the `relearn` package's folder).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folders of the workspace's member crates (`crates/*` with a `Cargo.toml`), sorted.
fn member_crates(root: &Path) -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .map(|entry| entry.expect("crates/ entry").path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    crates
}

/// Each crate's label and source folder: `crates/*/src` and the binary's `src/`.
fn crate_sources(root: &Path) -> Vec<(String, PathBuf)> {
    let mut sources: Vec<(String, PathBuf)> = member_crates(root)
        .into_iter()
        .map(|dir| (relative(&dir, root), dir.join("src")))
        .collect();
    sources.push(("relearn (src/)".to_owned(), root.join("src")));
    sources
}

/// Every `.rs` file under `dir`, sorted (none if `dir` does not exist).
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    crate::common::entries_under(dir)
        .into_iter()
        .filter(|path| !path.is_dir() && path.extension().is_some_and(|e| e == "rs"))
        .collect()
}

/// `path` from `base`, with `/` separators.
fn relative(path: &Path, base: &Path) -> String {
    let rel = path.strip_prefix(base).expect("path under its base");
    let parts: Vec<String> = rel
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// The text of a file.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Lexing: code without its comments and literals, then tokens.

/// `source` with every comment, string literal and char literal blanked out (each of their
/// characters replaced by a space, newlines kept), so that what is left is code on its lines.
fn blank_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut code = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        match skipped_end(&chars, i) {
            Some(end) => {
                let blanked = chars[i..end]
                    .iter()
                    .map(|&c| if c == '\n' { '\n' } else { ' ' });
                code.extend(blanked);
                i = end;
            }
            None => {
                code.push(chars[i]);
                i += 1;
            }
        }
    }
    code
}

/// Where the comment or literal that starts at `i` ends (one past it), or `None` when none
/// starts there.
fn skipped_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    match (at(i), at(i + 1)) {
        ('/', '/') => Some((i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len())),
        ('/', '*') => Some(block_comment_end(c, i)),
        ('"', _) => Some(string_end(c, i + 1)),
        ('\'', '\\') => Some(
            (i + 3..c.len())
                .find(|&k| c[k] == '\'')
                .map_or(c.len(), |k| k + 1),
        ),
        ('\'', next) if next != '\'' && at(i + 2) == '\'' => Some(i + 3),
        ('r', _) => raw_string_end(c, i),
        _ => None,
    }
}

/// One past the end of the (possibly nested) block comment that starts at `i`.
fn block_comment_end(c: &[char], i: usize) -> usize {
    let mut depth = 0;
    let mut k = i;
    while k + 1 < c.len() {
        match (c[k], c[k + 1]) {
            ('/', '*') => depth += 1,
            ('*', '/') => depth -= 1,
            _ => {
                k += 1;
                continue;
            }
        }
        k += 2;
        if depth == 0 {
            return k;
        }
    }
    c.len()
}

/// One past the closing quote of the string whose contents start at `k`.
fn string_end(c: &[char], mut k: usize) -> usize {
    while k < c.len() {
        match c[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    c.len()
}

/// One past the end of the raw string (`r"…"`, `r#"…"#`, also after `b` or `c`) whose `r` is
/// at `i`, or `None` when that `r` starts none (an identifier, a raw identifier `r#name`).
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let word_start = (0..=i)
        .rev()
        .take_while(|&k| c[k].is_alphanumeric() || c[k] == '_')
        .last()?;
    let word: String = c[word_start..=i].iter().collect();
    if !matches!(word.as_str(), "r" | "br" | "cr") {
        return None;
    }
    let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
    if c.get(i + 1 + hashes) != Some(&'"') {
        return None;
    }
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let body = i + 2 + hashes;
    let end = (body..c.len()).find(|&k| c[k..].starts_with(&closing));
    Some(end.map_or(c.len(), |k| k + closing.len()))
}

/// One token of code: an identifier, keyword or number, `::`, or one punctuation character;
/// with its line (from 1).
#[derive(Debug, Clone)]
struct Token {
    text: String,
    line: usize,
}

/// The tokens of `source` once its comments and literals are blanked out.
fn tokenize(source: &str) -> Vec<Token> {
    let code: Vec<char> = blank_comments_and_literals(source).chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < code.len() {
        let c = code[i];
        let len = if c.is_whitespace() {
            line += usize::from(c == '\n');
            i += 1;
            continue;
        } else if is_word(c) {
            code[i..].iter().take_while(|&&ch| is_word(ch)).count()
        } else if c == ':' && code.get(i + 1) == Some(&':') {
            2
        } else {
            1
        };
        let text: String = code[i..i + len].iter().collect();
        tokens.push(Token { text, line });
        i += len;
    }
    tokens
}

/// The text of token `i`, or `""` past either end.
fn text_at(tokens: &[Token], i: Option<usize>) -> &str {
    i.and_then(|i| tokens.get(i))
        .map_or("", |t| t.text.as_str())
}

/// Whether `text` is an identifier or keyword (not a number or punctuation).
fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Test code.

/// The tokens without test-only code: each item under `#[cfg(test)]` (a `mod tests { .. }`,
/// a `use`, a function), or all of them when the file starts with `#![cfg(test)]`.
fn without_test_items(tokens: &[Token]) -> Vec<Token> {
    let texts = |from: usize, n: usize| -> Vec<&str> {
        (from..from + n).map(|k| text_at(tokens, Some(k))).collect()
    };
    if texts(0, 8) == ["#", "!", "[", "cfg", "(", "test", ")", "]"] {
        return Vec::new();
    }
    let mut kept = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if texts(i, 7) == ["#", "[", "cfg", "(", "test", ")", "]"] {
            i = item_end(tokens, i + 7);
        } else {
            kept.push(tokens[i].clone());
            i += 1;
        }
    }
    kept
}

/// One past the item that starts at `i` (after its attributes): past its `;` or the closing
/// brace of its body.
fn item_end(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < tokens.len() {
        match tokens[i].text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" => depth = depth.saturating_sub(1),
            "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ";" if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    tokens.len()
}

// ---------------------------------------------------------------------------------------------
// Imports between modules.

/// A path the code names, from the crate root (`crate::a::b` as `["a", "b"]`), and the line
/// it is named on.
#[derive(Debug, PartialEq)]
struct Reference {
    path: Vec<String>,
    line: usize,
}

/// Every path that `tokens`, the code of module `module`, name through `crate::`, `super::`
/// or `self::`, from the crate root; a `use` group (`crate::{a, b::c}`) gives one path each.
/// `super` and `self` count the inline modules (`mod name { .. }`) the path is in.
fn references(module: &[String], tokens: &[Token]) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    for i in 0..tokens.len() {
        let at = |k: usize| text_at(tokens, Some(k));
        match at(i) {
            "{" => depth += 1,
            "}" => {
                depth = usize::saturating_sub(depth, 1);
                inline.retain(|(_, inside)| *inside <= depth);
            }
            "mod" if at(i + 2) == "{" => inline.push((at(i + 1).to_owned(), depth + 1)),
            _ => {}
        }
        if at(i + 1) != "::" || text_at(tokens, i.checked_sub(1)) == "::" {
            continue;
        }
        let mut current = module.to_vec();
        current.extend(inline.iter().map(|(name, _)| name.clone()));
        let start = match at(i) {
            "crate" => Some((Vec::new(), i + 2)),
            "self" => Some((current, i + 2)),
            "super" => after_supers(tokens, i, &current),
            _ => None,
        };
        if let Some((base, j)) = start {
            path_tree(tokens, j, base, tokens[i].line, &mut found);
        }
    }
    found
}

/// For a `super::super::..` chain at `i` in module `current`: the module it names and the
/// token after its last `::`; `None` when it climbs above the crate root.
fn after_supers(tokens: &[Token], i: usize, current: &[String]) -> Option<(Vec<String>, usize)> {
    let mut j = i;
    while text_at(tokens, Some(j)) == "super" && text_at(tokens, Some(j + 1)) == "::" {
        j += 2;
    }
    let keep = current.len().checked_sub((j - i) / 2)?;
    Some((current[..keep].to_vec(), j))
}

/// Adds the paths of the path tree at `j` (`a::b`, `a::{b, c::d}`, `*`), each after `prefix`.
fn path_tree(
    tokens: &[Token],
    mut j: usize,
    mut prefix: Vec<String>,
    line: usize,
    out: &mut Vec<Reference>,
) {
    loop {
        let text = text_at(tokens, Some(j));
        if text == "{" {
            for item in group_items(tokens, j) {
                path_tree(tokens, item, prefix.clone(), line, out);
            }
            return;
        }
        if !is_identifier(text) || text == "self" {
            break;
        }
        prefix.push(text.to_owned());
        let next = text_at(tokens, Some(j + 2));
        if text_at(tokens, Some(j + 1)) != "::" || !(is_identifier(next) || next == "{") {
            break;
        }
        j += 2;
    }
    out.push(Reference { path: prefix, line });
}

/// The first token of each item of the `{ .. }` group that opens at `open`.
fn group_items(tokens: &[Token], open: usize) -> Vec<usize> {
    let mut items = vec![open + 1];
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => items.push(k + 1),
            _ => {}
        }
    }
    items.retain(|&k| text_at(tokens, Some(k)) != "}");
    items
}

/// Import edges between modules: from a module to the modules it names, each with where it
/// is first named (`file:line`). Modules are `::`-joined paths from the crate root.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The module of a source file from its crate's `src/` (`policy/drift.rs` is `policy::drift`,
/// `policy/mod.rs` is `policy`, `lib.rs` and `main.rs` the root `[]`).
fn module_of_file(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    let last = parts.last().map(String::as_str);
    if last == Some("mod") || (parts.len() == 1 && matches!(last, Some("lib" | "main"))) {
        parts.pop();
    }
    parts
}

/// For each module with child modules (`""` for the crate root), the import edges between
/// its children, from the files (path from `src/`, text) of one crate. A reference from
/// module `p::a::..` to `p::b::..` is an edge `p::a -> p::b` when `p::b` is a module with a
/// file; `tests.rs` files and test code are left out.
fn module_graphs(files: &[(String, String)]) -> BTreeMap<String, Graph> {
    let is_test_file = |file: &str| file == "tests.rs" || file.ends_with("/tests.rs");
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .filter(|(file, _)| !is_test_file(file))
        .map(|(file, _)| module_of_file(file))
        .collect();
    let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
    for (file, source) in files.iter().filter(|(file, _)| !is_test_file(file)) {
        let from = module_of_file(file);
        let tokens = without_test_items(&tokenize(source));
        for reference in references(&from, &tokens) {
            let Some(shared) = sibling_level(&from, &reference.path, &modules) else {
                continue;
            };
            let edges = graphs.entry(from[..shared].join("::")).or_default();
            edges
                .entry(from[..=shared].join("::"))
                .or_default()
                .entry(reference.path[..=shared].join("::"))
                .or_insert_with(|| format!("{file}:{}", reference.line));
        }
    }
    graphs
}

/// How many leading segments module `from` and the path `to` share when `to` lies in a
/// sibling module of one of `from`'s ancestors (or of `from`) that has a file; `None` when
/// `to` is inside `from`, in an ancestor's own items, or in no module file.
fn sibling_level(from: &[String], to: &[String], modules: &BTreeSet<Vec<String>>) -> Option<usize> {
    let shared = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let differs = shared < from.len() && shared < to.len();
    (differs && modules.contains(&to[..=shared])).then_some(shared)
}

/// The import circles between the modules of one crate, labelled `label`, from its files
/// (path from its `src/` folder `src_dir`, text): one message per strongly connected
/// component of more than one module (see [`circle_message`]).
fn import_circles(label: &str, src_dir: &str, files: &[(String, String)]) -> Vec<String> {
    let folder = if src_dir.is_empty() {
        String::new()
    } else {
        format!("{src_dir}/")
    };
    let mut problems = Vec::new();
    for graph in module_graphs(files).values() {
        for component in circles(graph) {
            problems.push(circle_message(label, &folder, graph, &component));
        }
    }
    problems
}

/// The message for a strongly connected `component` of `graph`: a shortest circle through
/// it, then each import inside the component (the circle's first) with where it is
/// (`folder` + `file:line`).
fn circle_message(label: &str, folder: &str, graph: &Graph, component: &[String]) -> String {
    let circle = circle_through(graph, component);
    let mut message = format!("{label}: import circle {}", circle.join(" -> "));
    let mut edges: Vec<(&String, &String)> = circle.windows(2).map(|p| (&p[0], &p[1])).collect();
    if component.len() + 1 > circle.len() {
        message += &format!(" (all of {} are in one circle)", component.join(", "));
        for (from, imports) in graph.iter().filter(|(from, _)| component.contains(from)) {
            for to in imports.keys().filter(|to| component.contains(to)) {
                if !edges.contains(&(from, to)) {
                    edges.push((from, to));
                }
            }
        }
    }
    for (from, to) in edges {
        message += &format!("\n    {from} -> {to}: {folder}{}", graph[from][to]);
    }
    message
}

// ---------------------------------------------------------------------------------------------
// Graphs.

/// The nodes `start` reaches in `graph` (itself only through a circle).
fn reachable(graph: &Graph, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_owned()];
    while let Some(node) = stack.pop() {
        for next in graph.get(&node).into_iter().flat_map(|edges| edges.keys()) {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// The strongly connected components of `graph` with more than one node, each sorted, in
/// the order of their first node.
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let reach: BTreeMap<&String, BTreeSet<String>> = graph
        .keys()
        .map(|node| (node, reachable(graph, node)))
        .collect();
    let mut placed = BTreeSet::new();
    let mut components = Vec::new();
    for (node, reached) in &reach {
        if placed.contains(*node) {
            continue;
        }
        let mut component: Vec<String> = reached
            .iter()
            .filter(|other| *other != *node && reach.get(other).is_some_and(|r| r.contains(*node)))
            .cloned()
            .collect();
        if component.is_empty() {
            continue;
        }
        component.push((*node).clone());
        component.sort();
        placed.extend(component.iter().cloned());
        components.push(component);
    }
    components
}

/// A shortest circle through the first node of `component` (a strongly connected component
/// of `graph`), as its nodes from that one back to it.
fn circle_through(graph: &Graph, component: &[String]) -> Vec<String> {
    let start = &component[0];
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph[node].keys().filter(|n| component.contains(n)) {
            if next == start {
                let mut circle = vec![start.clone(), node.clone()];
                let mut at = node;
                while at != start {
                    at = came_from[at];
                    circle.push(at.clone());
                }
                circle.reverse();
                return circle;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    unreachable!("a strongly connected component has a circle through each node")
}

// ---------------------------------------------------------------------------------------------
// Crates.

/// A workspace crate: its name, its `Cargo.toml` from the workspace root, and the workspace
/// crates its `[dependencies]` (target-specific ones too) name.
#[derive(Debug)]
struct CrateDeps {
    name: String,
    manifest: String,
    depends_on: BTreeSet<String>,
}

/// The workspace's crates: the members under `crates/` and the root package.
fn workspace_crates(root: &Path) -> Vec<CrateDeps> {
    let mut manifests: Vec<PathBuf> = member_crates(root)
        .iter()
        .map(|dir| dir.join("Cargo.toml"))
        .collect();
    manifests.push(root.join("Cargo.toml"));
    let parsed: Vec<(String, toml::Table)> = manifests
        .iter()
        .map(|path| {
            let table = read(path)
                .parse::<toml::Table>()
                .expect("Cargo.toml is TOML");
            (relative(path, root), table)
        })
        .collect();
    let package_name = |table: &toml::Table| {
        let name = table.get("package").and_then(|p| p.get("name"));
        name.and_then(|n| n.as_str()).map(str::to_owned)
    };
    let names: BTreeSet<String> = parsed.iter().filter_map(|(_, t)| package_name(t)).collect();
    parsed
        .iter()
        .filter_map(|(manifest, table)| {
            Some(CrateDeps {
                name: package_name(table)?,
                manifest: manifest.clone(),
                depends_on: dependency_names(table)
                    .intersection(&names)
                    .cloned()
                    .collect(),
            })
        })
        .collect()
}

/// The packages a manifest's `[dependencies]` and `[target.*.dependencies]` name (the
/// `package` of a renamed one).
fn dependency_names(manifest: &toml::Table) -> BTreeSet<String> {
    let targets = manifest.get("target").and_then(|t| t.as_table());
    let tables = std::iter::once(manifest.get("dependencies"))
        .chain(
            targets
                .into_iter()
                .flat_map(|t| t.values().map(|t| t.get("dependencies"))),
        )
        .flatten()
        .filter_map(|deps| deps.as_table());
    let mut names = BTreeSet::new();
    for deps in tables {
        for (key, spec) in deps {
            let package = spec.get("package").and_then(|p| p.as_str());
            names.insert(package.unwrap_or(key).to_owned());
        }
    }
    names
}

/// What breaks `layers` in `crates`: a crate on disk that no layer names, a dependency on a
/// crate of the same or a higher layer, a circle of dependencies, a crate named twice.
fn layer_violations(crates: &[CrateDeps], layers: &[&[&str]]) -> Vec<String> {
    let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (layer, names) in layers.iter().enumerate() {
        for name in *names {
            if layer_of.insert(name, layer).is_some() {
                problems.push(format!("LAYERS names {name} twice"));
            }
        }
    }
    for krate in crates {
        let Some(&layer) = layer_of.get(krate.name.as_str()) else {
            problems.push(format!(
                "crate {} ({}) is in no layer: add it to LAYERS in tests/structure.rs",
                krate.name, krate.manifest
            ));
            continue;
        };
        for dep in &krate.depends_on {
            match layer_of.get(dep.as_str()) {
                Some(&dep_layer) if dep_layer < layer => {}
                Some(&dep_layer) => problems.push(format!(
                    "crate {} (layer {layer}) depends on {dep} (layer {dep_layer}) in {}: a \
                     crate may depend only on crates of lower layers",
                    krate.name, krate.manifest
                )),
                None => {} // reported as a crate in no layer
            }
        }
    }
    problems.extend(dependency_circles(crates));
    problems
}

/// The circles between the crates' dependencies (cargo refuses them; named here all the same).
fn dependency_circles(crates: &[CrateDeps]) -> Vec<String> {
    let graph: Graph = crates
        .iter()
        .map(|krate| {
            let edges = krate
                .depends_on
                .iter()
                .map(|dep| (dep.clone(), krate.manifest.clone()))
                .collect();
            (krate.name.clone(), edges)
        })
        .collect();
    circles(&graph)
        .iter()
        .map(|component| {
            let circle = circle_through(&graph, component);
            format!(
                "crates depend on each other in a circle: {}",
                circle.join(" -> ")
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Function lengths.

/// A function: its name, the line of its `fn`, and its length in lines from there to its
/// closing brace.
#[derive(Debug, PartialEq)]
struct FunctionSpan {
    name: String,
    line: usize,
    lines: usize,
}

/// Every function with a body in `source` (nested ones too), with its length.
fn function_spans(source: &str) -> Vec<FunctionSpan> {
    let tokens = tokenize(source);
    let mut spans = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let name = text_at(&tokens, Some(i + 1));
        if token.text != "fn" || !is_identifier(name) {
            continue;
        }
        if let Some(close) = body_end(&tokens, i + 2) {
            spans.push(FunctionSpan {
                name: name.to_owned(),
                line: token.line,
                lines: tokens[close].line - token.line + 1,
            });
        }
    }
    spans
}

/// The closing brace of the body of the function whose signature goes on at `i`: the first
/// `{` outside parentheses and brackets opens it; `None` for a declaration without a body
/// (`;` first).
fn body_end(tokens: &[Token], mut i: usize) -> Option<usize> {
    let mut nesting = 0usize;
    while i < tokens.len() {
        match tokens[i].text.as_str() {
            "(" | "[" => nesting += 1,
            ")" | "]" => nesting = nesting.saturating_sub(1),
            ";" if nesting == 0 => return None,
            "{" if nesting == 0 => break,
            _ => {}
        }
        i += 1;
    }
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(i) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The checks on small inline sources.

/// Files of one crate from (path from `src/`, text) pairs.
fn files(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect()
}

/// A two-module circle is named, with the file and line of each import.
#[test]
fn a_circle_a_b_a_is_found_with_where_each_import_is() {
    let crate_files = files(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        ("b.rs", "fn f() {\n    crate::a::g();\n}\n"),
        ("c.rs", "use crate::a;\n"),
    ]);
    let problems = import_circles("x", "", &crate_files);
    assert_eq!(
        problems,
        ["x: import circle a -> b -> a\n    a -> b: a.rs:1\n    b -> a: b.rs:2"]
    );
}

/// A component larger than its shortest circle is named whole, with all its imports.
#[test]
fn a_longer_circle_names_all_its_modules() {
    let crate_files = files(&[
        ("a.rs", "use crate::{b, d::X};\n"),
        ("b.rs", "use crate::c;\n"),
        ("c.rs", "use crate::a;\n"),
        ("d.rs", "use crate::b;\n"),
    ]);
    let problems = import_circles("x", "", &crate_files);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("x: import circle a -> b -> c -> a (all of a, b, c, d are in one circle)"),
        "{problems:?}"
    );
    assert!(
        problems[0].ends_with("\n    a -> d: a.rs:1\n    d -> b: d.rs:1"),
        "{problems:?}"
    );
}

/// `crate::` in comments, doc comments, literals and test code is no import.
#[test]
fn crate_paths_in_comments_strings_and_test_code_are_not_counted() {
    let a = r####"
// use crate::b;
/// [`crate::b::X`]
//! crate::b
/* crate::b /* nested */ crate::b */
fn f() -> &'static str {
    let _c = '"';
    let _s = "crate::b \" crate::b";
    let _r = r##"crate::b "# crate::b"##;
    let _b = br"crate::b";
    "crate::b"
}
#[cfg(test)]
mod tests {
    use crate::b;
}
"####;
    let crate_files = files(&[
        ("a.rs", a),
        ("a/tests.rs", "use crate::b;"),
        ("tests.rs", "use crate::b;"),
        ("b.rs", "use crate::a;"),
    ]);
    assert_eq!(import_circles("x", "", &crate_files), Vec::<String>::new());
}

/// `use` groups, `super::` chains (inside inline modules too) and `self::` name the right modules.
#[test]
fn use_groups_super_and_inline_modules_resolve_to_the_modules_they_name() {
    let crate_files = files(&[
        ("p/mod.rs", "mod x;\nmod y;\n"),
        ("p/x.rs", "use super::super::q::Z;\nuse super::{y, Item};\n"),
        (
            "p/y.rs",
            "use crate::{p::Other, r};\nmod inner {\n    use super::super::x::A;\n}\n",
        ),
        ("q.rs", "pub(crate) fn f() { super::p::g(); }\n"),
        ("r.rs", "use self::sub::T;\n"),
        ("r/sub.rs", ""),
    ]);
    let graphs = module_graphs(&crate_files);
    let edges = |parent: &str| -> Vec<(String, String)> {
        graphs[parent]
            .iter()
            .flat_map(|(from, to)| to.keys().map(|t| (from.clone(), t.clone())))
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(edges(""), [pair("p", "q"), pair("p", "r"), pair("q", "p")]);
    assert_eq!(edges("p"), [pair("p::x", "p::y"), pair("p::y", "p::x")]);
    let problems = import_circles("x", "", &crate_files);
    assert!(
        problems[0].starts_with("x: import circle p -> q -> p\n"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("x: import circle p::x -> p::y -> p::x\n"),
        "{problems:?}"
    );
}

/// A function of `lines` lines in all, from its `fn` line to its closing brace, with braces in
/// literals and comments along the way.
fn function_of(lines: usize) -> String {
    let mut text = String::from("pub fn long() {\n");
    let body = [
        "    let _a = '{';",
        "    let _b = \"}\";",
        "    let _c = r#\"}\"#; // }",
        "    /* { */",
    ];
    for k in 0..lines - 2 {
        text += body[k % body.len()];
        text += "\n";
    }
    text + "}\n"
}

/// Lengths count from the `fn` line to the closing brace, past braces in literals and comments.
#[test]
fn a_function_of_81_lines_is_caught_and_one_of_80_is_not() {
    let source = format!(
        "fn short() {{}}\n{}\ntrait T {{ fn declared(&self); }}\n",
        function_of(81)
    );
    let spans = function_spans(&source);
    let long = FunctionSpan {
        name: "long".to_owned(),
        line: 2,
        lines: 81,
    };
    let short = FunctionSpan {
        name: "short".to_owned(),
        line: 1,
        lines: 1,
    };
    assert_eq!(spans, [short, long]);
    assert_eq!(function_spans(&function_of(80))[0].lines, 80);

    let found = vec![(
        "src/a.rs".to_owned(),
        function_spans(&function_of(81)).remove(0),
    )];
    assert_eq!(
        long_function_problems(&found, &[]),
        ["src/a.rs:1: fn long is 81 lines long"]
    );
    assert!(long_function_problems(&found, &[("src/a.rs", "long", "a kernel")]).is_empty());
    let stale = long_function_problems(&[], &[("src/a.rs", "long", "a kernel")]);
    assert!(stale[0].contains("remove the entry"), "{stale:?}");
}

/// A dependency on a higher layer and a crate in no layer fail; a layer's absent crate does not.
#[test]
fn layers_refuse_upward_dependencies_and_unlisted_crates_but_not_absent_ones() {
    let krate = |name: &str, deps: &[&str]| CrateDeps {
        name: name.to_owned(),
        manifest: format!("crates/{name}/Cargo.toml"),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    };
    let layers: &[&[&str]] = &[&["low"], &["absent"], &["high"]];
    let fine = [krate("low", &[]), krate("high", &["low"])];
    assert!(layer_violations(&fine, layers).is_empty());

    let upward = [krate("low", &["high"]), krate("high", &["low"])];
    let problems = layer_violations(&upward, layers);
    assert!(
        problems[0].contains("crate low (layer 0) depends on high (layer 2)"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("circle: high -> low -> high"),
        "{problems:?}"
    );

    let unlisted = [krate("low", &[]), krate("new", &["low"])];
    let problems = layer_violations(&unlisted, layers);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("crate new (crates/new/Cargo.toml) is in no layer"));
}
