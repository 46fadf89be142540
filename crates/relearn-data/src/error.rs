//! The crate's error type.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while opening, validating or reading a stream, or while
/// decoding and checking preprocessing state.
///
/// Messages say what is wrong, where (file, 1-based row counting the header as row 1,
/// column name, or config key) and how to fix it. Every variant is a user error (bad input,
/// exit code 2) except those for which [`DataError::is_user_error`] returns `false`: an I/O
/// failure while reading an already-validated file, a file that changed after it was
/// validated, and unreadable preprocessing state (a corrupt checkpoint).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The CSV file does not exist.
    #[error("{}: no such file (check the path in data.csv or on the command line; config paths are relative to the config file's folder)", .path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// `data.path` is a folder or glob with no data files.
    #[error("{}: no data files (a folder is read for .csv, .tsv, .txt, .parquet and .pq files, names starting with . or _ left out; a glob must match at least one file)", .path.display())]
    NoDataFiles {
        /// The folder or pattern.
        path: PathBuf,
    },
    /// `data.path` holds a malformed glob pattern.
    #[error("{}: not a valid glob pattern: {message} (use * for any part of a name, ? for one character, [abc] for a set)", .path.display())]
    Glob {
        /// The pattern.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Files of one stream sit under different partition folders (`key=value`).
    #[error("{}: its partition folders are {} but those of {} are {}: every file of a stream needs the same key=value folders, in the same order", .path.display(), partition_list(.found), .first.display(), partition_list(.expected))]
    PartitionMismatch {
        /// The file that differs.
        path: PathBuf,
        /// Its partition keys.
        found: Vec<String>,
        /// The first file's partition keys.
        expected: Vec<String>,
        /// The first file.
        first: PathBuf,
    },
    /// A file of a stream whose columns differ from the first file's.
    #[error("{}: {column_problem}, unlike {}, the stream's first file, whose columns are {} (every file of a stream needs the same columns in the same order: rewrite it, or move it out of data.path)", .path.display(), .first.display(), list(.expected))]
    SchemaMismatch {
        /// The file that differs.
        path: PathBuf,
        /// What differs, naming the column.
        column_problem: String,
        /// The first file's columns.
        expected: Vec<String>,
        /// The first file.
        first: PathBuf,
    },
    /// Two rows (or two labels) with one `data.id`.
    #[error("{}: row {row}, column \"{column}\": id \"{id}\" is already the id of {first}: with data.id every {what} needs its own id (remove or merge the repeated {what})", .path.display())]
    DuplicateId {
        /// The file of the second one.
        path: PathBuf,
        /// Its row.
        row: u64,
        /// The id column.
        column: Box<str>,
        /// The id.
        id: Box<str>,
        /// Where the first one is.
        first: Box<str>,
        /// "row" or "label".
        what: &'static str,
    },
    /// The CSV file exists but cannot be opened or read during validation.
    #[error("{}: cannot read the file", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an already-validated file failed (not a user error).
    #[error("{}: reading failed", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file changed on disk after it was validated (not a user error).
    #[error("{}: the file changed after it was validated (its size or modification time differs); run the command again", .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The file has no header row.
    #[error("{}: the file is empty (expected a header row naming the columns, then one row per sample)", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Every data row's target is missing.
    #[error("{}: the target column \"{column}\" is missing (blank or a data.missing spelling) in all {rows} data rows, so there is nothing to learn from: check data.target, or data.missing if these cells are real values", .path.display())]
    NoLabelledRows {
        /// The file.
        path: PathBuf,
        /// The target column.
        column: String,
        /// Data rows in the file.
        rows: usize,
    },
    /// The file has a header row but no data rows.
    #[error("{}: the file has a header row but no data rows (add one row per sample below the header)", .path.display())]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// The CSV parser rejected a row (for example an unterminated quote).
    #[error("{}: row {row}: malformed CSV: {message}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// What the parser said.
        message: String,
    },
    /// A row has a different number of fields than the header.
    #[error("{}: row {row} has {found} fields but the header has {expected} (every row needs one value per column: check for missing or extra commas)", .path.display())]
    RaggedRow {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A column named in the config (or needed by a checkpoint) is not in the header.
    #[error("{}: {} column \"{column}\" not found in the header (available columns: {})", .path.display(), .role, list(.available))]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// What the column was wanted for.
        role: ColumnRole,
        /// The missing column.
        column: String,
        /// The header's columns.
        available: Vec<String>,
    },
    /// Feature columns a checkpoint was trained on are missing from a file to score.
    #[error("{}: missing feature column(s) {} that the checkpoint was trained on (available columns: {}; the file needs every feature column, in any order)", .path.display(), quoted(.missing), list(.available))]
    MissingFeatures {
        /// The file.
        path: PathBuf,
        /// The feature columns not found.
        missing: Vec<String>,
        /// The header's columns.
        available: Vec<String>,
    },
    /// A used column name occurs more than once in the header.
    #[error("{}: column \"{column}\" appears more than once in the header (rename one of them)", .path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// `data.features` lists a column twice.
    #[error("{}: data.features lists column \"{column}\" more than once (list each feature once)", .path.display())]
    DuplicateFeature {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// The target column is also listed as a feature.
    #[error("{}: column \"{column}\" is the target (data.target) and is also listed in data.features (remove it from data.features)", .path.display())]
    TargetIsFeature {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// No feature column is left once the target is taken out.
    #[error("{}: no feature columns: the file has only the target column \"{target}\" (add feature columns)", .path.display())]
    NoFeatures {
        /// The file.
        path: PathBuf,
        /// The target column.
        target: String,
    },
    /// A cell of a used column is empty.
    #[error("{}: row {row}, column \"{column}\": the cell is empty (every used cell needs a value: fill or remove the row)", .path.display())]
    EmptyCell {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The column.
        column: String,
    },
    /// A cell that must be numeric does not parse as a number.
    #[error("{}: row {row}, column \"{column}\": \"{value}\" is not a number ({rule})", .path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
        /// Which rule applies, e.g. "every feature cell must be a finite number".
        rule: &'static str,
    },
    /// A numeric cell is NaN (in a spelling that is not in `data.missing`) or infinite (or
    /// too large for a 32-bit float).
    #[error("{}: row {row}, column \"{column}\": \"{value}\" is not a finite number ({reason})", .path.display())]
    NotFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
        /// Why it is refused and how to fix it (NaN and infinity differ).
        reason: &'static str,
    },
    /// A cell or header name is not UTF-8 text (a latin-1 file, say).
    #[error("{}: row {row}, {column}: the cell \"{cell}\" is not UTF-8 text (byte 0x{byte:02X} at byte {offset} of the cell); relearn reads CSV files as UTF-8 and does not guess other encodings: re-encode the file, e.g. from latin-1 with `iconv -f latin1 -t utf-8 IN.csv > OUT.csv`", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// `column "NAME"`, `field N` (past the header's width) or `header column N`.
        column: String,
        /// The first byte that is not part of valid UTF-8.
        byte: u8,
        /// Its 0-based offset in the cell.
        offset: usize,
        /// The cell, non-ASCII bytes escaped (`\xc9`).
        cell: String,
    },
    /// The header reads as one column that holds another delimiter.
    #[error("{}: the header reads as a single column, \"{}\", with the delimiter {}; it contains {}, so the file looks {}-separated: set data.delimiter = {} under [data]", .path.display(), .header.escape_debug(), delimiter_name(*.delimiter), delimiter_name(*.found), delimiter_kind(*.found), delimiter_toml(*.found))]
    Delimiter {
        /// The file.
        path: PathBuf,
        /// The header line as one name.
        header: String,
        /// `data.delimiter`.
        delimiter: u8,
        /// The delimiter the header seems to use.
        found: u8,
    },
    /// `data.task` is not set and the target looks numeric.
    #[error("{stream}: data.task is not set and target \"{column}\" looks numeric ({}): set data.task = \"regression\" or \"classification\" under [data] (without data.task, a target whose cells are all numbers is taken for classes only when it has at most {} distinct values, all integers)", match .fraction { Some(v) => format!("{distinct} distinct values in the initial windows, and \"{v}\" is not an integer"), None => format!("{distinct} distinct values in the initial windows") }, .limit)]
    TaskNotSet {
        /// `csv:<path>`.
        stream: String,
        /// The target column.
        column: String,
        /// Distinct values in the initial windows.
        distinct: usize,
        /// A label that is not an integer, if any.
        fraction: Option<String>,
        /// The most distinct values a numeric target taken for classes may have
        /// (`NUMERIC_TARGET_DISTINCT`).
        limit: usize,
    },
    /// A class label that first occurs after the initial windows.
    #[error("{}: row {row}, column \"{column}\": class label \"{label}\" first appears after the initial windows (their {initial_samples} samples, rows 2 to {}, have only the labels {}); every class must occur in the initial training set: raise window.initial or window.size, or remove these rows", .path.display(), .initial_samples + 1, quoted(.known))]
    LateLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The target column.
        column: String,
        /// The new label.
        label: String,
        /// Samples in the initial windows.
        initial_samples: usize,
        /// Labels seen in the initial windows, in class order.
        known: Vec<String>,
    },
    /// The initial windows of a classification stream hold a single class.
    #[error(
        "{stream}: the initial windows (the first {initial_samples} samples) contain only one class, \"{label}\", in column \"{column}\"; classification needs at least two: raise window.initial or window.size, or set data.task = \"regression\""
    )]
    SingleClass {
        /// `csv:<path>` or `generator:<name>`.
        stream: String,
        /// The target column.
        column: String,
        /// The only label.
        label: String,
        /// Samples in the initial windows.
        initial_samples: usize,
    },
    /// A class label that the checkpoint does not know (eval).
    #[error("{}: row {row}, column \"{column}\": class label \"{label}\" is not one the checkpoint was trained on (known labels: {})", .path.display(), quoted(.known))]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The target column.
        column: String,
        /// The unknown label.
        label: String,
        /// The checkpoint's labels.
        known: Vec<String>,
    },
    /// The stream is too short for the initial windows plus one update window.
    #[error(
        "{stream}: the stream has {samples} samples but window.size = {window_size} with window.initial = {initial_windows} needs at least {needed} ({initial_windows} initial window(s) plus one update window); lower window.size or window.initial, or use a longer stream"
    )]
    TooShort {
        /// `csv:<path>` or `generator:<name>`.
        stream: String,
        /// Samples in the stream.
        samples: usize,
        /// Samples needed.
        needed: usize,
        /// `window.size`.
        window_size: usize,
        /// `window.initial`.
        initial_windows: usize,
    },
    /// A cell of a time column (or of `data.time`) that is not an ISO 8601 date or
    /// timestamp.
    #[error("{}: row {row}, column \"{column}\": {value:?} is not a date or time ({rule})", .path.display())]
    NotATime {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is row 1).
        row: u64,
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
        /// Why it must be a date or time, and how to fix it.
        rule: &'static str,
    },
    /// A row whose `data.time` is before the previous row's.
    #[error("{}: row {row}, column \"{column}\": {} is before {}, the time of row {previous_row}{}: with data.time the rows must be in time order (sort the file by \"{column}\"; rows already trained on must stay as they are)", .path.display(), crate::format_time(*.time), crate::format_time(*.previous), of_other_file(.path, .previous_path))]
    OutOfOrder {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the row (the header is row 1).
        row: u64,
        /// The `data.time` column.
        column: String,
        /// The row's time (microseconds since 1970, UTC).
        time: i64,
        /// The previous row's time.
        previous: i64,
        /// The previous row's line.
        previous_row: u64,
        /// The previous row's file (another one when the row is the first of its file).
        previous_path: PathBuf,
    },
    /// `data.time` is the target or a listed feature.
    #[error("{}: column \"{column}\" is data.time, {why}", .path.display())]
    TimeColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// What else it was named as, and what to do.
        why: &'static str,
    },
    /// A stream cut by time with too few periods.
    #[error(
        "{stream} holds rows in {periods} {noun}(s) (window.every = \"{every}\"), but the run needs window.initial = {initial_windows} {noun}(s) for the initial model, one to update on, and a later row that closes it (the last {noun} in the file waits for more rows until a row of a later one arrives): add rows, or use a shorter window.every"
    )]
    TooFewPeriods {
        /// `csv:<path>`.
        stream: String,
        /// Periods with rows in the file.
        periods: usize,
        /// `window.every` as written.
        every: String,
        /// What a period is called.
        noun: String,
        /// `window.initial`.
        initial_windows: usize,
    },
    /// A stream with `data.labels` in which too few periods have closed.
    #[error(
        "{stream}: {closed} {noun}(s) with labelled rows have closed, but the run needs window.initial = {initial_windows} for the initial model and one to update on; a {noun} closes window.label_delay = \"{wait}\" after it ends, once the labels' clock (the latest label time, or row time when the labels have no time column) passes that moment: wait for more labels, or shorten window.label_delay"
    )]
    TooFewClosed {
        /// `csv:<path>`.
        stream: String,
        /// Periods with labelled rows that have closed.
        closed: usize,
        /// What a period is called.
        noun: String,
        /// `window.label_delay` as written.
        wait: String,
        /// `window.initial`.
        initial_windows: usize,
    },
    /// A file that is not a complete, readable Parquet file: not Parquet at all, cut short
    /// (perhaps still being written), encrypted, or with a corrupt footer.
    #[error("{}: {message}", .path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A Parquet column of a type relearn does not read as text cells: nested, repeated,
    /// or a type such as a time of day, UUID or JSON.
    #[error("{}: column \"{column}\" is {found}, which relearn does not read (it reads flat columns of integers, floats, decimals, strings, booleans, dates and timestamps): {fix}", .path.display())]
    ParquetColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its type, e.g. `a list (a nested column)` or `INT64 with logical type Time(..)`.
        found: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// A Parquet row group whose pages cannot be read: a corrupt page, or an I/O failure.
    #[error("{}: row group {row_group} (0-based, of {row_groups}; rows {first_row} to {last_row} of the file), column \"{column}\": cannot be read: {message} (the file is corrupt or changed while it was read: write it again)", .path.display())]
    ParquetRead {
        /// The file.
        path: PathBuf,
        /// The row group's 0-based index (as pyarrow's `read_row_group` counts).
        row_group: usize,
        /// Row groups in the file.
        row_groups: usize,
        /// The group's first row (1-based, of the file's rows).
        first_row: u64,
        /// The group's last row.
        last_row: u64,
        /// The column.
        column: String,
        /// What the Parquet reader said.
        message: String,
    },
    /// A Parquet string that is not UTF-8 text.
    #[error("{}: row {row}, column \"{column}\": the string \"{cell}\" is not UTF-8 text (byte 0x{byte:02X} at byte {offset} of it); relearn reads Parquet strings as UTF-8: write the column as UTF-8 strings", .path.display())]
    ParquetNotUtf8 {
        /// The file.
        path: PathBuf,
        /// The row: 1-based, of the file's rows (the first row is 1).
        row: u64,
        /// The column.
        column: String,
        /// The first byte that is not part of valid UTF-8.
        byte: u8,
        /// Its 0-based offset in the string.
        offset: usize,
        /// The string, non-ASCII bytes escaped (`\xc9`).
        cell: String,
    },
    /// A configuration value is out of range; the message starts with the config key.
    #[error("{key}: {message}")]
    Config {
        /// The config key, e.g. `data.noise` or `window.size`.
        key: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Stored preprocessing state cannot be decoded (not a user error).
    #[error(
        "preprocessing state is unreadable: {message} (the checkpoint may be corrupt: run `relearn verify`)"
    )]
    BadPreprocessor {
        /// What is wrong.
        message: String,
    },
    /// The stream does not match the preprocessing state of a checkpoint.
    #[error("the data does not match the checkpoint: {message}")]
    Incompatible {
        /// What differs.
        message: String,
    },
}

impl DataError {
    /// Whether the error is the user's to fix (bad input or config: exit code 2). `false`
    /// for failures of the work itself (exit code 1): I/O errors while reading a file that
    /// was already validated, a file that changed after validation, and corrupt
    /// preprocessing state.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            DataError::Io { .. } | DataError::Changed { .. } | DataError::BadPreprocessor { .. }
        )
    }

    /// The process exit code the contract assigns to this error: 2 for user errors, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.is_user_error() { 2 } else { 1 }
    }

    /// The error for an I/O failure while opening or validating `path`.
    pub(crate) fn open(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            DataError::Open {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// ` of FILE` when `other` is not `path`, else nothing.
fn of_other_file(path: &Path, other: &Path) -> String {
    if path == other {
        String::new()
    } else {
        format!(" of {}", other.display())
    }
}

/// Partition keys as messages show them: `date=…/region=…`, or "none".
fn partition_list(keys: &[String]) -> String {
    if keys.is_empty() {
        "none".to_string()
    } else {
        keys.iter()
            .map(|k| format!("{k}=…"))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What a column is wanted for, in [`DataError::UnknownColumn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// The target column (`data.target`, or the target of `eval`).
    Target,
    /// A feature column listed in `data.features`.
    Feature,
    /// A column given a type under `[data.columns]`.
    Typed,
    /// The column named by `data.time`.
    Time,
    /// The column named by `data.id`.
    Id,
}

impl fmt::Display for ColumnRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnRole::Target => "target",
            ColumnRole::Feature => "feature",
            ColumnRole::Typed => "[data.columns]",
            ColumnRole::Time => "data.time",
            ColumnRole::Id => "data.id",
        })
    }
}

/// How a message names a delimiter: `","`, `tab`.
fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".to_string(),
        d => format!("\"{}\"", d.escape_ascii()),
    }
}

/// What a file separated by `d` is called: `tab`-separated, `semicolon`-separated.
fn delimiter_kind(d: u8) -> String {
    match d {
        b'\t' => "tab".to_string(),
        b';' => "semicolon".to_string(),
        b',' => "comma".to_string(),
        b'|' => "pipe".to_string(),
        d => format!("\"{}\"", d.escape_ascii()),
    }
}

/// The TOML value of `data.delimiter` for `d`: `"\t"`, `";"`.
fn delimiter_toml(d: u8) -> String {
    match d {
        b'\t' => "\"\\t\"".to_string(),
        d => format!("\"{}\"", d.escape_ascii()),
    }
}

/// `a, b, c` (or `(none)`).
fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// `"a", "b", "c"` (or `(none)`): names or cells as a message quotes them, escaped as Rust
/// strings are.
pub fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
