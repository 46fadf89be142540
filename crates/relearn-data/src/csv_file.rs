//! Tabular streams (a CSV file, or a folder of CSV and Parquet files read as text records
//! by [`Records`]): one validating pass at open, then window-by-window reading; and
//! [`read_labelled_csv`] for scoring whole (small) files.
//!
//! Cells are trimmed of surrounding whitespace; blank lines are skipped. Row numbers in
//! errors are 1-based line numbers of the file, the header being row 1 (for Parquet: the
//! 1-based row).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use csv::ByteRecord;

use crate::batch::Batch;
use crate::error::{ColumnRole, DataError};
use crate::files::DataFiles;
use crate::info::CategoricalColumn;
use crate::preprocess::Preprocessor;
use crate::records::{
    FileStamp, JoinCounts, LabelJoin, LabelTable, MissingTokens, Pos, ReadOptions, Records,
    csv_delimiter, find_column, is_missing, not_utf8,
};
use crate::source::{ColumnKind, CsvSource, NUMERIC_TARGET_DISTINCT, Task};
use crate::time::{Every, TimeEncoder, parse_time};

/// Rule quoted when a feature cell is not a number.
const FEATURE_RULE: &str = "every feature cell must be a finite number";
/// Rule quoted when a regression target is not a number.
const TARGET_RULE: &str = "a regression target must be a finite number";

/// Errors unless every field of `rec` is UTF-8 text, naming the first one that is not.
fn check_utf8(path: &Path, header: &[String], rec: &ByteRecord, row: Pos) -> Result<(), DataError> {
    if std::str::from_utf8(rec.as_slice()).is_ok() {
        return Ok(());
    }
    let (i, field) = rec
        .iter()
        .enumerate()
        .find(|(_, f)| std::str::from_utf8(f).is_err())
        .expect("a field is not UTF-8");
    let column = match header.get(i) {
        Some(name) => format!("column \"{name}\""),
        None => format!("field {}", i + 1),
    };
    Err(not_utf8(path, row.line(path), column, field))
}

/// A header read as a single column whose name holds another delimiter than `delimiter`
/// (tab, `;`, `,` or `|`): the delimiter the file seems to use.
fn other_delimiter(header: &[String], delimiter: u8) -> Option<u8> {
    match header {
        [only] => [b'\t', b';', b',', b'|']
            .into_iter()
            .filter(|&d| d != delimiter)
            .find(|&d| only.as_bytes().contains(&d)),
        _ => None,
    }
}

/// Parses one numeric cell (`f32`, finite).
fn parse_cell(
    path: &Path,
    row: Pos,
    column: &str,
    bytes: &[u8],
    rule: &'static str,
) -> Result<f32, DataError> {
    let not_finite = |reason| DataError::NotFinite {
        path: path.to_path_buf(),
        row: row.line(path),
        column: column.to_string(),
        value: String::from_utf8_lossy(bytes).into_owned(),
        reason,
    };
    match read_number(bytes) {
        Ok(v) => Ok(v),
        Err(BadNumber::NaN) => Err(not_finite(
            "NaN is read as a missing value only when its spelling is listed in data.missing (the default list has \"NaN\" but not other spellings): add this spelling to data.missing, or write a blank cell",
        )),
        Err(BadNumber::Infinite) => Err(not_finite(
            "infinite values, and values beyond a 32-bit float (about 3.4e38 in magnitude), are not allowed: replace them with a finite number, or with a blank cell or a data.missing spelling to read them as missing",
        )),
        Err(BadNumber::Empty) => Err(empty_cell(path, row, column)),
        Err(BadNumber::Text) => Err(DataError::NotANumber {
            path: path.to_path_buf(),
            row: row.line(path),
            column: column.to_string(),
            value: String::from_utf8_lossy(bytes).into_owned(),
            rule,
        }),
    }
}

/// Why a cell is not a finite `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadNumber {
    /// A spelling of NaN.
    NaN,
    /// Infinite, or beyond `f32`'s range.
    Infinite,
    /// An empty cell.
    Empty,
    /// Not a number at all.
    Text,
}

/// A (trimmed) cell read as a finite `f32`: the one number parser of every feature and
/// regression target, in a file or in a server's request.
pub(crate) fn read_number(bytes: &[u8]) -> Result<f32, BadNumber> {
    match std::str::from_utf8(bytes) {
        Ok(text) => read_number_str(text),
        Err(_) => Err(BadNumber::Text),
    }
}

/// [`read_number`] of a cell already known to be text.
pub(crate) fn read_number_str(text: &str) -> Result<f32, BadNumber> {
    let bytes = text.as_bytes();
    match text.parse::<f32>().ok() {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) if v.is_nan() => Err(BadNumber::NaN),
        Some(_) => Err(BadNumber::Infinite),
        None if bytes.is_empty() => Err(BadNumber::Empty),
        None => Err(BadNumber::Text),
    }
}

/// Checks a numeric cell without converting it: a plain decimal (`[+-]?(d+(.d*)?|.d+)`
/// with at most 38 integer digits) is always a finite `f32`, so only other spellings go
/// through [`parse_cell`]. Accepts exactly what `parse_cell` accepts.
fn check_cell(
    path: &Path,
    row: Pos,
    column: &str,
    bytes: &[u8],
    rule: &'static str,
) -> Result<(), DataError> {
    if plain_decimal(bytes) {
        Ok(())
    } else {
        parse_cell(path, row, column, bytes, rule).map(drop)
    }
}

/// Whether `b` is `[+-]?(d+(.d*)?|.d+)` with at most 38 integer digits: a number that
/// `str::parse::<f32>` accepts and that is below `f32::MAX` in magnitude.
fn plain_decimal(b: &[u8]) -> bool {
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = &b[int..];
    let frac = match rest.first() {
        None => 0,
        Some(b'.') => {
            let frac = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if frac + 1 != rest.len() {
                return false;
            }
            frac
        }
        Some(_) => return false,
    };
    int + frac > 0 && int <= 38
}

fn empty_cell(path: &Path, row: Pos, column: &str) -> DataError {
    DataError::EmptyCell {
        path: path.to_path_buf(),
        row: row.line(path),
        column: column.to_string(),
    }
}

/// Class order: numeric if every label is a finite number (`"2" < "10"`), else
/// lexicographic (byte order).
pub(crate) fn sort_labels(mut labels: Vec<String>) -> Vec<String> {
    let values: Option<Vec<f64>> = labels
        .iter()
        .map(|l| l.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    match values {
        Some(values) => {
            let mut pairs: Vec<(f64, String)> = values.into_iter().zip(labels).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            pairs.into_iter().map(|(_, l)| l).collect()
        }
        None => {
            labels.sort();
            labels
        }
    }
}

/// A class label's numeric value, when it is a finite number (`-0` reads as `0`).
fn label_value(label: &str) -> Option<f64> {
    label
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v + 0.0)
}

/// The classes of a classification stream and how each label spelling maps to one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassMap {
    /// The initial windows' classes, in class order.
    pub(crate) classes: Vec<String>,
    /// Classes first seen later, in order of appearance.
    pub(crate) later: Vec<String>,
    /// Every spelling -> class id.
    pub(crate) index: HashMap<String, usize>,
}

impl ClassMap {
    /// The classes of labels `initial` (the initial windows', in order of first
    /// appearance) and `later` (first seen after them, in order), as written.
    ///
    /// When every label is a finite number, labels are compared by value: `1`, `1.0`,
    /// `01` and `1e0` are one class, named by its first spelling in the file; classes are
    /// ordered by value. Otherwise labels are compared as text and the initial ones ordered
    /// by [`sort_labels`]. Labels that are all distinct numbers get exactly the names and
    /// order they had before labels were compared by value.
    pub(crate) fn of(initial: Vec<String>, later: Vec<String>) -> ClassMap {
        let values: Option<Vec<f64>> = initial
            .iter()
            .chain(&later)
            .map(|l| label_value(l))
            .collect();
        let Some(values) = values else {
            let classes = sort_labels(initial);
            let index = classes
                .iter()
                .chain(&later)
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect();
            return ClassMap {
                classes,
                later,
                index,
            };
        };
        let (initial_values, later_values) = values.split_at(initial.len());
        // The first spelling of each value among the initial labels, ordered by value.
        let mut named: Vec<(f64, &String)> = Vec::new();
        let mut seen: HashSet<u64> = HashSet::new();
        for (v, l) in initial_values.iter().zip(&initial) {
            if seen.insert(v.to_bits()) {
                named.push((*v, l));
            }
        }
        named.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut id_of: HashMap<u64, usize> = named
            .iter()
            .enumerate()
            .map(|(i, (v, _))| (v.to_bits(), i))
            .collect();
        let classes: Vec<String> = named.iter().map(|(_, l)| (*l).clone()).collect();
        let mut index: HashMap<String, usize> = initial
            .iter()
            .zip(initial_values)
            .map(|(l, v)| (l.clone(), id_of[&v.to_bits()]))
            .collect();
        let mut new = Vec::new();
        for (l, v) in later.into_iter().zip(later_values) {
            let next = classes.len() + new.len();
            let id = *id_of.entry(v.to_bits()).or_insert_with(|| {
                new.push(l.clone());
                next
            });
            index.insert(l, id);
        }
        ClassMap {
            classes,
            later: new,
            index,
        }
    }
}

/// Without `data.task`, a target that looks numeric is refused rather than taken for
/// classes: every label of the initial windows (`labels`, distinct spellings) a finite
/// number, with more than [`NUMERIC_TARGET_DISTINCT`] distinct values or one that is not
/// an integer.
fn check_task_given(src: &CsvSource, labels: &[String]) -> Result<(), DataError> {
    if src.task_given || src.task != Task::Classification {
        return Ok(());
    }
    let Some(values) = labels
        .iter()
        .map(|l| label_value(l))
        .collect::<Option<Vec<f64>>>()
    else {
        return Ok(());
    };
    let distinct: HashSet<u64> = values.iter().map(|v| v.to_bits()).collect();
    let fraction = labels
        .iter()
        .zip(&values)
        .find(|(_, v)| v.fract() != 0.0)
        .map(|(l, _)| l.clone());
    if distinct.len() > NUMERIC_TARGET_DISTINCT || fraction.is_some() {
        return Err(DataError::TaskNotSet {
            stream: src.label(),
            column: src.target.clone(),
            distinct: distinct.len(),
            fraction,
            limit: NUMERIC_TARGET_DISTINCT,
        });
    }
    Ok(())
}

/// The validated shape of a CSV stream: which columns to read and how to map labels.
#[derive(Debug, Clone)]
pub(crate) struct CsvLayout {
    /// The data files.
    files: Arc<DataFiles>,
    /// Their stamps when validated.
    stamps: Arc<[FileStamp]>,
    /// Samples per file, in order.
    file_samples: Arc<[usize]>,
    n_fields: usize,
    /// Numeric feature columns, in model order.
    feature_cols: Vec<usize>,
    /// The numeric features' names: those of `feature_cols`, then the calendar features of
    /// the time columns.
    feature_names: Vec<String>,
    /// Time feature columns, in file order, with their calendar features (which follow the
    /// numeric columns among the numeric features).
    time_cols: Vec<(usize, TimeEncoder)>,
    /// Categorical feature columns, in file order.
    cat_cols: Vec<usize>,
    target_col: usize,
    target_name: String,
    task: Task,
    /// Classification: label -> class index (initial classes, then later ones).
    labels: HashMap<String, usize>,
    /// Cells read as missing.
    missing: MissingTokens,
    /// `data.delimiter`.
    delimiter: u8,
    /// The text a Parquet null reads as: the first missing-value spelling.
    null: Vec<u8>,
    /// `data.labels`: how rows find their label.
    join: Option<LabelJoin>,
}

impl CsvLayout {
    /// Whether `rec`'s target cell is missing (the row is skipped).
    fn target_missing(&self, rec: &ByteRecord) -> bool {
        // A ragged row has no such field: it is no missing target, and the width check
        // that follows names it.
        rec.get(self.target_col)
            .is_some_and(|c| is_missing(&self.missing, c.trim_ascii()))
    }
}

/// What validation found out about a CSV stream.
pub(crate) struct Validated {
    pub(crate) layout: CsvLayout,
    pub(crate) classes: Vec<String>,
    pub(crate) later_classes: Vec<String>,
    pub(crate) indicators: Vec<usize>,
    pub(crate) categorical: Vec<CategoricalColumn>,
    pub(crate) n_samples: usize,
    /// Data rows skipped for a missing target.
    pub(crate) skipped_rows: usize,
    /// With `window.every`: the periods that hold samples.
    pub(crate) periods: Option<Periods>,
    /// With `data.labels`: what the join found.
    pub(crate) labels: Option<LabelsJoined>,
}

/// What joining `data.labels` to a stream's rows found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelsJoined {
    /// Labels read.
    pub(crate) labels: usize,
    /// Rows that found their label in time, and rows whose label came after their
    /// window closed.
    pub(crate) counts: JoinCounts,
    /// The latest time a label became known.
    pub(crate) latest: Option<i64>,
    /// Whether the labels say when each became known.
    pub(crate) timed: bool,
}

/// The calendar periods of a stream cut by `window.every` that hold samples.
pub(crate) struct Periods {
    pub(crate) every: Every,
    /// Per period with samples, in order: its first sample and its number.
    pub(crate) starts: Vec<(usize, i64)>,
    /// Periods without samples between the first and the last with samples.
    pub(crate) empty: usize,
    /// The latest row time.
    pub(crate) latest: i64,
}

/// Rule quoted when a column inferred numeric holds text after the initial windows.
const INFERRED_NUMERIC_RULE: &str = "every non-missing cell of this column in the initial windows is a number, so it is numeric; if it holds categories, declare it under [data.columns] as \"categorical\"";
/// Rule quoted when a column declared numeric holds text.
const DECLARED_NUMERIC_RULE: &str =
    "[data.columns] declares it \"numeric\"; declare it \"categorical\" if it holds categories";
/// Rule quoted when a column inferred a time holds something else after the initial windows.
const INFERRED_TIME_RULE: &str = "every non-missing cell of this column in the initial windows is a date or time, so it is read as time; write a date (2026-12-01) or timestamp (2026-12-01T13:05:09, optionally with Z or an offset such as +02:00), a blank cell, or declare the column \"categorical\" under [data.columns]";
/// Rule quoted when a column declared a time holds something else.
const DECLARED_TIME_RULE: &str = "[data.columns] declares it \"time\": write a date (2026-12-01) or timestamp (2026-12-01T13:05:09, optionally with Z or an offset such as +02:00), or a blank cell";
/// Rule quoted when a file to score holds something else in a checkpoint's time column.
pub(crate) const CHECKPOINT_TIME_RULE: &str = "the checkpoint reads this column as time: write a date (2026-12-01) or timestamp (2026-12-01T13:05:09, optionally with Z or an offset such as +02:00), or a blank cell";
/// Rule quoted when the `data.time` column holds something else.
const WINDOW_TIME_RULE: &str = "data.time orders the rows, so every row needs a date (2026-12-01) or timestamp (2026-12-01T13:05:09, optionally with Z or an offset such as +02:00)";

/// What the initial windows show of a feature column whose type is inferred.
#[derive(Debug, Clone, Default)]
struct ColumnSeen {
    /// Every non-missing cell so far is a finite number.
    numeric: bool,
    /// A missing cell was seen.
    blank: bool,
    /// Distinct non-missing values (at most `cap + 1` kept).
    distinct: HashSet<Vec<u8>>,
    /// Every non-missing cell so far is an ISO 8601 date or timestamp.
    time: bool,
    /// The column's times so far: the first, the earliest and the latest, and whether one
    /// had a time of day other than midnight.
    times: Option<TimesSeen>,
}

/// What the initial windows show of a time column's values.
#[derive(Debug, Clone, Copy)]
struct TimesSeen {
    first: i64,
    low: i64,
    high: i64,
    clock: bool,
}

impl ColumnSeen {
    /// Notes the time `t` (microseconds since 1970).
    fn note_time(&mut self, t: i64) {
        let clock = t.rem_euclid(86_400_000_000) != 0;
        let seen = self.times.get_or_insert(TimesSeen {
            first: t,
            low: t,
            high: t,
            clock,
        });
        seen.low = seen.low.min(t);
        seen.high = seen.high.max(t);
        seen.clock |= clock;
    }

    /// The calendar-feature encoder of the time column `name`.
    fn time_encoder(&self, name: &str) -> TimeEncoder {
        match self.times {
            Some(s) => TimeEncoder::new(name, s.first, s.low, s.high, s.clock),
            None => TimeEncoder::new(name, 0, 0, 0, false),
        }
    }
}

impl CsvLayout {
    /// The data files with their samples, in order, when `data.path` is a folder or a
    /// glob (named by [`DataFile::part_name`](crate::files::DataFile::part_name)); empty for
    /// one file.
    pub(crate) fn stream_files(&self) -> Vec<crate::StreamFile> {
        if !self.files.is_folder() {
            return Vec::new();
        }
        self.files
            .files()
            .iter()
            .zip(self.file_samples.iter())
            .map(|(f, &samples)| crate::StreamFile {
                name: f.part_name(),
                samples,
            })
            .collect()
    }

    /// The numeric feature names, in model order (those of the time columns' calendar
    /// features last).
    pub(crate) fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The time feature columns' encoders, in file order.
    pub(crate) fn time_encoders(&self) -> Vec<TimeEncoder> {
        self.time_cols.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Parses the numeric features of `rec` into `out` (NaN for a missing cell) and pushes
    /// its categorical cells onto `cats` (`""` for a missing one), after checking the
    /// row's width.
    fn parse_features(
        &self,
        rec: &ByteRecord,
        row: Pos,
        out: &mut [f32],
        cats: &mut Vec<String>,
    ) -> Result<(), DataError> {
        let path = self.files.path(row.file);
        check_width(path, rec, row, self.n_fields)?;
        for ((slot, &col), name) in out
            .iter_mut()
            .zip(&self.feature_cols)
            .zip(&self.feature_names)
        {
            let c = cell(rec, col);
            // A plain decimal is never a missing spelling: only other cells are looked up.
            *slot = if !plain_decimal(c) && is_missing(&self.missing, c) {
                f32::NAN
            } else {
                parse_cell(path, row, name, c, FEATURE_RULE)?
            };
        }
        let mut at = self.feature_cols.len();
        for (col, encoder) in &self.time_cols {
            let c = cell(rec, *col);
            let time = read_time(path, row, &self.missing, c, encoder, INFERRED_TIME_RULE)?;
            encoder.encode(time, &mut out[at..at + encoder.width()]);
            at += encoder.width();
        }
        for &col in &self.cat_cols {
            cats.push(category_text(&self.missing, cell(rec, col)));
        }
        Ok(())
    }

    /// Opens the file and validates every row: see [`crate::Stream::open`].
    pub(crate) fn validate(src: &CsvSource, cut: InitialCut) -> Result<Validated, DataError> {
        let files = Arc::new(DataFiles::resolve(&src.path)?);
        let options = ReadOptions {
            delimiter: src.delimiter,
            expected: None,
            null: null_text(&src.missing),
        };
        let mut records = Records::open(files, options, 0)?;
        let join = label_join(src, &records)?;
        if let Some(join) = &join {
            records.join_labels(join.clone(), &src.target);
            records.check_ids(join.id_col, "row");
        }
        let columns = SourceColumns::resolve(src, &records)?;
        let mut pass = ValidationPass::new(columns, cut);
        let mut rec = ByteRecord::new();
        while let Some(row) = records.next(&mut rec)? {
            pass.check_row(&rec, row)?;
        }
        let mut validated = pass.finish(records.stamps())?;
        if let Some(join) = join {
            validated.labels = Some(LabelsJoined {
                labels: join.table.len(),
                counts: records.join_counts(),
                latest: join.table.latest(),
                timed: join.table.timed(),
            });
            validated.layout.join = Some(join);
        }
        Ok(validated)
    }
}

/// With `data.labels`: the labels read, and how the stream's rows (whose columns
/// `records` gives, without a target column) find theirs.
fn label_join(src: &CsvSource, records: &Records) -> Result<Option<LabelJoin>, DataError> {
    let Some(labels) = &src.labels else {
        return Ok(None);
    };
    let header = records.header();
    let first = records.files().path(0);
    if header.contains(&src.target) {
        return Err(DataError::Config {
            key: "data.labels",
            message: format!(
                "{} has a column \"{}\", the target; with data.labels the target comes from the labels, joined by data.id: drop that column from the feature files, or rename it",
                first.display(),
                src.target
            ),
        });
    }
    let id = src.id.as_deref().unwrap_or_default();
    let id_col = find_column(first, header, id, ColumnRole::Id)?;
    let time = src.time.as_deref().unwrap_or_default();
    let time_col = find_column(first, header, time, ColumnRole::Time)?;
    let table = LabelTable::load(src, labels)?;
    Ok(Some(LabelJoin {
        table: Arc::new(table),
        id_col,
        time_col,
        every: src.every.unwrap_or(Every::Days(1)),
        wait: labels.wait,
        missing: null_text(&src.missing),
    }))
}

/// The text a Parquet null reads as: the first of `missing` (`""` when there is none).
fn null_text(missing: &[String]) -> Vec<u8> {
    missing
        .first()
        .map(|m| m.trim().as_bytes().to_vec())
        .unwrap_or_default()
}

/// A time column's cell: `None` when missing, else its moment; a cell that is not a date or
/// time is an error naming the file, row and column.
fn read_time(
    path: &Path,
    row: Pos,
    missing: &MissingTokens,
    c: &[u8],
    encoder: &TimeEncoder,
    rule: &'static str,
) -> Result<Option<i64>, DataError> {
    if is_missing(missing, c) {
        return Ok(None);
    }
    match std::str::from_utf8(c).ok().and_then(parse_time) {
        Some(t) => Ok(Some(t)),
        None => Err(not_a_time(path, row, &encoder.column, c, rule)),
    }
}

/// The error for `c`, the cell at `row` of the time column `column`, which is not a date or
/// time.
fn not_a_time(path: &Path, row: Pos, column: &str, c: &[u8], rule: &'static str) -> DataError {
    DataError::NotATime {
        path: path.to_path_buf(),
        row: row.line(path),
        column: column.to_string(),
        value: String::from_utf8_lossy(c).into_owned(),
        rule,
    }
}

/// The type `[data.columns]` gives the column called `name`, if any.
fn declared_kind(src: &CsvSource, name: &str) -> Option<ColumnKind> {
    src.columns.get(name).copied()
}

/// Errors unless every column typed under `[data.columns]` is in `header`, once, and is
/// not the target.
fn check_typed_columns(src: &CsvSource, header: &[String]) -> Result<(), DataError> {
    let path = src.path.as_path();
    for (name, kind) in &src.columns {
        find_column(path, header, name, ColumnRole::Typed)?;
        if name == &src.target {
            return Err(DataError::TargetIsFeature {
                path: path.to_path_buf(),
                column: format!(
                    "{name}\" (given the type \"{}\" under [data.columns]",
                    kind.name()
                ),
            });
        }
    }
    Ok(())
}

/// Without `data.features`: every column but the target and those typed `"ignore"`, in
/// file order; each of their names must be unique in `header`.
fn every_feature_column(
    src: &CsvSource,
    header: &[String],
    target_col: usize,
) -> Result<Vec<usize>, DataError> {
    let path = src.path.as_path();
    let cols: Vec<usize> = (0..header.len())
        .filter(|&c| {
            c != target_col
                && src.time.as_ref() != Some(&header[c])
                && src.id.as_ref() != Some(&header[c])
                && declared_kind(src, &header[c]) != Some(ColumnKind::Ignore)
        })
        .collect();
    for &c in &cols {
        find_column(path, header, &header[c], ColumnRole::Feature)?;
    }
    Ok(cols)
}

/// The columns `data.features` lists, in its order, less those typed `"ignore"`. A listed
/// name that is the target, is listed twice, or is missing or repeated in `header` is an
/// error.
fn listed_feature_columns(src: &CsvSource, header: &[String]) -> Result<Vec<usize>, DataError> {
    let path = src.path.as_path();
    let mut seen = HashSet::new();
    let mut cols = Vec::with_capacity(src.features.len());
    for name in &src.features {
        if name == &src.target {
            return Err(DataError::TargetIsFeature {
                path: path.to_path_buf(),
                column: name.clone(),
            });
        }
        if src.time.as_ref() == Some(name) {
            return Err(DataError::TimeColumn {
                path: path.to_path_buf(),
                column: name.clone(),
                why: "which orders the rows and cuts the windows, not a feature: remove it from data.features (to use a time as a feature too, give a copy of the column another name)",
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(DataError::DuplicateFeature {
                path: path.to_path_buf(),
                column: name.clone(),
            });
        }
        let c = find_column(path, header, name, ColumnRole::Feature)?;
        if declared_kind(src, name) != Some(ColumnKind::Ignore) {
            cols.push(c);
        }
    }
    Ok(cols)
}

/// A CSV source's columns found in its file's header: what the validating pass checks each
/// row against.
struct SourceColumns<'a> {
    src: &'a CsvSource,
    /// The types the files' format gives, by column (Parquet strings are categorical,
    /// timestamps time), which `[data.columns]` overrides.
    implied: Vec<Option<ColumnKind>>,
    /// The data files.
    files: Arc<DataFiles>,
    header: Vec<String>,
    target_col: usize,
    /// The feature columns whose types the initial windows settle (those typed `"ignore"`
    /// left out), in model order before numeric and categorical ones are told apart.
    candidate_cols: Vec<usize>,
    /// Cells read as missing.
    missing: MissingTokens,
    /// `data.time`'s column.
    time_col: Option<usize>,
}

impl<'a> SourceColumns<'a> {
    /// Finds `src`'s target and feature columns in `header`. An error when the header reads
    /// as one column holding another delimiter, a named column is missing or repeated, the
    /// target is also a feature, or no feature column is left.
    fn resolve(src: &'a CsvSource, records: &Records) -> Result<Self, DataError> {
        let header = records.header().to_vec();
        let path = src.path.as_path();
        if let Some(found) = other_delimiter(&header, src.delimiter) {
            return Err(DataError::Delimiter {
                path: path.to_path_buf(),
                header: header[0].clone(),
                delimiter: src.delimiter,
                found,
            });
        }
        let target_col = find_column(path, &header, &src.target, ColumnRole::Target)?;
        let time_col = match &src.time {
            Some(name) if name == &src.target => {
                return Err(DataError::TimeColumn {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    why: "which orders the rows, and cannot also be data.target",
                });
            }
            Some(name) => Some(find_column(path, &header, name, ColumnRole::Time)?),
            None => None,
        };
        check_typed_columns(src, &header)?;
        let candidate_cols = if src.features.is_empty() {
            every_feature_column(src, &header, target_col)?
        } else {
            listed_feature_columns(src, &header)?
        };
        if candidate_cols.is_empty() {
            return Err(DataError::NoFeatures {
                path: path.to_path_buf(),
                target: src.target.clone(),
            });
        }
        Ok(SourceColumns {
            src,
            implied: records.implied_kinds(),
            files: records.files().clone(),
            header,
            target_col,
            candidate_cols,
            missing: MissingTokens::new(&src.missing),
            time_col,
        })
    }

    /// The file the record at `row` came from.
    fn path(&self, row: Pos) -> &Path {
        self.files.path(row.file)
    }

    /// The type `[data.columns]` gives column `c`, if any.
    fn kind_of(&self, c: usize) -> Option<ColumnKind> {
        declared_kind(self.src, &self.header[c]).or(self.implied[c])
    }

    /// Checks the feature cells of `rec`, a sample of the initial windows starting at
    /// `row`, and notes in `seen_cols` (one per candidate column) what they show: missing
    /// cells, distinct values and, for a column whose type is inferred, whether every cell
    /// is a number. A cell of a column declared numeric must be a number.
    fn observe_initial_row(
        &self,
        seen_cols: &mut [ColumnSeen],
        rec: &ByteRecord,
        row: Pos,
    ) -> Result<(), DataError> {
        let path = self.path(row);
        let cap = self.src.max_categories + 1;
        for (seen, &c) in seen_cols.iter_mut().zip(&self.candidate_cols) {
            let v = cell(rec, c);
            if is_missing(&self.missing, v) {
                seen.blank = true;
                continue;
            }
            match self.kind_of(c) {
                Some(ColumnKind::Numeric) => {
                    check_cell(path, row, &self.header[c], v, DECLARED_NUMERIC_RULE)?
                }
                Some(ColumnKind::Categorical) => {}
                Some(ColumnKind::Time) => match std::str::from_utf8(v).ok().and_then(parse_time) {
                    Some(t) => seen.note_time(t),
                    None => {
                        return Err(not_a_time(
                            path,
                            row,
                            &self.header[c],
                            v,
                            DECLARED_TIME_RULE,
                        ));
                    }
                },
                _ if seen.numeric && !plain_decimal(v) => {
                    match parse_cell(path, row, &self.header[c], v, FEATURE_RULE) {
                        Ok(_) => {}
                        Err(DataError::NotANumber { .. }) => seen.numeric = false,
                        Err(e) => return Err(e),
                    }
                }
                _ => {}
            }
            if seen.time && self.kind_of(c).is_none() {
                match std::str::from_utf8(v).ok().and_then(parse_time) {
                    Some(t) => seen.note_time(t),
                    None => seen.time = false,
                }
            }
            if seen.distinct.len() < cap && !seen.distinct.contains(v) {
                seen.distinct.insert(v.to_vec());
            }
        }
        Ok(())
    }

    /// Checks the feature cells of `rec`, a sample after the initial windows starting at
    /// `row`: every non-missing cell of a numeric column of `layout` must be a number.
    fn check_settled_row(
        &self,
        layout: &CsvLayout,
        rec: &ByteRecord,
        row: Pos,
    ) -> Result<(), DataError> {
        let path = self.path(row);
        let rule = |c: usize| match self.kind_of(c) {
            Some(ColumnKind::Numeric) => DECLARED_NUMERIC_RULE,
            _ => INFERRED_NUMERIC_RULE,
        };
        for (&col, name) in layout.feature_cols.iter().zip(&layout.feature_names) {
            let v = cell(rec, col);
            if !is_missing(&self.missing, v) {
                check_cell(path, row, name, v, rule(col))?;
            }
        }
        for (col, encoder) in &layout.time_cols {
            let v = cell(rec, *col);
            if !is_missing(&self.missing, v)
                && std::str::from_utf8(v).ok().and_then(parse_time).is_none()
            {
                let rule = match self.kind_of(*col) {
                    Some(ColumnKind::Time) => DECLARED_TIME_RULE,
                    _ => INFERRED_TIME_RULE,
                };
                return Err(not_a_time(path, row, &encoder.column, v, rule));
            }
        }
        Ok(())
    }

    /// Settles the feature columns' types once the initial windows are read (`seen`: what
    /// they showed of each candidate column): the layout, the numeric features with a
    /// missing indicator, and the categorical columns' input widths.
    fn decide(&self, seen: &[ColumnSeen]) -> Settled {
        let src = self.src;
        let header = &self.header;
        let mut feature_cols = Vec::new();
        let mut indicators = Vec::new();
        let mut cat_cols = Vec::new();
        let mut categorical = Vec::new();
        let mut time_cols = Vec::new();
        let mut time_blank = Vec::new();
        for (&c, s) in self.candidate_cols.iter().zip(seen) {
            // A column with no cell in the initial windows shows no numbers and no times:
            // categorical (any value it brings later is usable, none is an error).
            let kind = match self.kind_of(c) {
                Some(kind) => kind,
                None if s.numeric && !s.distinct.is_empty() => ColumnKind::Numeric,
                None if s.time && !s.distinct.is_empty() => ColumnKind::Time,
                None => ColumnKind::Categorical,
            };
            match kind {
                ColumnKind::Numeric => {
                    if s.blank {
                        indicators.push(feature_cols.len());
                    }
                    feature_cols.push(c);
                }
                ColumnKind::Time => {
                    time_cols.push((c, s.time_encoder(&header[c])));
                    time_blank.push(s.blank);
                }
                _ => {
                    cat_cols.push(c);
                    categorical.push(categorical_column(src, &header[c], s.distinct.len()));
                }
            }
        }
        let mut feature_names: Vec<String> =
            feature_cols.iter().map(|&c| header[c].clone()).collect();
        for ((_, encoder), blank) in time_cols.iter().zip(time_blank) {
            // One indicator per time column, on its first calendar feature (a missing cell
            // leaves all of them missing).
            if blank {
                indicators.push(feature_names.len());
            }
            feature_names.extend(encoder.feature_names());
        }
        let layout = CsvLayout {
            files: self.files.clone(),
            // Both set when the pass ends.
            stamps: Arc::from([]),
            file_samples: Arc::from([]),
            n_fields: header.len(),
            feature_names,
            feature_cols,
            time_cols,
            cat_cols,
            target_col: self.target_col,
            target_name: src.target.clone(),
            task: src.task,
            labels: HashMap::new(),
            missing: self.missing.clone(),
            delimiter: src.delimiter,
            null: null_text(&src.missing),
            join: None,
        };
        Settled {
            layout,
            indicators,
            categorical,
        }
    }
}

/// The input widths of the categorical column called `name`, which showed `distinct`
/// values in the initial windows: one-hot slots for twice that many (at least 2, at most
/// `data.max_categories`), plus `data.hash_buckets` hashed inputs when twice that many
/// exceeds `data.max_categories`.
fn categorical_column(src: &CsvSource, name: &str, distinct: usize) -> CategoricalColumn {
    let slots = (2 * distinct).max(2).min(src.max_categories.max(1));
    let buckets = if 2 * distinct > src.max_categories {
        src.hash_buckets
    } else {
        0
    };
    CategoricalColumn {
        name: name.to_string(),
        slots,
        buckets,
    }
}

/// The feature types settled once the initial windows are read.
struct Settled {
    layout: CsvLayout,
    /// The numeric features (indices in model order) with a missing indicator.
    indicators: Vec<usize>,
    /// The categorical columns' input widths.
    categorical: Vec<CategoricalColumn>,
}

/// Class labels as written: those of the initial windows in order of first appearance,
/// then those first seen later.
#[derive(Default)]
struct LabelsSeen {
    initial: Vec<String>,
    initial_set: HashSet<String>,
    later: Vec<String>,
    later_set: HashSet<String>,
}

impl LabelsSeen {
    /// Whether `label` was seen before.
    fn contains(&self, label: &str) -> bool {
        self.initial_set.contains(label) || self.later_set.contains(label)
    }

    /// Notes `label`, not seen before, as one of the initial windows' or (`later`) as one
    /// first seen after them.
    fn insert(&mut self, label: Cow<'_, str>, later: bool) {
        if later {
            self.later_set.insert(label.to_string());
            self.later.push(label.into_owned());
        } else {
            self.initial_set.insert(label.to_string());
            self.initial.push(label.into_owned());
        }
    }
}

/// Where the initial windows end, so that their cells settle the column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitialCut {
    /// After this many samples (windows of `window.size` rows).
    Samples(usize),
    /// After this many calendar periods with samples (`window.every`).
    Periods(usize),
}

/// The `data.time` column as the validating pass reads it: each row's time must be at or
/// after the previous row's and, with `window.every`, each period with samples starts a
/// window.
struct TimeCut {
    col: usize,
    every: Option<Every>,
    /// The latest time so far, and where its row starts.
    previous: Option<(i64, Pos)>,
    /// Per period with samples: its first sample and its number ([`Every::period_of`]).
    starts: Vec<(usize, i64)>,
    /// Periods without samples between the first and the last with samples.
    empty: usize,
}

impl TimeCut {
    /// Reads the time of `rec`, the row at `row` (`sample`: its index among the samples,
    /// `None` for a row skipped for a missing target): a date or time, not before the
    /// previous row's.
    fn note(
        &mut self,
        columns: &SourceColumns<'_>,
        rec: &ByteRecord,
        row: Pos,
        sample: Option<usize>,
    ) -> Result<(), DataError> {
        let path = columns.path(row);
        let name = &columns.header[self.col];
        let c = cell(rec, self.col);
        let t = std::str::from_utf8(c)
            .ok()
            .and_then(parse_time)
            .ok_or_else(|| not_a_time(path, row, name, c, WINDOW_TIME_RULE))?;
        if let Some((previous, previous_row)) = self.previous
            && t < previous
        {
            return Err(DataError::OutOfOrder {
                path: path.to_path_buf(),
                row: row.line(path),
                column: name.clone(),
                time: t,
                previous,
                previous_row: previous_row.line(columns.path(previous_row)),
                previous_path: columns.path(previous_row).to_path_buf(),
            });
        }
        self.previous = Some((t, row));
        if let (Some(every), Some(sample)) = (self.every, sample) {
            let period = every.period_of(t);
            match self.starts.last() {
                Some(&(_, last)) if last == period => {}
                Some(&(_, last)) => {
                    self.empty += (period - last - 1) as usize;
                    self.starts.push((sample, period));
                }
                None => self.starts.push((sample, period)),
            }
        }
        Ok(())
    }
}

/// The validating pass over a CSV file's records: what the initial windows show of each
/// feature column, the labels seen, and, once the initial windows are read, the settled
/// feature types that later rows are checked against.
struct ValidationPass<'a> {
    columns: SourceColumns<'a>,
    /// Samples per file so far.
    file_samples: Vec<usize>,
    /// Where the initial windows end.
    cut: InitialCut,
    /// Samples in the initial windows (for time windows: known once they are read).
    initial_samples: usize,
    /// `data.time`, when set.
    clock: Option<TimeCut>,
    /// What the initial windows show of each candidate column.
    seen_cols: Vec<ColumnSeen>,
    /// Classification: the labels seen so far.
    labels: LabelsSeen,
    /// The types, settled once the initial windows are read (or the file ends first).
    settled: Option<Settled>,
    /// Samples (rows whose target is not missing) read so far.
    samples: usize,
    /// Rows skipped for a missing target.
    unlabelled: usize,
}

impl<'a> ValidationPass<'a> {
    /// A pass over a file whose header gave `columns`, before its first record.
    fn new(columns: SourceColumns<'a>, cut: InitialCut) -> Self {
        let seen_cols = columns
            .candidate_cols
            .iter()
            .map(|_| ColumnSeen {
                numeric: true,
                time: true,
                ..ColumnSeen::default()
            })
            .collect();
        let clock = columns.time_col.map(|col| TimeCut {
            col,
            every: columns.src.every,
            previous: None,
            starts: Vec::new(),
            empty: 0,
        });
        ValidationPass {
            columns,
            file_samples: Vec::new(),
            cut,
            initial_samples: match cut {
                InitialCut::Samples(n) => n,
                InitialCut::Periods(_) => usize::MAX,
            },
            clock,
            seen_cols,
            labels: LabelsSeen::default(),
            settled: None,
            samples: 0,
            unlabelled: 0,
        }
    }

    /// Checks the record `rec` starting at `row`: its text and width, then, unless its
    /// target is missing (the row is skipped), its feature cells and its target. The types
    /// are settled when the first sample after the initial windows comes.
    fn check_row(&mut self, rec: &ByteRecord, row: Pos) -> Result<(), DataError> {
        let columns = &self.columns;
        let path = columns.path(row);
        check_utf8(path, &columns.header, rec, row)?;
        check_width(path, rec, row, columns.header.len())?;
        let target_cell = cell(rec, columns.target_col);
        let labelled = !is_missing(&columns.missing, target_cell);
        if let Some(clock) = &mut self.clock {
            clock.note(&self.columns, rec, row, labelled.then_some(self.samples))?;
        }
        if !labelled {
            // An outcome never observed: the row is skipped, whatever its features.
            self.unlabelled += 1;
            return Ok(());
        }
        if self.settled.is_none() && self.initial_done() {
            self.settled = Some(self.settle()?);
            self.initial_samples = self.samples;
        }
        match &self.settled {
            None => self
                .columns
                .observe_initial_row(&mut self.seen_cols, rec, row)?,
            Some(settled) => self.columns.check_settled_row(&settled.layout, rec, row)?,
        }
        self.check_target(target_cell, row)?;
        self.samples += 1;
        if self.file_samples.len() <= row.file {
            self.file_samples.resize(row.file + 1, 0);
        }
        self.file_samples[row.file] += 1;
        Ok(())
    }

    /// Whether the sample being read is the first after the initial windows.
    fn initial_done(&self) -> bool {
        match self.cut {
            InitialCut::Samples(n) => self.samples == n,
            InitialCut::Periods(n) => self.clock.as_ref().is_some_and(|c| c.starts.len() > n),
        }
    }

    /// Settles the types from what the initial windows showed, after refusing a target
    /// that looks numeric when `data.task` is not given.
    fn settle(&self) -> Result<Settled, DataError> {
        check_task_given(self.columns.src, &self.labels.initial)?;
        Ok(self.columns.decide(&self.seen_cols))
    }

    /// Checks `target_cell`, the target of the sample starting at `row`: a number for
    /// regression; for classification a label, noted when new.
    fn check_target(&mut self, target_cell: &[u8], row: Pos) -> Result<(), DataError> {
        let src = self.columns.src;
        let path = self.columns.path(row);
        match src.task {
            Task::Regression => check_cell(path, row, &src.target, target_cell, TARGET_RULE),
            Task::Classification => {
                if target_cell.is_empty() {
                    return Err(empty_cell(path, row, &src.target));
                }
                self.note_label(String::from_utf8_lossy(target_cell))
            }
        }
    }

    /// Notes the class `label` of the sample being read when it is new. A new label after
    /// initial windows that held a single class is an error about those windows.
    fn note_label(&mut self, label: Cow<'_, str>) -> Result<(), DataError> {
        if self.labels.contains(label.as_ref()) {
            return Ok(());
        }
        let later = self.settled.is_some();
        if later && self.labels.initial.len() < 2 {
            // The root cause is the initial windows' single class, not this row: say that.
            let src = self.columns.src;
            return Err(DataError::SingleClass {
                stream: src.label(),
                column: src.target.clone(),
                label: self.labels.initial.first().cloned().unwrap_or_default(),
                initial_samples: self.initial_samples,
            });
        }
        self.labels.insert(label, later);
        Ok(())
    }

    /// Ends the pass after the last record: a file without samples is an error; the types
    /// are settled if the file ended within the initial windows; the labels become classes,
    /// of which there must be two at least.
    fn finish(mut self, stamps: &[FileStamp]) -> Result<Validated, DataError> {
        let src = self.columns.src;
        if self.samples == 0 && self.unlabelled > 0 {
            return Err(DataError::NoLabelledRows {
                path: src.path.clone(),
                column: src.target.clone(),
                rows: self.unlabelled,
            });
        }
        if self.samples == 0 {
            return Err(DataError::NoRows {
                path: src.path.clone(),
            });
        }
        let Settled {
            mut layout,
            indicators,
            categorical,
        } = match self.settled.take() {
            Some(settled) => settled,
            None => {
                self.initial_samples = self.initial_samples.min(self.samples);
                self.settle()?
            }
        };
        let classes = ClassMap::of(self.labels.initial, self.labels.later);
        if src.task == Task::Classification && classes.classes.len() < 2 {
            return Err(DataError::SingleClass {
                stream: src.label(),
                column: src.target.clone(),
                label: classes.classes.first().cloned().unwrap_or_default(),
                initial_samples: self.initial_samples,
            });
        }
        layout.labels = classes.index;
        layout.stamps = stamps.into();
        self.file_samples.resize(stamps.len(), 0);
        layout.file_samples = self.file_samples.into();
        Ok(Validated {
            layout,
            classes: classes.classes,
            later_classes: classes.later,
            indicators,
            categorical,
            n_samples: self.samples,
            skipped_rows: self.unlabelled,
            periods: self.clock.and_then(|c| {
                c.every.map(|every| Periods {
                    every,
                    starts: c.starts,
                    empty: c.empty,
                    latest: c.previous.map_or(i64::MIN, |(t, _)| t),
                })
            }),
            labels: None,
        })
    }
}

/// A categorical cell as the encoders see it: the trimmed text, or `""` when missing.
fn category_text(missing: &MissingTokens, bytes: &[u8]) -> String {
    if is_missing(missing, bytes) {
        String::new()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Field `col` of `rec` without surrounding ASCII whitespace.
fn cell(rec: &ByteRecord, col: usize) -> &[u8] {
    rec[col].trim_ascii()
}

/// Errors unless `rec` has `expected` fields.
fn check_width(path: &Path, rec: &ByteRecord, row: Pos, expected: usize) -> Result<(), DataError> {
    if rec.len() == expected {
        Ok(())
    } else {
        Err(DataError::RaggedRow {
            path: path.to_path_buf(),
            row: row.line(path),
            expected,
            found: rec.len(),
        })
    }
}

/// Reads a validated CSV stream window by window.
pub(crate) struct CsvWindows {
    layout: CsvLayout,
    records: Records,
    rec: ByteRecord,
}

impl CsvWindows {
    /// Reopens the files, positioned after the first `skip` samples (whole files among
    /// them are not read); fails if a file changed since validation.
    pub(crate) fn open(layout: &CsvLayout, skip: usize) -> Result<Self, DataError> {
        let options = ReadOptions {
            delimiter: layout.delimiter,
            expected: Some(layout.stamps.clone()),
            null: layout.null.clone(),
        };
        // Whole files before the first sample to read, and the samples they hold.
        let (mut skip_files, mut skipped) = (0, 0);
        // A file whose last sample is the last one skipped is read (not skipped): the rows
        // without a target after that sample belong to the next window's count.
        while skip_files + 1 < layout.file_samples.len()
            && skipped + layout.file_samples[skip_files] < skip
        {
            skipped += layout.file_samples[skip_files];
            skip_files += 1;
        }
        let mut records = Records::open(layout.files.clone(), options, skip_files)?;
        if let Some(join) = &layout.join {
            records.join_labels(join.clone(), &layout.target_name);
        }
        let mut windows = CsvWindows {
            layout: layout.clone(),
            records,
            rec: ByteRecord::new(),
        };
        for _ in skipped..skip {
            windows.advance_labelled()?;
        }
        Ok(windows)
    }

    /// Reads the next record, which must exist.
    fn advance(&mut self) -> Result<Pos, DataError> {
        self.records
            .next(&mut self.rec)?
            .ok_or_else(|| DataError::Changed {
                path: self
                    .layout
                    .files
                    .path(self.layout.file_samples.len() - 1)
                    .to_path_buf(),
            })
    }

    /// Reads the next record whose target is not missing; returns where it starts and how
    /// many rows with a missing target it passed.
    fn advance_labelled(&mut self) -> Result<(Pos, usize), DataError> {
        let mut skipped = 0;
        loop {
            let row = self.advance()?;
            if !self.layout.target_missing(&self.rec) {
                return Ok((row, skipped));
            }
            skipped += 1;
        }
    }

    /// Reads the next `n` samples (labelled rows), and how many rows with a missing target
    /// lay among them.
    pub(crate) fn batch(&mut self, n: usize) -> Result<(Batch, usize), DataError> {
        let d = self.layout.feature_names.len();
        let mut batch = Batch::mixed(d, self.layout.cat_cols.len());
        batch.features.resize(n * d, 0.0);
        batch.targets.reserve(n);
        batch.categories.reserve(n * self.layout.cat_cols.len());
        let mut skipped = 0;
        for r in 0..n {
            let (row, passed) = self.advance_labelled()?;
            skipped += passed;
            let layout = &self.layout;
            layout.parse_features(
                &self.rec,
                row,
                &mut batch.features[r * d..(r + 1) * d],
                &mut batch.categories,
            )?;
            let cell = cell(&self.rec, layout.target_col);
            let path = layout.files.path(row.file);
            let target = match layout.task {
                Task::Regression => parse_cell(path, row, &layout.target_name, cell, TARGET_RULE)?,
                Task::Classification => {
                    let index = std::str::from_utf8(cell)
                        .ok()
                        .and_then(|l| layout.labels.get(l))
                        .or_else(|| layout.labels.get(String::from_utf8_lossy(cell).as_ref()));
                    match index {
                        Some(&i) => i as f32,
                        None => {
                            return Err(DataError::Changed {
                                path: path.to_path_buf(),
                            });
                        }
                    }
                }
            };
            batch.targets.push(target);
        }
        Ok((batch, skipped))
    }
}

/// Reads a whole CSV file for `eval` or `predict`.
///
/// Feature columns are looked up by the preprocessor's numeric feature names and
/// categorical columns (in any order; other columns are ignored; a missing one is an error
/// listing it). A missing numeric cell reads as NaN (the preprocessor imputes it), a
/// missing categorical one as `""`. With `target` given, its column is read too, and rows
/// whose target is missing are skipped: for classification each label is mapped through
/// `pre.classes` (an unknown label is an error naming row, column and the known labels),
/// for regression it must be a number. Without a target (predict), every row is read,
/// every target is `0.0` and no raw target strings are returned.
///
/// Returns the **raw** rows (give them to [`Preprocessor::transform`]), the raw target
/// cells as written (trimmed), and the 0-based data records they came from.
pub fn read_labelled_csv(
    path: &Path,
    pre: &Preprocessor,
    target: Option<&str>,
) -> Result<(Batch, Vec<String>), DataError> {
    read_csv_rows(path, pre, target).map(|(b, raw, _)| (b, raw))
}

/// [`read_labelled_csv`], also returning each row's 0-based data record (rows with a
/// missing target are skipped, so records and rows differ then).
pub fn read_csv_rows(
    path: &Path,
    pre: &Preprocessor,
    target: Option<&str>,
) -> Result<(Batch, Vec<String>, Vec<usize>), DataError> {
    let mut rows = CsvRows::open(path, pre, target)?;
    match rows.next_chunk(usize::MAX)? {
        Some(chunk) => Ok(chunk),
        None => Err(DataError::NoRows {
            path: path.to_path_buf(),
        }),
    }
}

/// A CSV read against a checkpoint's preprocessing a chunk of rows at a time, so that
/// `predict` and `eval` go through a file of any size in flat memory. Each chunk is what
/// [`read_csv_rows`] returns for its rows: the raw rows, the raw target cells, and the
/// 0-based data records they came from (counted from the top of the file).
pub struct CsvRows<'a> {
    pre: &'a Preprocessor,
    records: Records,
    header: Vec<String>,
    target: Option<(usize, String)>,
    feature_cols: Vec<usize>,
    /// The time columns' positions, in the order of the checkpoint's time encoders.
    time_cols: Vec<usize>,
    cat_cols: Vec<usize>,
    labels: HashMap<&'a str, usize>,
    by_value: Option<HashMap<u64, usize>>,
    missing_tokens: MissingTokens,
    record: usize,
}

impl<'a> CsvRows<'a> {
    /// Opens `path` and finds the checkpoint's feature columns (and `target`, when given)
    /// in its header.
    pub fn open(
        path: &Path,
        pre: &'a Preprocessor,
        target: Option<&str>,
    ) -> Result<CsvRows<'a>, DataError> {
        let files = Arc::new(DataFiles::resolve(path)?);
        let delimiter = csv_delimiter(&files);
        let null = null_text(&pre.missing_tokens());
        let options = ReadOptions {
            delimiter,
            expected: None,
            null,
        };
        let records = Records::open(files, options, 0)?;
        let header = records.header().to_vec();
        let cat_names = pre.categorical_names();
        let time_names: Vec<String> = pre.time.iter().map(|t| t.column.clone()).collect();
        let plain = pre.plain_feature_names();
        let missing: Vec<String> = plain
            .iter()
            .chain(&time_names)
            .chain(&cat_names)
            .filter(|n| !header.contains(n))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(DataError::MissingFeatures {
                path: path.to_path_buf(),
                missing,
                available: header,
            });
        }
        let columns = |names: &[String]| {
            names
                .iter()
                .map(|n| find_column(path, &header, n, ColumnRole::Feature))
                .collect::<Result<Vec<_>, _>>()
        };
        let feature_cols = columns(plain)?;
        let time_cols = columns(&time_names)?;
        let cat_cols = columns(&cat_names)?;
        let target = target
            .map(|t| find_column(path, &header, t, ColumnRole::Target).map(|c| (c, t.to_string())))
            .transpose()?;
        let labels: HashMap<&str, usize> = pre
            .classes
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        // Numeric classes also match other spellings of their value (`1.0` for `1`), as the
        // stream compared them.
        let by_value: Option<HashMap<u64, usize>> = pre
            .classes
            .iter()
            .enumerate()
            .map(|(i, l)| label_value(l).map(|v| (v.to_bits(), i)))
            .collect();
        Ok(CsvRows {
            pre,
            records,
            header,
            target,
            feature_cols,
            time_cols,
            cat_cols,
            labels,
            by_value,
            missing_tokens: MissingTokens::new(pre.missing_tokens()),
            record: 0,
        })
    }

    /// The data records read so far, rows whose target is missing included (blank lines
    /// are not records).
    pub fn records_read(&self) -> usize {
        self.record
    }

    /// The next rows, at most `max_rows` of them (rows whose target is missing are skipped
    /// and not counted); `None` at the end of the file.
    #[allow(clippy::type_complexity)]
    pub fn next_chunk(
        &mut self,
        max_rows: usize,
    ) -> Result<Option<(Batch, Vec<String>, Vec<usize>)>, DataError> {
        let d = self.pre.feature_names.len();
        let mut batch = Batch::mixed(d, self.cat_cols.len());
        let mut raw = Vec::new();
        let mut records = Vec::new();
        let mut rec = ByteRecord::new();
        let mut row_buf = vec![0.0f32; d];
        let mut cat_buf: Vec<String> = Vec::with_capacity(self.cat_cols.len());
        while batch.len() < max_rows {
            let Some(row) = self.records.next(&mut rec)? else {
                break;
            };
            let path = self.records.path(row);
            self.record += 1;
            check_utf8(path, &self.header, &rec, row)?;
            check_width(path, &rec, row, self.header.len())?;
            let value = match &self.target {
                Some((col, name)) => {
                    let cell = cell(&rec, *col);
                    if is_missing(&self.missing_tokens, cell) {
                        continue;
                    }
                    let text = String::from_utf8_lossy(cell).into_owned();
                    let value = self.target_value(row, name, cell, &text)?;
                    raw.push(text);
                    value
                }
                None => 0.0,
            };
            self.parse_features(&rec, row, &mut row_buf)?;
            cat_buf.clear();
            cat_buf.extend(
                self.cat_cols
                    .iter()
                    .map(|&col| category_text(&self.missing_tokens, cell(&rec, col))),
            );
            batch.push_mixed(&row_buf, &cat_buf, value);
            records.push(self.record - 1);
        }
        Ok((!batch.is_empty()).then_some((batch, raw, records)))
    }

    /// The target the model is scored against for `cell`, the target cell (`text`, as
    /// text) of column `name` in the row at `row`: the number for regression; for
    /// classification the class of the label, an unknown label being an error that names
    /// the known ones.
    fn target_value(
        &self,
        row: Pos,
        name: &str,
        cell: &[u8],
        text: &str,
    ) -> Result<f32, DataError> {
        let path = self.records.path(row);
        match self.pre.task {
            Task::Regression => parse_cell(path, row, name, cell, TARGET_RULE),
            Task::Classification => match self.class_of(text) {
                Some(i) => Ok(i as f32),
                None => Err(DataError::UnknownLabel {
                    path: path.to_path_buf(),
                    row: row.line(path),
                    column: name.to_string(),
                    label: text.to_string(),
                    known: self.pre.classes.clone(),
                }),
            },
        }
    }

    /// The checkpoint's class of `label`: the class spelled so or, when the classes are
    /// numbers, the one of the same value (`1.0` for `1`).
    fn class_of(&self, label: &str) -> Option<usize> {
        self.labels
            .get(label)
            .or_else(|| {
                let v = label_value(label)?;
                self.by_value.as_ref()?.get(&v.to_bits())
            })
            .copied()
    }

    /// Parses the numeric feature cells of `rec`, the row at `row`, into `out` (NaN for a
    /// missing cell).
    fn parse_features(&self, rec: &ByteRecord, row: Pos, out: &mut [f32]) -> Result<(), DataError> {
        let path = self.records.path(row);
        for ((slot, &col), name) in out
            .iter_mut()
            .zip(&self.feature_cols)
            .zip(&self.pre.feature_names)
        {
            let c = cell(rec, col);
            *slot = if is_missing(&self.missing_tokens, c) {
                f32::NAN
            } else {
                parse_cell(path, row, name, c, FEATURE_RULE)?
            };
        }
        let mut at = self.feature_cols.len();
        for (&col, encoder) in self.time_cols.iter().zip(&self.pre.time) {
            let c = cell(rec, col);
            let time = read_time(
                path,
                row,
                &self.missing_tokens,
                c,
                encoder,
                CHECKPOINT_TIME_RULE,
            )?;
            encoder.encode(time, &mut out[at..at + encoder.width()]);
            at += encoder.width();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_are_finite_f32() {
        for s in [
            "0",
            "-0",
            "+1",
            "1.",
            ".5",
            "-.5",
            "0.056442999999999999",
            "123456789",
            "00012.50",
            &"9".repeat(38),
            &format!("{}.99", "9".repeat(38)),
        ] {
            assert!(plain_decimal(s.as_bytes()), "{s}");
            assert!(s.parse::<f32>().unwrap().is_finite(), "{s}");
        }
        for s in [
            "",
            "-",
            "+",
            ".",
            "-.",
            "1e5",
            "1.5e-3",
            "nan",
            "inf",
            "1..2",
            "1.2.3",
            "--1",
            "1-",
            "0x10",
            "1,5",
            &"9".repeat(39),
            " 1",
        ] {
            assert!(!plain_decimal(s.as_bytes()), "{s}");
        }
        // Those that are not plain still parse through the slow path when valid.
        assert_eq!("1.5e-3".parse::<f32>().unwrap(), 0.0015);
    }

    #[test]
    fn labels_sort_numerically_when_all_numeric() {
        let s = |v: &[&str]| sort_labels(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(s(&["0", "1", "10", "2"]), vec!["0", "1", "2", "10"]);
        assert_eq!(s(&["-1", "0.5", "1e1", "3"]), vec!["-1", "0.5", "3", "1e1"]);
        assert_eq!(s(&["b", "a", "10", "2"]), vec!["10", "2", "a", "b"]);
        assert_eq!(s(&["UP", "DOWN"]), vec!["DOWN", "UP"]);
        assert_eq!(s(&["1.0", "1"]), vec!["1", "1.0"]);
    }
}
