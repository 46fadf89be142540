//! The files behind `data.path`: one file, a folder or a glob, resolved into data files in
//! reading order ([`DataFiles`]).
//!
//! A folder is walked recursively for `.csv`, `.tsv`, `.txt`, `.parquet` and `.pq` files
//! (a glob takes the files of those kinds it matches, and walks the folders it matches);
//! names starting with `.` or `_` (hidden files, Spark's `_SUCCESS`, `_temporary/`) are
//! left out, so a writer can write under such a name and rename when done. Files are read
//! in name order, comparing runs of digits as numbers (`part-2` before `part-10`,
//! `hour=9` before `hour=10`). Folder names `key=value` between the root and a file (Hive
//! partitioning, as Spark, pyarrow and polars write it) are partition columns: each row of
//! the file gets a cell `value` in column `key`, after the file's own columns.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// How a data file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    /// Delimited text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// One data file of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    /// Where it is.
    pub(crate) path: PathBuf,
    /// Its path relative to `data.path` (for one file: its file name), `/`-separated: how
    /// messages and checkpoints name it.
    pub(crate) name: String,
    /// CSV or Parquet.
    pub(crate) format: FileFormat,
    /// Partition columns from its folders' `key=value` names, outermost first.
    pub(crate) partition: Vec<(String, String)>,
}

impl DataFile {
    /// Its name without the format's extension (`date=2026-12-01/part-0`): how a run
    /// records the files it trained on, so that a folder converted from CSV to Parquet keeps
    /// the run's checkpoint ids.
    pub(crate) fn part_name(&self) -> String {
        match self.name.rsplit_once('.') {
            Some((stem, ext))
                if !stem.ends_with('/')
                    && DATA_EXTENSIONS.iter().any(|x| ext.eq_ignore_ascii_case(x)) =>
            {
                stem.to_string()
            }
            _ => self.name.clone(),
        }
    }
}

/// The data files of `data.path`, in reading order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFiles {
    files: Vec<DataFile>,
    /// `data.path` is a folder or a glob (not one file).
    folder: bool,
}

/// File name extensions a folder walk reads (compared without case).
const DATA_EXTENSIONS: [&str; 5] = ["csv", "tsv", "txt", "parquet", "pq"];

impl DataFiles {
    /// Resolves `path`: a file or folder when one is there, else a glob when it holds `*`,
    /// `?` or `[`. An error when nothing matches, a glob is malformed, or partition folders
    /// disagree. A file a glob reaches twice (`events/**`) is read once.
    pub(crate) fn resolve(path: &Path) -> Result<DataFiles, DataError> {
        let text = path.to_string_lossy();
        let glob = text.contains(['*', '?', '[']) && std::fs::metadata(path).is_err();
        let meta = match glob {
            true => None,
            false => Some(std::fs::metadata(path).map_err(|e| DataError::open(path, e))?),
        };
        let folder = meta.as_ref().is_none_or(|m| m.is_dir());
        let files = if glob {
            glob_files(path, &text)?
        } else {
            if folder {
                let mut found = Vec::new();
                walk(path, path, &mut found)?;
                found
            } else {
                let name = path
                    .file_name()
                    .map_or_else(|| text.to_string(), |n| n.to_string_lossy().into_owned());
                vec![data_file(path.to_path_buf(), name, Vec::new())]
            }
        };
        if files.is_empty() {
            return Err(DataError::NoDataFiles {
                path: path.to_path_buf(),
            });
        }
        let mut files = files;
        files.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        files.dedup_by(|a, b| a.path == b.path);
        check_partitions(&files)?;
        Ok(DataFiles { files, folder })
    }

    /// Whether `data.path` is a folder or a glob rather than one file.
    pub(crate) fn is_folder(&self) -> bool {
        self.folder
    }

    /// The files, in reading order.
    pub(crate) fn files(&self) -> &[DataFile] {
        &self.files
    }

    /// File `i`'s path.
    pub(crate) fn path(&self, i: usize) -> &Path {
        &self.files[i].path
    }

    /// The partition column names (those of every file).
    pub(crate) fn partition_columns(&self) -> Vec<String> {
        self.files[0]
            .partition
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// A data file at `path`: Parquet when its name ends in `.parquet` or `.pq` or its first
/// bytes are Parquet's magic `PAR1`, else CSV.
fn data_file(path: PathBuf, name: String, partition: Vec<(String, String)>) -> DataFile {
    let format = if has_extension(&path, &["parquet", "pq"]) || starts_with_par1(&path) {
        FileFormat::Parquet
    } else {
        FileFormat::Csv
    };
    DataFile {
        path,
        name,
        format,
        partition,
    }
}

/// Whether `path`'s extension is one of `exts` (without case).
fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Whether the file at `path` starts with Parquet's magic bytes.
fn starts_with_par1(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"PAR1"
}

/// Whether a file or folder name is left out of a walk: hidden or `_`-prefixed.
fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Adds the data files under `dir` (recursively) to `found`, named relative to `root`.
fn walk(root: &Path, dir: &Path, found: &mut Vec<DataFile>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::open(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::open(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if skipped_name(&name) {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| DataError::open(&path, e))?;
        if meta.is_dir() {
            walk(root, &path, found)?;
        } else if has_extension(&path, &DATA_EXTENSIONS) {
            let relative = relative_name(root, &path);
            let partition = partition_of(&relative);
            found.push(data_file(path, relative, partition));
        }
    }
    Ok(())
}

/// The files a glob pattern matches (folders it matches are walked), named relative to the
/// pattern's longest folder prefix without wildcards.
fn glob_files(path: &Path, pattern: &str) -> Result<Vec<DataFile>, DataError> {
    let paths = glob::glob(pattern).map_err(|e| DataError::Glob {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let root = glob_root(path);
    let mut found = Vec::new();
    for matched in paths {
        let matched = matched.map_err(|e| {
            let at = e.path().to_path_buf();
            DataError::open(&at, e.into())
        })?;
        let relative = relative_name(&root, &matched);
        if relative.split('/').any(skipped_name) {
            continue;
        }
        if matched.is_dir() {
            walk(&root, &matched, &mut found)?;
        } else if has_extension(&matched, &DATA_EXTENSIONS) {
            let partition = partition_of(&relative);
            found.push(data_file(matched, relative, partition));
        }
    }
    Ok(found)
}

/// The folders of `pattern` before its first component with a wildcard, less the
/// partition folders (`key=value`) that end them: file names and partition columns are
/// taken relative to it.
pub(crate) fn glob_root(pattern: &Path) -> PathBuf {
    let mut root: Vec<_> = pattern
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    while root
        .last()
        .is_some_and(|c| c.as_os_str().to_string_lossy().contains('='))
    {
        root.pop();
    }
    root.into_iter().collect()
}

/// `path` relative to `root`, `/`-separated.
fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `key=value` folder names of `relative` (its last component, the file, excluded),
/// values percent-decoded as Hive writes them (`%3A` for `:`).
fn partition_of(relative: &str) -> Vec<(String, String)> {
    let mut parts: Vec<&str> = relative.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

/// `%XX` escapes decoded (an invalid escape is kept as written).
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every file must have the same partition columns, in the same order.
fn check_partitions(files: &[DataFile]) -> Result<(), DataError> {
    let keys = |f: &DataFile| {
        f.partition
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    let first = keys(&files[0]);
    match files.iter().find(|f| keys(f) != first) {
        None => Ok(()),
        Some(other) => Err(DataError::PartitionMismatch {
            path: other.path.clone(),
            found: keys(other),
            expected: first,
            first: files[0].path.clone(),
        }),
    }
}

/// Compares names as people sort them: runs of ASCII digits by value, the rest bytewise.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (ei, ej) = (digit_run(a, i), digit_run(b, j));
            let (na, nb) = (trim_zeros(&a[i..ei]), trim_zeros(&b[j..ej]));
            let by_value = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            // Equal values: fewer leading zeros first, so the order is total.
            match by_value.then_with(|| (ei - i).cmp(&(ej - j))) {
                Ordering::Equal => (i, j) = (ei, ej),
                unequal => return unequal,
            }
        } else if a[i] != b[j] {
            return a[i].cmp(&b[j]);
        } else {
            (i, j) = (i + 1, j + 1);
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// The end of the run of digits starting at `i`.
fn digit_run(s: &[u8], i: usize) -> usize {
    i + s[i..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `digits` without leading zeros.
fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_with_numbers_by_value() {
        let mut names = vec![
            "hour=10/part-0.csv",
            "hour=9/part-10.csv",
            "hour=9/part-2.csv",
            "date=2026-12-01/a.csv",
            "date=2026-11-30/a.csv",
            "x01",
            "x1",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            vec![
                "date=2026-11-30/a.csv",
                "date=2026-12-01/a.csv",
                "hour=9/part-2.csv",
                "hour=9/part-10.csv",
                "hour=10/part-0.csv",
                "x1",
                "x01",
            ]
        );
    }

    #[test]
    fn partitions_come_from_folder_names() {
        assert_eq!(
            partition_of("region=eu/date=2026-12-01/part-0.parquet"),
            vec![
                ("region".to_string(), "eu".to_string()),
                ("date".to_string(), "2026-12-01".to_string())
            ]
        );
        assert_eq!(
            partition_of("ts=2026-12-01 13%3A00%3A00/a.csv"),
            vec![("ts".to_string(), "2026-12-01 13:00:00".to_string())]
        );
        assert!(partition_of("a=b.csv").is_empty());
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn a_folder_is_walked_in_name_order_skipping_hidden_and_underscore_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "day=10/part-0.csv",
            "day=9/part-1.csv",
            "day=9/part-0.csv",
            "day=9/.part-2.csv.crc",
            "day=9/_SUCCESS",
            "_temporary/day=11/part-0.csv",
            "day=9/notes.md",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x,y\n1,2\n").unwrap();
        }
        let files = DataFiles::resolve(dir.path()).unwrap();
        let names: Vec<&str> = files.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["day=9/part-0.csv", "day=9/part-1.csv", "day=10/part-0.csv"]
        );
        assert_eq!(files.partition_columns(), vec!["day".to_string()]);
        let glob = dir.path().join("day=9/*.csv");
        let files = DataFiles::resolve(&glob).unwrap();
        let names: Vec<&str> = files.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["day=9/part-0.csv", "day=9/part-1.csv"]);
        // `**` matches the folders and the files in them: each file is read once.
        let files = DataFiles::resolve(&dir.path().join("**/*")).unwrap();
        let names: Vec<&str> = files.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["day=9/part-0.csv", "day=9/part-1.csv", "day=10/part-0.csv"]
        );
        // A path with `[` that exists is that path, not a pattern.
        let odd = dir.path().join("exp[2]");
        std::fs::create_dir_all(&odd).unwrap();
        std::fs::write(odd.join("a.csv"), "x,y\n1,2\n").unwrap();
        let files = DataFiles::resolve(&odd).unwrap();
        assert_eq!(files.files()[0].name, "a.csv");
    }

    #[test]
    fn empty_folders_and_mixed_partitions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = DataFiles::resolve(dir.path()).unwrap_err();
        assert!(matches!(err, DataError::NoDataFiles { .. }), "{err}");
        for name in ["day=1/a.csv", "b.csv"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x,y\n1,2\n").unwrap();
        }
        let err = DataFiles::resolve(dir.path()).unwrap_err();
        assert!(matches!(err, DataError::PartitionMismatch { .. }), "{err}");
        let err = DataFiles::resolve(&dir.path().join("nothing-*.csv")).unwrap_err();
        assert!(matches!(err, DataError::NoDataFiles { .. }), "{err}");
    }
}
