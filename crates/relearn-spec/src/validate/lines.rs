//! Where a key is written in a config file, for messages that name its line.

/// The line of dotted `key`, else of the nearest enclosing table's header that is written
/// (a missing key is placed at its table's header, when there is one).
pub(crate) fn key_or_table_line(text: &str, key: &str) -> Option<usize> {
    key_line(text, key).or_else(|| {
        let mut table = key;
        while let Some((outer, _)) = table.rsplit_once('.') {
            table = outer;
            if let Some(line) = key_line(text, table) {
                return Some(line);
            }
        }
        None
    })
}

/// The 1-based line where dotted `key` (e.g. `train.lr`, `policy.replay.samples`) is set in
/// TOML `text`: as `key = ...` under its `[table]` header, with any split of the dots between
/// header and key (`[policy.replay]` + `samples`, or `[policy]` + `replay.samples`), or as a
/// table header itself.
pub(crate) fn key_line(text: &str, key: &str) -> Option<usize> {
    fn dotted(k: &str) -> String {
        k.split('.')
            .map(|part| part.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join(".")
    }
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = dotted(header);
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            let full = match current.is_empty() {
                true => dotted(k),
                false => format!("{current}.{}", dotted(k)),
            };
            if full == key {
                return Some(i + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_line_finds_keys_under_their_table() {
        let text = "[run]\nname = \"x\"\n\n[train]\n# lr = 1\nlr = 2\n";
        assert_eq!(key_line(text, "train.lr"), Some(6));
        assert_eq!(key_line(text, "run.name"), Some(2));
        assert_eq!(key_line(text, "train"), Some(4));
        assert_eq!(key_line(text, "model.hidden"), None);
        let text = "[policy]\nreplay.samples = 5\n[policy.drift]\ndelta = 1\n";
        assert_eq!(key_line(text, "policy.replay.samples"), Some(2));
        assert_eq!(key_line(text, "policy.drift.delta"), Some(4));
        assert_eq!(key_line(text, "policy.drift"), Some(3));
    }

    /// A key that is not written is placed at the header of the nearest table that is.
    #[test]
    fn a_missing_key_falls_back_to_its_table() {
        let text = "[run]\nname = \"x\"\n[policy.drift]\ndelta = 1\n";
        assert_eq!(key_or_table_line(text, "policy.drift.threshold"), Some(3));
        assert_eq!(key_or_table_line(text, "run.seed"), Some(1));
        assert_eq!(key_or_table_line(text, "train.lr"), None);
    }
}
