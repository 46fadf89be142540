//! [`Records`]: the data files of a stream read one after another as one sequence of text
//! records, whatever each file's format, with where each record came from ([`Pos`]) for
//! error messages.
//!
//! Every file must have the first file's columns, in the same order; partition columns
//! (`key=value` folder names, see [`crate::files`]) follow the file's own. A file is
//! stamped (size, modification time) when opened, so that a later pass notices a file that
//! changed after validation.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use csv::ByteRecord;

use crate::error::{ColumnRole, DataError};
use crate::files::{DataFiles, FileFormat};
use crate::parquet_file::{ParquetKind, ParquetRows};
use crate::source::ColumnKind;
use crate::source::{CsvSource, LabelSource};
use crate::time::Every;

/// Size and modification time, to notice a file that changed after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// Where a record starts: its file (index in [`DataFiles`]) and its place in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pos {
    /// The file's index.
    pub(crate) file: usize,
    at: At,
}

/// A record's place in its file.
#[derive(Debug, Clone, Copy)]
enum At {
    /// A CSV record: its first byte, and the parser's line count (which skips blank lines).
    Csv { byte: u64, parser_line: u64 },
    /// A row of a file without lines (Parquet): its 1-based number.
    Row(u64),
}

impl Pos {
    /// The row number messages give, in `path` (the record's file): for CSV the 1-based
    /// line (header = 1, blank lines counted: the file is reread up to the record, so this
    /// is only for error messages); for Parquet the 1-based row.
    pub(crate) fn line(self, path: &Path) -> u64 {
        match self.at {
            At::Csv { byte, parser_line } => count_lines(path, byte).unwrap_or(parser_line),
            At::Row(row) => row,
        }
    }
}

/// The `data.id` check: each id's 64-bit hash with the number of the record that first
/// had it (about 20 bytes a row, whatever the ids' length). A repeated hash is confirmed by
/// reading that record again: a collision of two ids is no repeat.
struct IdCheck {
    col: usize,
    /// "row" or "label", for the message.
    what: &'static str,
    first: HashMap<u64, u64>,
}

/// The hash [`IdCheck`] keys ids by (SipHash with fixed keys: the same in every run).
fn id_hash(id: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

/// An id's label, as written, and when it became known (when the labels carry a time).
type KnownLabel = (Box<[u8]>, Option<i64>);

/// An open file of a stream, positioned at its first record.
enum FileReader {
    Csv(csv::Reader<File>),
    Parquet(Box<ParquetRows>),
}

/// How the files of a stream are read.
#[derive(Debug, Clone)]
pub(crate) struct ReadOptions {
    /// The CSV field delimiter.
    pub(crate) delimiter: u8,
    /// The files passed validation before: an I/O error is then a failure of the work,
    /// not of the user, and each file must have the stamp validation saw.
    pub(crate) expected: Option<Arc<[FileStamp]>>,
    /// The text a Parquet null reads as.
    pub(crate) null: Vec<u8>,
}

/// The data files of a stream as one sequence of records.
pub(crate) struct Records {
    files: Arc<DataFiles>,
    options: ReadOptions,
    /// The stream's columns: the first file's, then the partition columns.
    header: Vec<String>,
    /// The first file's own columns, which every file must have.
    own: Vec<String>,
    current: usize,
    reader: FileReader,
    stamps: Vec<FileStamp>,
    /// `data.labels`: each row's label, appended as the last column.
    join: Option<LabelJoin>,
    /// What the join saw so far.
    counts: JoinCounts,
    /// With [`Records::check_ids`]: the ids seen so far.
    ids: Option<IdCheck>,
    /// Records read so far.
    read: u64,
    /// The first file's Parquet column types (`None` for CSV).
    first_kinds: Option<Vec<ParquetKind>>,
}

impl Records {
    /// Opens the first file (with `skip_files`, file `skip_files`) and reads its header.
    pub(crate) fn open(
        files: Arc<DataFiles>,
        options: ReadOptions,
        skip_files: usize,
    ) -> Result<Records, DataError> {
        let (reader, own, stamp) = open_file(&files, 0, &options)?;
        let first_kinds = match &reader {
            FileReader::Parquet(rows) => Some(rows.kinds().to_vec()),
            FileReader::Csv(_) => None,
        };
        let mut header = own.clone();
        header.extend(files.partition_columns());
        let mut records = Records {
            files,
            options,
            header,
            own,
            current: 0,
            reader,
            stamps: vec![stamp],
            join: None,
            counts: JoinCounts::default(),
            ids: None,
            read: 0,
            first_kinds,
        };
        if skip_files > 0 {
            records.open_next(skip_files)?;
        }
        Ok(records)
    }

    /// Appends each row's label from `join` as a last column named `target`.
    pub(crate) fn join_labels(&mut self, join: LabelJoin, target: &str) {
        self.header.push(target.to_string());
        self.join = Some(join);
    }

    /// Makes [`Records::next`] refuse a record whose cell in column `col` repeats an
    /// earlier record's (`data.id`); `what` the records are ("row", "label") for the
    /// message.
    pub(crate) fn check_ids(&mut self, col: usize, what: &'static str) {
        self.ids = Some(IdCheck {
            col,
            what,
            first: HashMap::new(),
        });
    }

    /// What the label join saw so far.
    pub(crate) fn join_counts(&self) -> JoinCounts {
        self.counts
    }

    /// The column types the first file's format gives (Parquet: strings and booleans are
    /// categorical, dates and timestamps time), by column; `None` for CSV and for partition
    /// and label columns.
    pub(crate) fn implied_kinds(&self) -> Vec<Option<ColumnKind>> {
        let mut kinds: Vec<Option<ColumnKind>> = match &self.first_kinds {
            Some(kinds) => kinds
                .iter()
                .map(|k| match k {
                    ParquetKind::Categorical => Some(ColumnKind::Categorical),
                    ParquetKind::Time => Some(ColumnKind::Time),
                    ParquetKind::Numeric => None,
                })
                .collect(),
            None => vec![None; self.own.len()],
        };
        kinds.resize(self.header.len(), None);
        kinds
    }

    /// The stream's columns.
    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    /// The files.
    pub(crate) fn files(&self) -> &Arc<DataFiles> {
        &self.files
    }

    /// The path of the file a record at `pos` came from.
    pub(crate) fn path(&self, pos: Pos) -> &Path {
        self.files.path(pos.file)
    }

    /// The stamps of the files opened so far, in order.
    pub(crate) fn stamps(&self) -> &[FileStamp] {
        &self.stamps
    }

    /// Reads the next record into `rec`; `Ok(None)` after the last file's last record.
    pub(crate) fn next(&mut self, rec: &mut ByteRecord) -> Result<Option<Pos>, DataError> {
        loop {
            let at = match &mut self.reader {
                FileReader::Csv(reader) => {
                    let path = self.files.path(self.current);
                    next_csv_record(reader, rec, path, self.options.expected.is_some())?
                }
                FileReader::Parquet(rows) => rows.next_record(rec)?.map(At::Row),
            };
            if let Some(at) = at {
                let pos = Pos {
                    file: self.current,
                    at,
                };
                if rec.len() != self.own.len() {
                    // Named before partition and label cells are added, with the file's width.
                    let path = self.files.path(self.current);
                    return Err(DataError::RaggedRow {
                        path: path.to_path_buf(),
                        row: pos.line(path),
                        expected: self.own.len(),
                        found: rec.len(),
                    });
                }
                for (_, value) in &self.files.files()[self.current].partition {
                    rec.push_field(value.as_bytes());
                }
                if let Some(join) = &self.join {
                    let label = join.label_of(rec, &mut self.counts);
                    rec.push_field(label);
                }
                if self.ids.is_some() {
                    self.check_id(rec, pos)?;
                }
                self.read += 1;
                return Ok(Some(pos));
            }
            if self.current + 1 == self.files.files().len() {
                return Ok(None);
            }
            self.open_next(self.current + 1)?;
        }
    }

    /// Errors if the id of `rec`, the record at `pos`, was seen before.
    fn check_id(&mut self, rec: &ByteRecord, pos: Pos) -> Result<(), DataError> {
        let Some(check) = &mut self.ids else {
            return Ok(());
        };
        let (col, what) = (check.col, check.what);
        let id = rec.get(col).unwrap_or_default().trim_ascii();
        let Some(&earlier) = check.first.get(&id_hash(id)) else {
            check.first.insert(id_hash(id), self.read);
            return Ok(());
        };
        let Some((first, first_id)) = self.record_at(earlier, col)? else {
            return Ok(());
        };
        if first_id != id {
            return Ok(());
        }
        let (path, first_path) = (self.files.path(pos.file), self.files.path(first.file));
        Err(DataError::DuplicateId {
            path: path.to_path_buf(),
            row: pos.line(path),
            column: self.header[col].as_str().into(),
            id: String::from_utf8_lossy(id).into(),
            first: format!("row {} of {}", first.line(first_path), first_path.display()).into(),
            what,
        })
    }

    /// Record number `n` (0-based) read again from the start, with its cell in column
    /// `col`.
    fn record_at(&self, n: u64, col: usize) -> Result<Option<(Pos, Vec<u8>)>, DataError> {
        let mut again = Records::open(self.files.clone(), self.options.clone(), 0)?;
        let mut rec = ByteRecord::new();
        for _ in 0..n {
            if again.next(&mut rec)?.is_none() {
                return Ok(None);
            }
        }
        let pos = again.next(&mut rec)?;
        Ok(pos.map(|pos| (pos, rec.get(col).unwrap_or_default().trim_ascii().to_vec())))
    }

    /// Moves on to file `i`, whose columns must be the first file's.
    fn open_next(&mut self, i: usize) -> Result<(), DataError> {
        let (reader, own, stamp) = open_file(&self.files, i, &self.options)?;
        if own != self.own {
            return Err(DataError::SchemaMismatch {
                path: self.files.path(i).to_path_buf(),
                column_problem: column_problem(&own, &self.own),
                expected: self.own.clone(),
                first: self.files.path(0).to_path_buf(),
            });
        }
        self.stamps.truncate(i);
        self.stamps.push(stamp);
        self.current = i;
        self.reader = reader;
        Ok(())
    }
}

/// Opens file `i` of `files`: its reader, its own columns and its stamp, which must be the
/// expected one when the files were validated before.
fn open_file(
    files: &DataFiles,
    i: usize,
    options: &ReadOptions,
) -> Result<(FileReader, Vec<String>, FileStamp), DataError> {
    let path = files.path(i);
    let validated = options.expected.is_some();
    let (reader, header, stamp) = match files.files()[i].format {
        FileFormat::Csv => {
            let open = open_csv(path, validated, options.delimiter)?;
            (FileReader::Csv(open.reader), open.header, open.stamp)
        }
        FileFormat::Parquet => {
            let rows = ParquetRows::open(path, &options.null)?;
            let header = rows.header().to_vec();
            let meta = std::fs::metadata(path).map_err(|e| DataError::open(path, e))?;
            let stamp = FileStamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            (FileReader::Parquet(Box::new(rows)), header, stamp)
        }
    };
    if let Some(expected) = &options.expected
        && expected.get(i) != Some(&stamp)
    {
        return Err(DataError::Changed {
            path: path.to_path_buf(),
        });
    }
    Ok((reader, header, stamp))
}

/// Says how `found`, a file's columns, differs from `expected`, naming the first column
/// that differs.
fn column_problem(found: &[String], expected: &[String]) -> String {
    match found.iter().zip(expected).position(|(f, e)| f != e) {
        Some(i) => format!(
            "column {} is \"{}\" where \"{}\" was expected",
            i + 1,
            found[i].escape_debug(),
            expected[i].escape_debug()
        ),
        None if found.len() > expected.len() => format!(
            "it has an extra column \"{}\"",
            found[expected.len()].escape_debug()
        ),
        None => format!(
            "it lacks column \"{}\"",
            expected[found.len()].escape_debug()
        ),
    }
}

/// An open CSV reader positioned after the header, with the header's column names.
pub(crate) struct OpenCsv {
    pub(crate) reader: csv::Reader<File>,
    pub(crate) header: Vec<String>,
    stamp: FileStamp,
}

/// Opens `path` and reads its header, whose names must be UTF-8 text. `validated`: the
/// file passed validation before, so an I/O error is a failure of the work rather than of
/// the user. `delimiter` separates fields.
pub(crate) fn open_csv(path: &Path, validated: bool, delimiter: u8) -> Result<OpenCsv, DataError> {
    let io_error = |e: std::io::Error| {
        if validated {
            DataError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        } else {
            DataError::open(path, e)
        }
    };
    let file = File::open(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_dir() {
        return Err(DataError::Open {
            path: path.to_path_buf(),
            source: std::io::Error::other("it is a folder, not a CSV file"),
        });
    }
    let stamp = FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, e, validated))?;
    if header.is_empty() || (header.len() == 1 && header[0].trim_ascii().is_empty()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if let Some((i, name)) = header
        .iter()
        .enumerate()
        .find(|(_, f)| std::str::from_utf8(f).is_err())
    {
        return Err(not_utf8(path, 1, format!("header column {}", i + 1), name));
    }
    let header = header
        .iter()
        .map(|f| String::from_utf8_lossy(f.trim_ascii()).into_owned())
        .collect();
    Ok(OpenCsv {
        reader,
        header,
        stamp,
    })
}

/// Maps a `csv` error to a [`DataError`].
pub(crate) fn csv_error(path: &Path, e: csv::Error, validated: bool) -> DataError {
    let row = e
        .position()
        .map_or(0, |p| count_lines(path, p.byte()).unwrap_or(p.line()));
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) if validated => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        csv::ErrorKind::Io(source) => DataError::open(path, source),
        _ => DataError::Malformed {
            path: path.to_path_buf(),
            row,
            message,
        },
    }
}

/// The error for `bytes`, the cell at `row` / `column`, which is not UTF-8.
pub(crate) fn not_utf8(path: &Path, row: u64, column: String, bytes: &[u8]) -> DataError {
    let at = std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to());
    DataError::NotUtf8 {
        path: path.to_path_buf(),
        row,
        column,
        byte: bytes.get(at).copied().unwrap_or(0),
        offset: at,
        cell: bytes.escape_ascii().to_string(),
    }
}

/// The 1-based line of the record the parser reports at byte `start`: 1 + the line ends
/// (`\n`, `\r\n` or a lone `\r`) before it, plus those of blank lines right after it
/// (the parser's position points before the blank lines it skips).
fn count_lines(path: &Path, start: u64) -> Option<u64> {
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::new(File::open(path).ok()?);
    let (mut lines, mut offset, mut prev_cr) = (1u64, 0u64, false);
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            return Some(lines);
        }
        let n = buf.len();
        for &b in buf {
            let ends_line = b == b'\n' || b == b'\r';
            if offset >= start && !ends_line {
                return Some(lines);
            }
            if b == b'\r' || (b == b'\n' && !prev_cr) {
                lines += 1;
            }
            prev_cr = b == b'\r';
            offset += 1;
        }
        reader.consume(n);
    }
}

/// Reads the next CSV record of `path` into `rec`; `Ok(None)` at the end, else where it
/// starts.
fn next_csv_record(
    reader: &mut csv::Reader<File>,
    rec: &mut ByteRecord,
    path: &Path,
    validated: bool,
) -> Result<Option<At>, DataError> {
    match reader.read_byte_record(rec) {
        Ok(true) => Ok(Some(rec.position().map_or(
            At::Csv {
                byte: 0,
                parser_line: 0,
            },
            |p| At::Csv {
                byte: p.byte(),
                parser_line: p.line(),
            },
        ))),
        Ok(false) => Ok(None),
        Err(e) => Err(csv_error(path, e, validated)),
    }
}

/// Labels that arrive later (`data.labels`), by row id: each label's text and, when the
/// label files carry a `data.time` column, when it became known.
#[derive(Debug)]
pub(crate) struct LabelTable {
    by_id: HashMap<Box<[u8]>, KnownLabel>,
    /// The latest label time.
    latest: Option<i64>,
    /// Whether the labels carry a `data.time` column.
    timed: bool,
}

impl LabelTable {
    /// Reads every label file of `src.labels`: columns `data.id`, `data.target` and,
    /// optionally, `data.time`. A repeated id, a missing id or target column, or a time
    /// cell that is not a time is an error naming file, row and column.
    pub(crate) fn load(src: &CsvSource, labels: &LabelSource) -> Result<LabelTable, DataError> {
        let id = src.id.as_deref().unwrap_or_default();
        let files = Arc::new(DataFiles::resolve(&labels.path)?);
        let options = ReadOptions {
            delimiter: src.delimiter,
            expected: None,
            null: src
                .missing
                .first()
                .map(|m| m.trim().as_bytes().to_vec())
                .unwrap_or_default(),
        };
        let mut records = Records::open(files, options, 0)?;
        let header = records.header().to_vec();
        let first = records.files().path(0).to_path_buf();
        let column = |name: &str, role| find_column(&first, &header, name, role);
        let id_col = column(id, ColumnRole::Id)?;
        let target_col = column(&src.target, ColumnRole::Target)?;
        let time_col = match &src.time {
            Some(t) if header.contains(t) => Some(column(t, ColumnRole::Time)?),
            _ => None,
        };
        let mut table = LabelTable {
            by_id: HashMap::new(),
            latest: None,
            timed: time_col.is_some(),
        };
        records.check_ids(id_col, "label");
        let missing = MissingTokens::new(&src.missing);
        let mut rec = ByteRecord::new();
        while let Some(pos) = records.next(&mut rec)? {
            let path = records.path(pos);
            let cell = |c: usize| rec.get(c).unwrap_or_default().trim_ascii();
            let time = match time_col {
                Some(c) => {
                    let text = std::str::from_utf8(cell(c)).ok();
                    let t = text.and_then(crate::time::parse_time).ok_or_else(|| {
                        DataError::NotATime {
                            path: path.to_path_buf(),
                            row: pos.line(path),
                            column: header[c].clone(),
                            value: String::from_utf8_lossy(cell(c)).into_owned(),
                            rule: "the labels' time says when each label became known: write a date or timestamp",
                        }
                    })?;
                    table.latest = Some(table.latest.map_or(t, |l| l.max(t)));
                    Some(t)
                }
                None => None,
            };
            // A blank label is no label: its row waits, or is skipped once its window closes.
            if !is_missing(&missing, cell(target_col)) {
                table
                    .by_id
                    .insert(cell(id_col).into(), (cell(target_col).into(), time));
            }
        }
        Ok(table)
    }

    /// Labels read.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The latest time a label became known (labels with a time column).
    pub(crate) fn latest(&self) -> Option<i64> {
        self.latest
    }

    /// Whether the labels say when each became known (a `data.time` column).
    pub(crate) fn timed(&self) -> bool {
        self.timed
    }
}

/// How rows get their label from a [`LabelTable`]: by the row's id, counting only a label
/// known by the close of the row's window (its period's end plus `wait`).
#[derive(Debug, Clone)]
pub(crate) struct LabelJoin {
    pub(crate) table: Arc<LabelTable>,
    /// The id and time columns among the stream's columns.
    pub(crate) id_col: usize,
    pub(crate) time_col: usize,
    pub(crate) every: Every,
    pub(crate) wait: Every,
    /// The cell written for a row without a label (a missing-value spelling).
    pub(crate) missing: Vec<u8>,
}

/// What a join saw: rows that found a label in time, rows whose label came after their
/// window closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JoinCounts {
    pub(crate) matched: usize,
    pub(crate) late: usize,
}

impl LabelJoin {
    /// When the window of a row at `time` closes.
    pub(crate) fn close_of(&self, time: i64) -> i64 {
        let end = self.every.period_start(self.every.period_of(time) + 1);
        self.wait.after(end)
    }

    /// The label cell of `rec` (its own columns read so far): the label of its id when
    /// known by its window's close, else the missing spelling.
    fn label_of<'t>(&'t self, rec: &ByteRecord, counts: &mut JoinCounts) -> &'t [u8] {
        let id = rec.get(self.id_col).unwrap_or_default().trim_ascii();
        let Some((label, known)) = self.table.by_id.get(id) else {
            return &self.missing;
        };
        let time = std::str::from_utf8(rec.get(self.time_col).unwrap_or_default())
            .ok()
            .and_then(crate::time::parse_time);
        match (known, time) {
            (Some(known), Some(time)) if *known > self.close_of(time) => {
                counts.late += 1;
                &self.missing
            }
            _ => {
                counts.matched += 1;
                label
            }
        }
    }
}

/// The delimiter of `files`' CSV files, sniffed from the first one (`,` when there is none).
pub(crate) fn csv_delimiter(files: &DataFiles) -> u8 {
    files
        .files()
        .iter()
        .find(|f| f.format == FileFormat::Csv)
        .map_or(b',', |f| sniff_delimiter(&f.path))
}

/// Labels by id from `path` (a CSV or Parquet file, a folder or a glob, as `data.path`):
/// column `id` to column `label`, both as trimmed text. A repeated id, or a missing column,
/// is an error naming the file (and the row).
pub fn read_labels_by_id(
    path: &Path,
    id: &str,
    label: &str,
) -> Result<HashMap<String, String>, DataError> {
    let files = Arc::new(DataFiles::resolve(path)?);
    let delimiter = csv_delimiter(&files);
    let options = ReadOptions {
        delimiter,
        expected: None,
        null: Vec::new(),
    };
    let mut records = Records::open(files, options, 0)?;
    let header = records.header().to_vec();
    let first = records.files().path(0).to_path_buf();
    let id_col = find_column(&first, &header, id, ColumnRole::Id)?;
    let label_col = find_column(&first, &header, label, ColumnRole::Target)?;
    records.check_ids(id_col, "label");
    let mut labels = HashMap::new();
    let mut rec = ByteRecord::new();
    let missing = MissingTokens::new(crate::DEFAULT_MISSING);
    while records.next(&mut rec)?.is_some() {
        if is_missing(
            &missing,
            rec.get(label_col).unwrap_or_default().trim_ascii(),
        ) {
            // A blank label is no label: the row is not scored.
            continue;
        }
        let text = |c: usize| {
            String::from_utf8_lossy(rec.get(c).unwrap_or_default().trim_ascii()).into_owned()
        };
        labels.insert(text(id_col), text(label_col));
    }
    Ok(labels)
}

/// The index of the column called `name`; an error if it is missing or repeated.
pub(crate) fn find_column(
    path: &Path,
    header: &[String],
    name: &str,
    role: ColumnRole,
) -> Result<usize, DataError> {
    let mut hits = header.iter().enumerate().filter(|(_, h)| *h == name);
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(DataError::DuplicateColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
        }),
        (None, _) => Err(DataError::UnknownColumn {
            path: path.to_path_buf(),
            role,
            column: name.to_string(),
            available: header.to_vec(),
        }),
    }
}

/// The delimiter of a file read without a config (`eval`, `predict`): of `,`, tab and `;`,
/// the one that occurs most often in its first line (`,` on a tie or when none does).
pub fn sniff_delimiter(path: &Path) -> u8 {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(1 << 16).read_to_end(&mut head);
    }
    let line = head
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or_default();
    let count = |d: u8| line.iter().filter(|&&b| b == d).count();
    let mut best = (count(b','), b',');
    for d in [b'\t', b';'] {
        if count(d) > best.0 {
            best = (count(d), d);
        }
    }
    best.1
}

/// The spellings of a missing cell (`data.missing`, trimmed). A handful of short tokens
/// that every cell of the file is checked against: compared as bytes, length first, which
/// costs a fraction of hashing the cell.
#[derive(Debug, Clone)]
pub(crate) struct MissingTokens(Vec<Box<[u8]>>);

impl MissingTokens {
    pub(crate) fn new<S: AsRef<str>>(tokens: impl IntoIterator<Item = S>) -> MissingTokens {
        let mut all: Vec<Box<[u8]>> = Vec::new();
        for t in tokens {
            let t: Box<[u8]> = t.as_ref().trim().as_bytes().into();
            if !all.contains(&t) {
                all.push(t);
            }
        }
        MissingTokens(all)
    }
}

/// Whether a trimmed cell is one of the missing-value spellings.
pub(crate) fn is_missing(missing: &MissingTokens, cell: &[u8]) -> bool {
    missing.0.iter().any(|t| **t == *cell)
}
