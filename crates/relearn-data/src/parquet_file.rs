//! Parquet files read as rows of text cells, the cells a CSV of the same data holds, so
//! that the rest of the crate validates and parses both alike.
//!
//! [`ParquetRows`] reads one row group at a time, and within it a batch of rows at a time:
//! each column's values are decoded by the Parquet crate's typed column reader (no Arrow)
//! and written as text into one buffer per column, and rows are then handed out from those
//! buffers. Memory stays at a batch of text plus a page per column, whatever the file's
//! size.
//!
//! Cell text: a null is the caller's missing-value text; integers in decimal; floats as the
//! shortest text that reads back to the same value (`NaN`, `inf`, `-inf`); decimals exactly,
//! with as many fractional digits as their scale; strings as their UTF-8 bytes trimmed of
//! ASCII whitespace; booleans `true` / `false`; dates `YYYY-MM-DD`; timestamps (millis,
//! micros, nanos, or the INT96 of Spark and Impala) as [`format_time`] writes their
//! microsecond (nanoseconds rounded down to it), whether or not they are adjusted to UTC: a
//! local time is read as UTC, as a CSV timestamp without an offset is. Only flat columns are
//! read: a nested or repeated column, or a type with no such text (a time of day, UUID,
//! JSON, a decimal of more than 38 digits...), is an error of [`ParquetRows::open`] that
//! names it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use parquet::basic::{
    Compression, ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType,
};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    BoolType, ByteArrayType, DataType, DoubleType, FixedLenByteArrayType, FloatType, Int32Type,
    Int64Type, Int96Type,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::{ColumnDescriptor, Type as SchemaType};

use crate::error::DataError;
use crate::time::{civil_from_days, format_time};

/// Rows decoded from every column at a time: enough to amortise the work per batch, few
/// enough that a batch's text stays small.
const BATCH_ROWS: usize = 4096;

/// The four bytes that start and end a Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// The four bytes that end a Parquet file whose footer is encrypted.
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// The most digits of a decimal read (those that fit 128 bits).
const MAX_DECIMAL_DIGITS: i32 = 38;

/// Microseconds in a second and in a day.
const SECOND: i64 = 1_000_000;
const DAY: i64 = 86_400 * SECOND;

/// How to fix a nested or repeated column.
const NESTED_FIX: &str = "flatten it into top-level columns (pyarrow: `Table.flatten()`; Spark: select its fields) or leave it out of the file";

/// How to fix a column of another type.
const CAST_FIX: &str = "cast it to one of these types (a string, say) or leave it out of the file";

/// What a Parquet column's type makes it for relearn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParquetKind {
    /// Integers, floats and decimals.
    Numeric,
    /// Strings and booleans.
    Categorical,
    /// Dates and timestamps.
    Time,
}

/// How a column's values are written as text, from its physical and logical types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellFormat {
    /// BOOLEAN: `true` / `false`.
    Bool,
    /// INT32 or INT64, signed.
    Signed,
    /// INT32 or INT64 holding an unsigned integer (its bits read as `u32` / `u64`).
    Unsigned,
    /// FLOAT or DOUBLE: the shortest text that reads back to the value.
    Float,
    /// DECIMAL with this scale (digits after the point), on any physical type.
    Decimal(u32),
    /// BYTE_ARRAY of UTF-8 text (STRING, ENUM, or not annotated).
    Text,
    /// DATE: days since 1970-01-01.
    Date,
    /// TIMESTAMP in milliseconds, microseconds or nanoseconds since 1970-01-01.
    Timestamp(TimeUnit),
    /// INT96, the legacy timestamp of Spark and Impala: nanoseconds of a Julian day.
    Int96,
}

impl CellFormat {
    /// What the column is for relearn.
    fn kind(self) -> ParquetKind {
        match self {
            CellFormat::Signed
            | CellFormat::Unsigned
            | CellFormat::Float
            | CellFormat::Decimal(_) => ParquetKind::Numeric,
            CellFormat::Bool | CellFormat::Text => ParquetKind::Categorical,
            CellFormat::Date | CellFormat::Timestamp(_) | CellFormat::Int96 => ParquetKind::Time,
        }
    }
}

/// A Parquet file read one row group at a time, each row as text cells.
pub(crate) struct ParquetRows {
    path: PathBuf,
    reader: SerializedFileReader<File>,
    header: Vec<String>,
    kinds: Vec<ParquetKind>,
    formats: Vec<CellFormat>,
    /// Whether each column may hold nulls (then its definition levels are read).
    nullable: Vec<bool>,
    /// The text of a null cell.
    null: Vec<u8>,
    /// The next row group to open.
    next_group: usize,
    /// The row group being read, if any.
    group: Option<GroupCursor>,
    /// Rows handed out so far.
    rows_read: u64,
}

/// The row group being read: a reader and a batch of text per column.
struct GroupCursor {
    /// The row group's index in the file (0-based).
    index: usize,
    /// The file's row number (1-based) of the group's first row.
    first_row: u64,
    /// Rows in the group.
    rows: u64,
    /// Rows of the group decoded so far.
    decoded: u64,
    columns: Vec<ColumnCursor>,
    /// Rows in the current batch.
    batch_len: usize,
    /// The next row of the batch to hand out.
    batch_pos: usize,
}

/// One column of the row group being read: its reader, and the current batch as text.
struct ColumnCursor {
    values: TypedValues,
    /// Definition levels of the batch (nullable columns only): 0 is a null.
    levels: Vec<i16>,
    /// The batch's cells one after another: cell `i` is `text[bounds[i]..bounds[i + 1]]`.
    text: Vec<u8>,
    bounds: Vec<usize>,
}

/// A column reader with the non-null values of the batch it read last, by physical type.
enum TypedValues {
    Bool(Typed<BoolType>),
    Int32(Typed<Int32Type>),
    Int64(Typed<Int64Type>),
    Int96(Typed<Int96Type>),
    Float(Typed<FloatType>),
    Double(Typed<DoubleType>),
    Bytes(Typed<ByteArrayType>),
    Fixed(Typed<FixedLenByteArrayType>),
}

/// A typed column reader and its buffer of values.
struct Typed<T: DataType> {
    reader: ColumnReaderImpl<T>,
    values: Vec<T::T>,
}

impl<T: DataType> Typed<T> {
    fn new(reader: ColumnReaderImpl<T>) -> Self {
        Typed {
            reader,
            values: Vec::with_capacity(BATCH_ROWS),
        }
    }

    /// Reads up to `rows` rows, their definition levels into `levels` when given (the
    /// buffers are cleared first); the rows read.
    fn read(&mut self, rows: usize, levels: Option<&mut Vec<i16>>) -> Result<usize, ParquetError> {
        self.values.clear();
        let (records, _, _) = self
            .reader
            .read_records(rows, levels, None, &mut self.values)?;
        Ok(records)
    }
}

impl TypedValues {
    /// Wraps an untyped column reader.
    fn new(reader: ColumnReader) -> Self {
        match reader {
            ColumnReader::BoolColumnReader(r) => TypedValues::Bool(Typed::new(r)),
            ColumnReader::Int32ColumnReader(r) => TypedValues::Int32(Typed::new(r)),
            ColumnReader::Int64ColumnReader(r) => TypedValues::Int64(Typed::new(r)),
            ColumnReader::Int96ColumnReader(r) => TypedValues::Int96(Typed::new(r)),
            ColumnReader::FloatColumnReader(r) => TypedValues::Float(Typed::new(r)),
            ColumnReader::DoubleColumnReader(r) => TypedValues::Double(Typed::new(r)),
            ColumnReader::ByteArrayColumnReader(r) => TypedValues::Bytes(Typed::new(r)),
            ColumnReader::FixedLenByteArrayColumnReader(r) => TypedValues::Fixed(Typed::new(r)),
        }
    }

    /// Reads up to `rows` rows; the rows read.
    fn read(&mut self, rows: usize, levels: Option<&mut Vec<i16>>) -> Result<usize, ParquetError> {
        match self {
            TypedValues::Bool(t) => t.read(rows, levels),
            TypedValues::Int32(t) => t.read(rows, levels),
            TypedValues::Int64(t) => t.read(rows, levels),
            TypedValues::Int96(t) => t.read(rows, levels),
            TypedValues::Float(t) => t.read(rows, levels),
            TypedValues::Double(t) => t.read(rows, levels),
            TypedValues::Bytes(t) => t.read(rows, levels),
            TypedValues::Fixed(t) => t.read(rows, levels),
        }
    }
}

/// Why a value has no text.
#[derive(Debug)]
enum CellError {
    /// A string that is not UTF-8: its bytes.
    NotUtf8(Vec<u8>),
    /// A decimal of this many bytes, more than 128 bits.
    WideDecimal(usize),
    /// Fewer values than the definition levels say are not null.
    MissingValue,
}

impl ColumnCursor {
    /// Writes the `rows` rows of the batch just read as text cells, `null` for a null.
    /// An error names the batch's row (0-based) with the value that has no text.
    fn write_text(
        &mut self,
        format: CellFormat,
        null: &[u8],
        rows: usize,
    ) -> Result<(), (usize, CellError)> {
        self.text.clear();
        self.bounds.clear();
        self.bounds.push(0);
        let mut cells = Cells {
            levels: &self.levels,
            null,
            rows,
            text: &mut self.text,
            bounds: &mut self.bounds,
        };
        match (&self.values, format) {
            (TypedValues::Bool(t), _) => cells.write(&t.values, |v, out| {
                out.extend_from_slice(if *v { b"true" } else { b"false" });
                Ok(())
            }),
            (TypedValues::Int32(t), CellFormat::Unsigned) => {
                cells.write(&t.values, |v, out| push_int(*v as u32, out))
            }
            (TypedValues::Int32(t), CellFormat::Decimal(scale)) => {
                cells.write(&t.values, |v, out| push_decimal(i128::from(*v), scale, out))
            }
            (TypedValues::Int32(t), CellFormat::Date) => {
                cells.write(&t.values, |v, out| push_date(*v, out))
            }
            (TypedValues::Int32(t), _) => cells.write(&t.values, |v, out| push_int(*v, out)),
            (TypedValues::Int64(t), CellFormat::Unsigned) => {
                cells.write(&t.values, |v, out| push_int(*v as u64, out))
            }
            (TypedValues::Int64(t), CellFormat::Decimal(scale)) => {
                cells.write(&t.values, |v, out| push_decimal(i128::from(*v), scale, out))
            }
            (TypedValues::Int64(t), CellFormat::Timestamp(unit)) => {
                cells.write(&t.values, |v, out| push_time(micros(*v, unit), out))
            }
            (TypedValues::Int64(t), _) => cells.write(&t.values, |v, out| push_int(*v, out)),
            (TypedValues::Int96(t), _) => {
                cells.write(&t.values, |v, out| push_time(v.to_micros(), out))
            }
            (TypedValues::Float(t), _) => cells.write(&t.values, |v, out| push_float(*v, out)),
            (TypedValues::Double(t), _) => cells.write(&t.values, |v, out| push_float(*v, out)),
            (TypedValues::Bytes(t), CellFormat::Decimal(scale)) => {
                cells.write(&t.values, |v, out| push_decimal_bytes(v.data(), scale, out))
            }
            (TypedValues::Bytes(t), _) => cells.write(&t.values, |v, out| push_text(v.data(), out)),
            (TypedValues::Fixed(t), CellFormat::Decimal(scale)) => {
                cells.write(&t.values, |v, out| push_decimal_bytes(v.data(), scale, out))
            }
            (TypedValues::Fixed(t), _) => cells.write(&t.values, |v, out| push_text(v.data(), out)),
        }
    }
}

/// Where a batch's cells go, and which of its rows are null.
struct Cells<'a> {
    /// Definition levels, empty for a column without nulls.
    levels: &'a [i16],
    null: &'a [u8],
    rows: usize,
    text: &'a mut Vec<u8>,
    bounds: &'a mut Vec<usize>,
}

impl Cells<'_> {
    /// Writes each row's cell: `null`, or the next of `values` written by `write`.
    fn write<V>(
        &mut self,
        values: &[V],
        mut write: impl FnMut(&V, &mut Vec<u8>) -> Result<(), CellError>,
    ) -> Result<(), (usize, CellError)> {
        let mut values = values.iter();
        for row in 0..self.rows {
            if self.levels.get(row) == Some(&0) {
                self.text.extend_from_slice(self.null);
            } else {
                let value = values.next().ok_or((row, CellError::MissingValue))?;
                write(value, self.text).map_err(|e| (row, e))?;
            }
            self.bounds.push(self.text.len());
        }
        Ok(())
    }
}

/// Writes an integer in decimal.
fn push_int(v: impl itoa::Integer, out: &mut Vec<u8>) -> Result<(), CellError> {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    Ok(())
}

/// Writes a float as the shortest text that reads back to it (`NaN`, `inf`, `-inf` when
/// not finite).
fn push_float(v: impl zmij::Float, out: &mut Vec<u8>) -> Result<(), CellError> {
    out.extend_from_slice(zmij::Buffer::new().format(v).as_bytes());
    Ok(())
}

/// Writes `unscaled * 10^-scale` exactly, with `scale` digits after the point.
fn push_decimal(unscaled: i128, scale: u32, out: &mut Vec<u8>) -> Result<(), CellError> {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(unscaled.unsigned_abs()).as_bytes();
    if unscaled < 0 {
        out.push(b'-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + scale - digits.len(), b'0');
        out.extend_from_slice(digits);
    }
    Ok(())
}

/// Writes a decimal whose unscaled value is `bytes`, big-endian two's complement.
fn push_decimal_bytes(bytes: &[u8], scale: u32, out: &mut Vec<u8>) -> Result<(), CellError> {
    if bytes.len() > 16 {
        return Err(CellError::WideDecimal(bytes.len()));
    }
    let sign = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    let unscaled = bytes
        .iter()
        .fold(sign, |acc: i128, &b| (acc << 8) | i128::from(b));
    push_decimal(unscaled, scale, out)
}

/// Writes a string's bytes trimmed of ASCII whitespace; an error unless they are UTF-8.
fn push_text(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CellError> {
    let bytes = bytes.trim_ascii();
    if std::str::from_utf8(bytes).is_err() {
        return Err(CellError::NotUtf8(bytes.to_vec()));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Writes day `days` after 1970-01-01 as `YYYY-MM-DD`, as [`format_time`] writes a
/// midnight.
fn push_date(days: i32, out: &mut Vec<u8>) -> Result<(), CellError> {
    if !push_day(i64::from(days), out) {
        let (y, m, d) = civil_from_days(i64::from(days));
        out.extend_from_slice(format!("{y:04}-{m:02}-{d:02}").as_bytes());
    }
    Ok(())
}

/// Writes a moment (microseconds since 1970) as [`format_time`] does: `2026-12-01` at
/// midnight, else `2026-12-01T13:05:09Z` or `2026-12-01T13:05:09.123456Z`; without
/// allocating (a timestamp column has one in every row) unless the year is not 0 to 9999.
fn push_time(micros: i64, out: &mut Vec<u8>) -> Result<(), CellError> {
    if !push_day(micros.div_euclid(DAY), out) {
        out.extend_from_slice(format_time(micros).as_bytes());
        return Ok(());
    }
    let in_day = micros.rem_euclid(DAY);
    if in_day == 0 {
        return Ok(());
    }
    let (seconds, fraction) = ((in_day / SECOND) as u32, (in_day % SECOND) as u32);
    out.push(b'T');
    push_digits(seconds / 3600, 2, out);
    out.push(b':');
    push_digits(seconds / 60 % 60, 2, out);
    out.push(b':');
    push_digits(seconds % 60, 2, out);
    if fraction != 0 {
        out.push(b'.');
        push_digits(fraction, 6, out);
    }
    out.push(b'Z');
    Ok(())
}

/// Writes day `days` after 1970-01-01 as `YYYY-MM-DD` if its year is 0 to 9999 (`true`);
/// else writes nothing (`false`).
fn push_day(days: i64, out: &mut Vec<u8>) -> bool {
    let (y, m, d) = civil_from_days(days);
    let Ok(year @ 0..=9999) = u32::try_from(y) else {
        return false;
    };
    push_digits(year, 4, out);
    out.push(b'-');
    push_digits(m, 2, out);
    out.push(b'-');
    push_digits(d, 2, out);
    true
}

/// Writes the last `width` decimal digits of `v`, zero-padded.
fn push_digits(mut v: u32, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A timestamp in `unit` as microseconds: milliseconds scaled (saturating at the ends of
/// `i64`), nanoseconds rounded down to their microsecond (toward the earlier one, before
/// 1970 too).
fn micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::MILLIS => v.saturating_mul(1_000),
        TimeUnit::MICROS => v,
        TimeUnit::NANOS => v.div_euclid(1_000),
    }
}

impl ParquetRows {
    /// Opens `path` and reads its footer. `null` is the text written for a null cell
    /// (relearn passes its first missing-value spelling, usually ""). Errors name the path:
    /// a file that is not Parquet, one cut short (perhaps still being written), a corrupt
    /// footer, and a column whose type relearn cannot read (nested, repeated, or with no
    /// text form), naming the column and its type.
    pub(crate) fn open(path: &Path, null: &[u8]) -> Result<ParquetRows, DataError> {
        let mut file = File::open(path).map_err(|e| DataError::open(path, e))?;
        check_magic(path, &mut file)?;
        let reader = SerializedFileReader::new(file).map_err(|e| DataError::Parquet {
            path: path.to_path_buf(),
            message: format!(
                "the Parquet footer (the file's schema and list of row groups) cannot be read: {e}; the file is corrupt: write it again"
            ),
        })?;
        let meta = reader.metadata().file_metadata();
        let schema = meta.schema_descr();
        let (mut header, mut formats, mut nullable) = (Vec::new(), Vec::new(), Vec::new());
        for (i, field) in schema.root_schema().get_fields().iter().enumerate() {
            // A flat schema has one leaf column per field, in the same order, and the loop
            // stops at the first field that is not flat.
            formats.push(column_format(path, field, || schema.column(i))?);
            nullable.push(schema.column(i).max_def_level() > 0);
            header.push(field.name().to_string());
        }
        check_codecs(path, reader.metadata(), &header)?;
        Ok(ParquetRows {
            path: path.to_path_buf(),
            kinds: formats.iter().map(|f| f.kind()).collect(),
            reader,
            header,
            formats,
            nullable,
            null: null.to_vec(),
            next_group: 0,
            group: None,
            rows_read: 0,
        })
    }

    /// Column names in schema order (top-level columns).
    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    /// Per column: strings (UTF8 / STRING / ENUM, or a BYTE_ARRAY without annotation;
    /// dictionary-encoded or not) and booleans are categorical; DATE, TIMESTAMP and INT96
    /// are times; integers, floats and decimals are numeric.
    pub(crate) fn kinds(&self) -> &[ParquetKind] {
        &self.kinds
    }

    /// Total rows, from the footer's metadata.
    #[cfg(test)]
    pub(crate) fn num_rows(&self) -> u64 {
        u64::try_from(self.reader.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// Reads the next row into `rec` (cleared first) as text cells; `Ok(None)` at the end,
    /// else the row's 1-based number within the file. Errors (a corrupt page, an I/O
    /// failure, a string that is not UTF-8) name the path, the row group or the row, and
    /// the column.
    pub(crate) fn next_record(&mut self, rec: &mut ByteRecord) -> Result<Option<u64>, DataError> {
        loop {
            if let Some(group) = &mut self.group {
                if group.batch_pos < group.batch_len {
                    let pos = group.batch_pos;
                    rec.clear();
                    for column in &group.columns {
                        rec.push_field(&column.text[column.bounds[pos]..column.bounds[pos + 1]]);
                    }
                    group.batch_pos += 1;
                    self.rows_read += 1;
                    return Ok(Some(self.rows_read));
                }
                if group.decoded < group.rows {
                    self.read_batch()?;
                    continue;
                }
            }
            if self.next_group == self.reader.num_row_groups() {
                self.group = None;
                return Ok(None);
            }
            self.open_group()?;
        }
    }

    /// Opens the next row group: a column reader per column.
    fn open_group(&mut self) -> Result<(), DataError> {
        let index = self.next_group;
        let rows = u64::try_from(self.reader.metadata().row_group(index).num_rows()).unwrap_or(0);
        let mut cursor = GroupCursor {
            index,
            first_row: self.rows_read + 1,
            rows,
            decoded: 0,
            columns: Vec::with_capacity(self.header.len()),
            batch_len: 0,
            batch_pos: 0,
        };
        let opened = self.reader.get_row_group(index).and_then(|group| {
            for i in 0..self.header.len() {
                let reader = group.get_column_reader(i)?;
                cursor.columns.push(ColumnCursor {
                    values: TypedValues::new(reader),
                    levels: Vec::with_capacity(BATCH_ROWS),
                    text: Vec::new(),
                    bounds: Vec::with_capacity(BATCH_ROWS + 1),
                });
            }
            Ok(())
        });
        if let Err(e) = opened {
            let column = self
                .header
                .get(cursor.columns.len())
                .map_or("", |c| c.as_str());
            return Err(self.read_error(&cursor, column, parquet_message(&e)));
        }
        self.next_group += 1;
        self.group = Some(cursor);
        Ok(())
    }

    /// Decodes the next batch of the current row group into text, column by column.
    fn read_batch(&mut self) -> Result<(), DataError> {
        let mut group = self.group.take().expect("a row group is open");
        let want = (group.rows - group.decoded).min(BATCH_ROWS as u64) as usize;
        let first_row = group.first_row + group.decoded;
        for (i, column) in group.columns.iter_mut().enumerate() {
            column.levels.clear();
            let levels = self.nullable[i].then_some(&mut column.levels);
            let problem = match column.values.read(want, levels) {
                Ok(n) if n == want => None,
                Ok(n) => Some(format!(
                    "it holds {} values, but the row group has {} rows",
                    group.decoded + n as u64,
                    group.rows
                )),
                Err(e) => Some(parquet_message(&e)),
            };
            let written = match problem {
                None => column.write_text(self.formats[i], &self.null, want),
                Some(message) => return Err(self.read_error(&group, &self.header[i], message)),
            };
            if let Err((row, e)) = written {
                let row = first_row + row as u64;
                return Err(self.cell_error(&group, row, &self.header[i], e));
            }
        }
        group.decoded += want as u64;
        group.batch_len = want;
        group.batch_pos = 0;
        self.group = Some(group);
        Ok(())
    }

    /// The error for `group`'s `column` that cannot be read.
    fn read_error(&self, group: &GroupCursor, column: &str, message: String) -> DataError {
        DataError::ParquetRead {
            path: self.path.clone(),
            row_group: group.index,
            row_groups: self.reader.num_row_groups(),
            first_row: group.first_row,
            last_row: group.first_row + group.rows.saturating_sub(1),
            column: column.to_string(),
            message,
        }
    }

    /// The error for the cell at `row` (1-based, of the file) of `group`'s `column`.
    fn cell_error(&self, group: &GroupCursor, row: u64, column: &str, e: CellError) -> DataError {
        match e {
            CellError::NotUtf8(bytes) => {
                let at = std::str::from_utf8(&bytes)
                    .err()
                    .map_or(0, |e| e.valid_up_to());
                DataError::ParquetNotUtf8 {
                    path: self.path.clone(),
                    row,
                    column: column.to_string(),
                    byte: bytes.get(at).copied().unwrap_or(0),
                    offset: at,
                    cell: bytes.escape_ascii().to_string(),
                }
            }
            CellError::WideDecimal(len) => {
                let message =
                    format!("row {row} holds a decimal of {len} bytes, more than 38 digits");
                self.read_error(group, column, message)
            }
            CellError::MissingValue => {
                let message = format!("row {row}: fewer values than the column's non-null rows");
                self.read_error(group, column, message)
            }
        }
    }
}

/// What the Parquet reader said, without the `Parquet error: ` its messages start with.
fn parquet_message(e: &ParquetError) -> String {
    let message = e.to_string();
    match message.strip_prefix("Parquet error: ") {
        Some(rest) => rest.to_string(),
        None => message,
    }
}

/// Errors unless the file starts and ends with the Parquet magic bytes, saying what the
/// file looks like instead: cut short (or still being written), encrypted, or not Parquet.
fn check_magic(path: &Path, file: &mut File) -> Result<(), DataError> {
    let len = file.metadata().map_err(|e| DataError::open(path, e))?.len();
    let (head, tail) = read_ends(file, len).map_err(|e| DataError::open(path, e))?;
    let message = if head.as_slice() == MAGIC && &tail == MAGIC && len >= 12 {
        return Ok(());
    } else if head.as_slice() == MAGIC && &tail == ENCRYPTED_MAGIC {
        "the file's footer is encrypted (it ends with \"PARE\"); relearn reads unencrypted Parquet files only: write it without encryption".to_string()
    } else if MAGIC.starts_with(&head) {
        format!(
            "the Parquet file is incomplete: it ends after {len} bytes, before its footer (a complete file ends with the 4 bytes \"PAR1\"), so it was cut short or is still being written; wait until it is complete, or write it again. Writers should write under a temporary name and rename the file once it is complete (a rename is atomic), so that readers never see a partial file"
        )
    } else {
        format!(
            "not a Parquet file: it starts with \"{}\", but a Parquet file starts and ends with the 4 bytes \"PAR1\"",
            head.escape_ascii()
        )
    };
    Err(DataError::Parquet {
        path: path.to_path_buf(),
        message,
    })
}

/// The first (up to) 4 bytes of `file`, of length `len`, and its last 4 when it has at
/// least 8; the file is then rewound.
fn read_ends(file: &mut File, len: u64) -> std::io::Result<(Vec<u8>, [u8; 4])> {
    let mut head = Vec::with_capacity(4);
    let mut tail = [0u8; 4];
    Read::by_ref(file).take(4).read_to_end(&mut head)?;
    if len >= 8 {
        file.seek(SeekFrom::Start(len - 4))?;
        file.read_exact(&mut tail)?;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok((head, tail))
}

/// Errors if a column chunk is compressed with a codec this build does not decode, naming
/// the column and the codec (rather than failing on its first page as if it were corrupt).
fn check_codecs(path: &Path, meta: &ParquetMetaData, header: &[String]) -> Result<(), DataError> {
    for group in meta.row_groups() {
        for (i, chunk) in group.columns().iter().enumerate() {
            if let Some(codec) = unread_codec(chunk.compression()) {
                let column = header.get(i).map_or("", |c| c.as_str());
                return Err(DataError::Parquet {
                    path: path.to_path_buf(),
                    message: format!(
                        "column \"{column}\" is compressed with {codec}, which relearn does not decompress (it reads uncompressed, Snappy, gzip, LZ4 and zstd Parquet files): write the file with one of those (Snappy is the default of pyarrow, pandas and Spark)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The name of `codec` if relearn's Parquet reader is built without it.
fn unread_codec(codec: Compression) -> Option<&'static str> {
    match codec {
        Compression::BROTLI(_) => Some("Brotli"),
        Compression::LZO => Some("LZO"),
        _ => None,
    }
}

/// How `field`, a top-level field of the schema, is written as text; an error naming it
/// unless it is a flat column of a type relearn reads. `leaf` gives its column descriptor.
fn column_format(
    path: &Path,
    field: &SchemaType,
    leaf: impl FnOnce() -> std::sync::Arc<ColumnDescriptor>,
) -> Result<CellFormat, DataError> {
    let unsupported = |found: String, fix: &'static str| DataError::ParquetColumn {
        path: path.to_path_buf(),
        column: field.name().to_string(),
        found,
        fix,
    };
    if field.is_group() {
        let fields = field.get_fields().len();
        let found = match field.get_basic_info().logical_type_ref() {
            Some(LogicalType::List) => "a list (a nested column)".to_string(),
            Some(LogicalType::Map) => "a map (a nested column)".to_string(),
            _ => format!("a nested group of {fields} field(s) (a struct, list or map)"),
        };
        return Err(unsupported(found, NESTED_FIX));
    }
    let leaf = leaf();
    if field.get_basic_info().repetition() == Repetition::REPEATED {
        let found = format!("a repeated {} (a list of values per row)", type_name(&leaf));
        return Err(unsupported(found, NESTED_FIX));
    }
    cell_format(&leaf).ok_or_else(|| unsupported(type_name(&leaf), CAST_FIX))
}

/// The physical and logical type of a column, as a message names them.
fn type_name(leaf: &ColumnDescriptor) -> String {
    let physical = leaf.physical_type();
    match (leaf.logical_type_ref(), leaf.converted_type()) {
        (Some(logical), _) => format!("{physical} with logical type {logical:?}"),
        (None, ConvertedType::NONE) => format!("{physical}"),
        (None, converted) => format!("{physical} with converted type {converted}"),
    }
}

/// How a flat column of `leaf`'s type is written as text, if relearn reads it.
fn cell_format(leaf: &ColumnDescriptor) -> Option<CellFormat> {
    let logical = leaf.logical_type_ref();
    let converted = leaf.converted_type();
    let decimal = match logical {
        Some(LogicalType::Decimal(d)) => Some((d.precision, d.scale)),
        _ if converted == ConvertedType::DECIMAL => {
            Some((leaf.type_precision(), leaf.type_scale()))
        }
        _ => None,
    };
    if let Some((precision, scale)) = decimal {
        let fits = match leaf.physical_type() {
            PhysicalType::INT32 | PhysicalType::INT64 => true,
            PhysicalType::BYTE_ARRAY => precision <= MAX_DECIMAL_DIGITS,
            PhysicalType::FIXED_LEN_BYTE_ARRAY => leaf.type_length() <= 16,
            _ => false,
        };
        return (fits && scale >= 0).then_some(CellFormat::Decimal(scale as u32));
    }
    match leaf.physical_type() {
        PhysicalType::BOOLEAN => Some(CellFormat::Bool),
        PhysicalType::INT32 | PhysicalType::INT64 => {
            integer_format(leaf.physical_type(), logical, converted)
        }
        PhysicalType::INT96 => Some(CellFormat::Int96),
        PhysicalType::FLOAT | PhysicalType::DOUBLE => {
            logical.is_none().then_some(CellFormat::Float)
        }
        PhysicalType::BYTE_ARRAY => match (logical, converted) {
            (Some(LogicalType::String | LogicalType::Enum), _) => Some(CellFormat::Text),
            (None, ConvertedType::NONE | ConvertedType::UTF8 | ConvertedType::ENUM) => {
                Some(CellFormat::Text)
            }
            _ => None,
        },
        PhysicalType::FIXED_LEN_BYTE_ARRAY => None,
    }
}

/// How an INT32 or INT64 column (not a decimal) is written as text, if relearn reads it.
fn integer_format(
    physical: PhysicalType,
    logical: Option<&LogicalType>,
    converted: ConvertedType,
) -> Option<CellFormat> {
    let int64 = physical == PhysicalType::INT64;
    match logical {
        Some(LogicalType::Integer(int)) if int.is_signed => Some(CellFormat::Signed),
        Some(LogicalType::Integer(_)) => Some(CellFormat::Unsigned),
        Some(LogicalType::Date) if !int64 => Some(CellFormat::Date),
        Some(LogicalType::Timestamp(t)) if int64 => Some(CellFormat::Timestamp(t.unit)),
        Some(_) => None,
        None => match converted {
            ConvertedType::NONE
            | ConvertedType::INT_8
            | ConvertedType::INT_16
            | ConvertedType::INT_32
            | ConvertedType::INT_64 => Some(CellFormat::Signed),
            ConvertedType::UINT_8
            | ConvertedType::UINT_16
            | ConvertedType::UINT_32
            | ConvertedType::UINT_64 => Some(CellFormat::Unsigned),
            ConvertedType::DATE if !int64 => Some(CellFormat::Date),
            ConvertedType::TIMESTAMP_MILLIS if int64 => {
                Some(CellFormat::Timestamp(TimeUnit::MILLIS))
            }
            ConvertedType::TIMESTAMP_MICROS if int64 => {
                Some(CellFormat::Timestamp(TimeUnit::MICROS))
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
    use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
    use parquet::schema::parser::parse_message_type;

    use super::*;
    use crate::time::parse_time;

    /// A column's values to write, `None` for a null.
    enum Data {
        Bool(Vec<Option<bool>>),
        I32(Vec<Option<i32>>),
        I64(Vec<Option<i64>>),
        I96(Vec<Option<Int96>>),
        F32(Vec<Option<f32>>),
        F64(Vec<Option<f64>>),
        Bytes(Vec<Option<ByteArray>>),
        Fixed(Vec<Option<FixedLenByteArray>>),
    }

    /// Strings (or any bytes) as BYTE_ARRAY values.
    fn bytes(values: &[Option<&[u8]>]) -> Data {
        Data::Bytes(
            values
                .iter()
                .map(|v| v.map(|b| ByteArray::from(b.to_vec())))
                .collect(),
        )
    }

    /// Strings as BYTE_ARRAY values.
    fn strings(values: &[Option<&str>]) -> Data {
        Data::Bytes(
            values
                .iter()
                .map(|v| v.map(|s| ByteArray::from(s.as_bytes().to_vec())))
                .collect(),
        )
    }

    /// Writes `values` into a column: its definition levels when it is nullable.
    fn write_values<T: DataType>(column: &mut SerializedColumnWriter<'_>, values: &[Option<T::T>]) {
        let writer = column.typed::<T>();
        let nullable = writer.get_descriptor().max_def_level() > 0;
        let present: Vec<T::T> = values.iter().flatten().cloned().collect();
        let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
        writer
            .write_batch(&present, nullable.then_some(&levels[..]), None)
            .unwrap();
    }

    /// Writes a Parquet file of `schema` (a message-type string) with one row group per
    /// item of `groups`, each a list of columns in schema order.
    fn write_file(path: &Path, schema: &str, groups: &[Vec<Data>], props: WriterProperties) {
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let file = File::create(path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props)).unwrap();
        for group in groups {
            let mut row_group = writer.next_row_group().unwrap();
            let mut data = group.iter();
            while let Some(mut column) = row_group.next_column().unwrap() {
                match data.next().expect("a column of data per schema column") {
                    Data::Bool(v) => write_values::<BoolType>(&mut column, v),
                    Data::I32(v) => write_values::<Int32Type>(&mut column, v),
                    Data::I64(v) => write_values::<Int64Type>(&mut column, v),
                    Data::I96(v) => write_values::<Int96Type>(&mut column, v),
                    Data::F32(v) => write_values::<FloatType>(&mut column, v),
                    Data::F64(v) => write_values::<DoubleType>(&mut column, v),
                    Data::Bytes(v) => write_values::<ByteArrayType>(&mut column, v),
                    Data::Fixed(v) => write_values::<FixedLenByteArrayType>(&mut column, v),
                }
                column.close().unwrap();
            }
            row_group.close().unwrap();
        }
        writer.close().unwrap();
    }

    /// Every row of `path` as text cells (nulls as `NA`), with its row number.
    fn read_all(path: &Path) -> Result<Vec<(u64, Vec<String>)>, DataError> {
        let mut rows = ParquetRows::open(path, b"NA")?;
        let mut rec = ByteRecord::new();
        let mut out = Vec::new();
        while let Some(row) = rows.next_record(&mut rec)? {
            let cells = rec
                .iter()
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            out.push((row, cells));
        }
        Ok(out)
    }

    /// The cells of every row of `path`.
    fn cells(path: &Path) -> Vec<Vec<String>> {
        read_all(path)
            .unwrap()
            .into_iter()
            .map(|(_, cells)| cells)
            .collect()
    }

    /// The error of opening or reading `path`.
    fn read_error(path: &Path) -> DataError {
        read_all(path).expect_err("the file should not read")
    }

    fn props() -> WriterProperties {
        WriterProperties::builder().build()
    }

    /// A 16-byte big-endian two's complement decimal.
    fn fixed_decimal(v: i128) -> FixedLenByteArray {
        FixedLenByteArray::from(v.to_be_bytes().to_vec())
    }

    /// Cells as strings, row by row.
    fn rows_of(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn parquet_integers_are_written_in_decimal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("integers.parquet");
        let schema = "message m {
            required int32 i32;
            optional int64 i64;
            optional int32 u8 (INTEGER(8,false));
            optional int32 u32 (UINT_32);
            optional int64 u64 (INTEGER(64,false));
            optional int32 i16 (INT_16);
        }";
        let columns = vec![
            Data::I32(vec![Some(-7), Some(0), Some(i32::MAX)]),
            Data::I64(vec![Some(i64::MIN), None, Some(42)]),
            Data::I32(vec![Some(255), Some(0), None]),
            Data::I32(vec![Some(-1), Some(7), None]),
            Data::I64(vec![Some(-1), Some(1), None]),
            Data::I32(vec![Some(-300), None, Some(300)]),
        ];
        write_file(&path, schema, &[columns], props());
        let rows = ParquetRows::open(&path, b"NA").unwrap();
        assert_eq!(rows.num_rows(), 3);
        assert_eq!(rows.header(), ["i32", "i64", "u8", "u32", "u64", "i16"]);
        assert!(rows.kinds().iter().all(|&k| k == ParquetKind::Numeric));
        let u64_max = u64::MAX.to_string();
        let expected = rows_of(&[
            &[
                "-7",
                &i64::MIN.to_string(),
                "255",
                "4294967295",
                &u64_max,
                "-300",
            ],
            &["0", "NA", "0", "7", "1", "NA"],
            &["2147483647", "42", "NA", "NA", "NA", "300"],
        ]);
        assert_eq!(cells(&path), expected);
    }

    #[test]
    fn parquet_floats_and_decimals_are_written_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decimals.parquet");
        let schema = "message m {
            optional float f;
            optional double d;
            optional int32 dec32 (DECIMAL(9,2));
            optional int64 dec64 (DECIMAL(18,4));
            optional fixed_len_byte_array(16) dec128 (DECIMAL(38,10));
            optional binary decbin (DECIMAL(20,3));
        }";
        let big = fixed_decimal(i128::from(u64::MAX) * 1000);
        let columns = vec![
            Data::F32(vec![Some(0.1), Some(f32::NAN), Some(-1.5e-7)]),
            Data::F64(vec![Some(0.1), Some(f64::INFINITY), Some(-f64::INFINITY)]),
            Data::I32(vec![Some(-5), Some(12345), None]),
            Data::I64(vec![Some(10_000), Some(-123_456_789), Some(0)]),
            Data::Fixed(vec![Some(fixed_decimal(-1)), Some(big), None]),
            bytes(&[Some(&[0x30, 0x39]), Some(&[0xff, 0x85]), Some(&[0x00])]),
        ];
        write_file(&path, schema, &[columns], props());
        let kinds = ParquetRows::open(&path, b"NA").unwrap().kinds().to_vec();
        assert!(kinds.iter().all(|&k| k == ParquetKind::Numeric));
        let expected = rows_of(&[
            &["0.1", "0.1", "-0.05", "1.0000", "-0.0000000001", "12.345"],
            &[
                "NaN",
                "inf",
                "123.45",
                "-12345.6789",
                "1844674407370.9551615000",
                "-0.123",
            ],
            &["-1.5e-7", "-inf", "NA", "0.0000", "NA", "0.000"],
        ]);
        assert_eq!(cells(&path), expected);
    }

    #[test]
    fn parquet_float_cells_read_back_as_the_same_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floats.parquet");
        let f32s: Vec<f32> = (0..2000)
            .map(|i| (i as f32 * 0.37).sin() * 10f32.powi(i % 40 - 20))
            .collect();
        let f64s: Vec<f64> = (0..2000)
            .map(|i| (f64::from(i) * 0.37).sin() * 10f64.powi(i % 600 - 300))
            .collect();
        let columns = vec![
            Data::F32(f32s.iter().copied().map(Some).collect()),
            Data::F64(f64s.iter().copied().map(Some).collect()),
        ];
        write_file(
            &path,
            "message m { required float f; required double d; }",
            &[columns],
            props(),
        );
        for (i, row) in cells(&path).iter().enumerate() {
            assert_eq!(
                row[0].parse::<f32>().unwrap().to_bits(),
                f32s[i].to_bits(),
                "{}",
                row[0]
            );
            assert_eq!(
                row[1].parse::<f64>().unwrap().to_bits(),
                f64s[i].to_bits(),
                "{}",
                row[1]
            );
        }
    }

    #[test]
    fn parquet_strings_booleans_and_dates_are_written_as_csv_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text.parquet");
        let schema = "message m {
            required boolean b;
            optional boolean ob;
            optional binary s (STRING);
            optional binary u (UTF8);
            optional binary e (ENUM);
            optional binary raw;
            optional int32 day (DATE);
        }";
        let columns = vec![
            Data::Bool(vec![Some(true), Some(false), Some(true)]),
            Data::Bool(vec![None, Some(false), Some(true)]),
            strings(&[Some("  red "), Some(""), None]),
            strings(&[Some("Zürich"), Some("\tb"), Some("NA")]),
            strings(&[Some("LOW"), None, Some("HIGH")]),
            strings(&[Some("x y"), Some("z"), None]),
            Data::I32(vec![Some(0), Some(-1), Some(20_000)]),
        ];
        write_file(&path, schema, &[columns], props());
        let rows = ParquetRows::open(&path, b"NA").unwrap();
        use ParquetKind::{Categorical as C, Time as T};
        assert_eq!(rows.kinds(), [C, C, C, C, C, C, T]);
        assert_eq!(rows.header(), ["b", "ob", "s", "u", "e", "raw", "day"]);
        assert_eq!(
            cells(&path),
            [
                ["true", "NA", "red", "Zürich", "LOW", "x y", "1970-01-01"],
                ["false", "false", "", "b", "NA", "z", "1969-12-31"],
                ["true", "true", "NA", "NA", "HIGH", "NA", "2024-10-04"],
            ]
        );
    }

    #[test]
    fn parquet_dictionary_encoded_strings_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dict.parquet");
        let names = ["north", "south ", " east", "west"];
        let values: Vec<Option<&str>> = (0..10_000)
            .map(|i| (i % 7 != 3).then_some(names[i % 4]))
            .collect();
        let props = WriterProperties::builder()
            .set_dictionary_enabled(true)
            .build();
        write_file(
            &path,
            "message m { optional binary city (STRING); }",
            &[vec![strings(&values)]],
            props,
        );
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let encodings: Vec<Encoding> = reader
            .metadata()
            .row_group(0)
            .column(0)
            .encodings()
            .collect();
        assert!(
            encodings.contains(&Encoding::RLE_DICTIONARY),
            "{encodings:?}"
        );
        let read = cells(&path);
        assert_eq!(read.len(), 10_000);
        for (i, row) in read.iter().enumerate() {
            assert_eq!(row[0], values[i].map_or("NA", str::trim_ascii), "row {i}");
        }
    }

    #[test]
    fn parquet_timestamps_in_every_unit_become_the_same_moment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("times.parquet");
        let schema = "message m {
            optional int64 ms_utc (TIMESTAMP(MILLIS,true));
            optional int64 us_local (TIMESTAMP(MICROS,false));
            optional int64 ns_utc (TIMESTAMP(NANOS,true));
            optional int64 ns_local (TIMESTAMP(NANOS,false));
            optional int64 legacy_ms (TIMESTAMP_MILLIS);
            optional int64 legacy_us (TIMESTAMP_MICROS);
            optional int96 spark;
        }";
        // 2026-12-01T13:05:09.123456789Z, midnight of 2026-12-01, and 1 ns before 1970.
        let (day, clock) = (20_788_i64, 47_109_123_456_789_i64);
        let ns = day * 86_400_000_000_000 + clock;
        let int96 = |days: i64, nanos: i64| {
            let mut v = Int96::new();
            let julian = (days + 2_440_588) as u32;
            v.set_data(nanos as u32, (nanos >> 32) as u32, julian);
            v
        };
        // The three moments in a unit of which a day holds `per_day`, then a null.
        let column = |per_day: i64| {
            let per_ns = 86_400_000_000_000 / per_day;
            Data::I64(vec![Some(ns / per_ns), Some(day * per_day), Some(-1), None])
        };
        let (millis, micros, nanos) = (86_400_000, 86_400_000_000, 86_400_000_000_000);
        let spark = vec![
            Some(int96(day, clock)),
            Some(int96(day, 0)),
            Some(int96(-1, nanos - 1)),
            None,
        ];
        let columns = vec![
            column(millis),
            column(micros),
            column(nanos),
            column(nanos),
            column(millis),
            column(micros),
            Data::I96(spark),
        ];
        write_file(&path, schema, &[columns], props());
        let kinds = ParquetRows::open(&path, b"").unwrap().kinds().to_vec();
        assert!(kinds.iter().all(|&k| k == ParquetKind::Time));
        let ms = [
            "2026-12-01T13:05:09.123000Z",
            "2026-12-01",
            "1969-12-31T23:59:59.999000Z",
            "NA",
        ];
        let us = [
            "2026-12-01T13:05:09.123456Z",
            "2026-12-01",
            "1969-12-31T23:59:59.999999Z",
            "NA",
        ];
        let read = cells(&path);
        for (i, row) in read.iter().enumerate() {
            assert_eq!(
                row,
                &[ms[i], us[i], us[i], us[i], ms[i], us[i], us[i]],
                "row {i}"
            );
        }
    }

    #[test]
    fn parquet_time_cells_parse_back_to_their_moment() {
        let mut moments = vec![
            0,
            -1,
            1,
            i64::from(i32::MAX) * 1_000_000,
            -62_135_596_800_000_000,
        ];
        // From year 1 to 9999, midnights, whole seconds and fractions.
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let micros = x.rem_euclid(315_537_897_600_000_000) - 62_135_596_800_000_000;
            moments.extend([
                micros,
                micros - micros.rem_euclid(86_400_000_000),
                micros - micros % 1_000_000,
            ]);
        }
        let mut out = Vec::new();
        for m in moments {
            out.clear();
            push_time(m, &mut out).unwrap();
            let text = std::str::from_utf8(&out).unwrap();
            assert_eq!(text, format_time(m));
            assert_eq!(parse_time(text), Some(m), "{text}");
        }
        // Years outside 0-9999, as format_time writes them.
        for m in [
            i64::MIN,
            i64::MAX,
            -62_167_219_200_000_001,
            253_402_300_800_000_000,
        ] {
            out.clear();
            push_time(m, &mut out).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), format_time(m));
        }
        for days in [-719_162, -1, 0, 1, 2_932_896] {
            out.clear();
            push_date(days, &mut out).unwrap();
            let text = std::str::from_utf8(&out).unwrap();
            assert_eq!(
                parse_time(text),
                Some(i64::from(days) * 86_400_000_000),
                "{text}"
            );
        }
    }

    #[test]
    fn parquet_row_numbers_continue_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.parquet");
        let sizes = [3usize, 1, 0, 9000, 5];
        let mut next = 0i64;
        let groups: Vec<Vec<Data>> = sizes
            .iter()
            .map(|&n| {
                let ids: Vec<i64> = (next..next + n as i64).collect();
                next += n as i64;
                vec![
                    Data::I64(ids.iter().map(|&i| Some(i)).collect()),
                    Data::F64(
                        ids.iter()
                            .map(|&i| (i % 5 != 0).then_some(i as f64 / 4.0))
                            .collect(),
                    ),
                ]
            })
            .collect();
        write_file(
            &path,
            "message m { required int64 id; optional double x; }",
            &groups,
            props(),
        );
        let rows = read_all(&path).unwrap();
        assert_eq!(ParquetRows::open(&path, b"").unwrap().num_rows(), 9009);
        assert_eq!(rows.len(), 9009);
        for (i, (row, cells)) in rows.iter().enumerate() {
            assert_eq!(*row, i as u64 + 1);
            assert_eq!(cells[0], i.to_string());
            let x = if i % 5 == 0 {
                "NA".to_string()
            } else {
                zmij::Buffer::new().format(i as f64 / 4.0).to_string()
            };
            assert_eq!(cells[1], x, "row {row}");
        }
    }

    #[test]
    fn parquet_files_in_every_codec_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let codecs = [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::LZ4,
            Compression::LZ4_RAW,
            Compression::GZIP(GzipLevel::default()),
        ];
        for codec in codecs {
            let path = dir.path().join(format!("{codec}.parquet"));
            let values: Vec<Option<&str>> =
                (0..500).map(|i| Some(["a", "b", "c"][i % 3])).collect();
            let props = WriterProperties::builder().set_compression(codec).build();
            write_file(
                &path,
                "message m { required binary s (STRING); }",
                &[vec![strings(&values)]],
                props,
            );
            let read = cells(&path);
            assert_eq!(read.len(), 500, "{codec}");
            assert_eq!(read[499], ["b"], "{codec}");
        }
    }

    #[test]
    fn parquet_rows_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<ParquetRows>();
    }

    #[test]
    fn parquet_codecs_left_out_of_the_build_are_named() {
        use parquet::basic::BrotliLevel;
        assert_eq!(
            unread_codec(Compression::BROTLI(BrotliLevel::default())),
            Some("Brotli")
        );
        assert_eq!(unread_codec(Compression::LZO), Some("LZO"));
        assert_eq!(unread_codec(Compression::SNAPPY), None);
        assert_eq!(unread_codec(Compression::LZ4_RAW), None);
    }

    #[test]
    fn parquet_truncated_file_may_still_be_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whole.parquet");
        let values: Vec<Option<i64>> = (0..1000).map(Some).collect();
        write_file(
            &path,
            "message m { required int64 id; }",
            &[vec![Data::I64(values)]],
            props(),
        );
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.parquet");
        std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
        let e = read_error(&cut);
        assert!(
            matches!(&e, DataError::Parquet { path, .. } if *path == cut),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: the Parquet file is incomplete",
                cut.display()
            )),
            "{message}"
        );
        assert!(
            message.contains("still being written") && message.contains("temporary name"),
            "{message}"
        );
        std::fs::write(&cut, b"").unwrap();
        assert!(read_error(&cut).to_string().contains("ends after 0 bytes"));
    }

    #[test]
    fn parquet_rejects_a_file_that_is_not_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.parquet");
        std::fs::write(&path, "ts,x,y\n2026-01-01,1,yes\n").unwrap();
        let message = read_error(&path).to_string();
        assert_eq!(
            message,
            format!(
                "{}: not a Parquet file: it starts with \"ts,x\", but a Parquet file starts and ends with the 4 bytes \"PAR1\"",
                path.display()
            )
        );
        let e = read_error(&dir.path().join("absent.parquet"));
        assert!(matches!(e, DataError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn parquet_nested_repeated_and_other_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "optional group address { optional binary city (UTF8); }",
                "address",
                "a nested group of 1 field(s)",
            ),
            ("repeated int32 scores;", "scores", "a repeated INT32"),
            (
                "optional int64 at (TIME(MICROS,true));",
                "at",
                "INT64 with logical type Time",
            ),
            (
                "optional fixed_len_byte_array(16) id (UUID);",
                "id",
                "FIXED_LEN_BYTE_ARRAY with logical type Uuid",
            ),
            (
                "optional binary doc (JSON);",
                "doc",
                "BYTE_ARRAY with logical type Json",
            ),
        ];
        for (i, (field, column, found)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.parquet"));
            let schema = format!("message m {{ required int32 ok; {field} }}");
            let schema = Arc::new(parse_message_type(&schema).unwrap());
            let writer =
                SerializedFileWriter::new(File::create(&path).unwrap(), schema, Arc::new(props()))
                    .unwrap();
            writer.close().unwrap();
            let e = read_error(&path);
            let message = e.to_string();
            assert!(
                matches!(&e, DataError::ParquetColumn { column: c, .. } if c == column),
                "{e:?}"
            );
            assert!(
                message.contains(&format!("column \"{column}\" is {found}")),
                "{message}"
            );
        }
    }

    #[test]
    fn parquet_invalid_utf8_names_the_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.parquet");
        let columns = vec![
            Data::I32(vec![Some(1), Some(2), Some(3)]),
            bytes(&[Some(b"ok"), Some(b"caf\xe9 "), Some(b"x")]),
        ];
        write_file(
            &path,
            "message m { required int32 id; optional binary name (STRING); }",
            &[columns],
            props(),
        );
        let e = read_error(&path);
        assert!(
            matches!(&e, DataError::ParquetNotUtf8 { row: 2, column, byte: 0xE9, offset: 3, cell, .. } if column == "name" && cell == "caf\\xe9"),
            "{e:?}"
        );
    }

    #[test]
    fn parquet_corrupt_page_names_the_row_group_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.parquet");
        let values: Vec<Option<i64>> = (0..5000).map(|i| Some(i * 7919 % 10_007)).collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        write_file(
            &path,
            "message m { required int64 id; }",
            &[vec![Data::I64(values)]],
            props,
        );
        let mut bytes = std::fs::read(&path).unwrap();
        // The first page's header and data, after the 4 magic bytes.
        for b in &mut bytes[4..200] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let e = read_error(&path);
        assert!(
            matches!(&e, DataError::ParquetRead { row_group: 0, row_groups: 1, first_row: 1, last_row: 5000, column, .. } if column == "id"),
            "{e:?}"
        );
    }
}

/// Read speed on a file shaped like the streaming benchmark's (run by hand:
/// `cargo test --workspace --lib parquet_read_speed -- --ignored --nocapture`).
#[cfg(test)]
mod speed {
    use std::sync::Arc;
    use std::time::Instant;

    use parquet::basic::Compression;
    use parquet::data_type::ByteArray;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    const ROWS: usize = 1_000_000;

    /// Writes `ROWS` rows of a timestamp, 7 doubles (one with nulls) and 2 strings, in row
    /// groups of 128Ki rows.
    fn write_bench_file(path: &Path) {
        let schema = "message m {
            required int64 ts (TIMESTAMP(MICROS,true));
            required double x1; required double x2; required double x3;
            required double x4; required double x5; required double x6;
            optional binary cat (STRING); optional double amount; required binary y (STRING);
        }";
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut writer =
            SerializedFileWriter::new(File::create(path).unwrap(), schema, Arc::new(props))
                .unwrap();
        let group_rows = 128 * 1024;
        for start in (0..ROWS).step_by(group_rows) {
            let rows: Vec<usize> = (start..(start + group_rows).min(ROWS)).collect();
            let mut group = writer.next_row_group().unwrap();
            let mut index = 0;
            while let Some(mut column) = group.next_column().unwrap() {
                let levels: Vec<i16> = rows.iter().map(|&r| i16::from(r % 50 != 0)).collect();
                match index {
                    0 => {
                        let ts: Vec<i64> = rows
                            .iter()
                            .map(|&r| 1_767_225_600_000_000 + r as i64 * 5_184_000)
                            .collect();
                        column
                            .typed::<Int64Type>()
                            .write_batch(&ts, None, None)
                            .unwrap();
                    }
                    1..=6 | 8 => {
                        let x: Vec<f64> = rows
                            .iter()
                            .filter(|&&r| index != 8 || r % 50 != 0)
                            .map(|&r| ((r * (index + 3)) as f64 * 0.618).sin() * 100.0)
                            .collect();
                        let levels = (index == 8).then_some(&levels[..]);
                        column
                            .typed::<DoubleType>()
                            .write_batch(&x, levels, None)
                            .unwrap();
                    }
                    _ => {
                        let names = ["alpha", "beta", "gamma", "delta", "yes", "no"];
                        let s: Vec<ByteArray> = rows
                            .iter()
                            .filter(|&&r| index != 7 || r % 50 != 0)
                            .map(|&r| ByteArray::from(names[(r * 7 + index) % 6]))
                            .collect();
                        let levels = (index == 7).then_some(&levels[..]);
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(&s, levels, None)
                            .unwrap();
                    }
                }
                column.close().unwrap();
                index += 1;
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    #[test]
    #[ignore = "a measurement, run by hand"]
    fn parquet_read_speed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.parquet");
        write_bench_file(&path);
        let mut rec = ByteRecord::new();
        let start = Instant::now();
        let mut rows = ParquetRows::open(&path, b"").unwrap();
        let mut bytes = 0;
        while rows.next_record(&mut rec).unwrap().is_some() {
            bytes += rec.as_slice().len();
        }
        let columnar = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let mut text = Vec::new();
        let mut count = 0;
        for row in reader.get_row_iter(None).unwrap() {
            rec.clear();
            for (_, field) in row.unwrap().get_column_iter() {
                use std::io::Write;
                text.clear();
                write!(text, "{field}").unwrap();
                rec.push_field(&text);
            }
            count += 1;
        }
        let row_api = start.elapsed().as_secs_f64();
        assert_eq!(count, ROWS);
        let size = std::fs::metadata(&path).unwrap().len();
        eprintln!(
            "{ROWS} rows x 10 columns, {size} bytes, {bytes} bytes of cells: column readers {:.0} rows/s ({columnar:.2} s), row API {:.0} rows/s ({row_api:.2} s)",
            ROWS as f64 / columnar,
            ROWS as f64 / row_api
        );
    }
}

/// relearn's reader on the folders of `bench/parquet/make_stream.py` (run by hand with
/// `PARQUET_BENCH_DATA` set to its output folder: `cargo test --workspace --lib
/// parquet_bench_folder -- --ignored --nocapture`): its speed, and that every cell reads as
/// the cell pyarrow wrote to the CSV of the same rows does.
#[cfg(test)]
mod bench_folder {
    use std::time::Instant;

    use super::*;
    use crate::csv_file::read_number;
    use crate::time::parse_time;

    /// The `part-0.parquet` files under `data/events`, by path.
    fn parquet_files(data: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("events"))
            .unwrap()
            .map(|day| day.unwrap().path().join("part-0.parquet"))
            .collect();
        files.sort();
        files
    }

    /// Whether a Parquet cell and a CSV cell of `kind` read as the same value.
    fn same_value(kind: ParquetKind, parquet: &[u8], csv: &[u8]) -> bool {
        let (parquet, csv) = (parquet.trim_ascii(), csv.trim_ascii());
        match kind {
            ParquetKind::Numeric if !parquet.is_empty() => {
                read_number(parquet).map(f32::to_bits) == read_number(csv).map(f32::to_bits)
            }
            ParquetKind::Time => {
                let time = |b: &[u8]| parse_time(std::str::from_utf8(b).unwrap());
                time(parquet) == time(csv)
            }
            _ => parquet == csv,
        }
    }

    #[test]
    #[ignore = "a measurement on generated data, run by hand"]
    fn parquet_bench_folder() {
        let Some(data) = std::env::var_os("PARQUET_BENCH_DATA") else {
            return;
        };
        let data = PathBuf::from(data);
        let files = parquet_files(&data);
        let (mut rec, mut rows) = (ByteRecord::new(), 0u64);
        let start = Instant::now();
        for file in &files {
            let mut reader = ParquetRows::open(file, b"").unwrap();
            while reader.next_record(&mut rec).unwrap().is_some() {
                rows += 1;
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        eprintln!(
            "{} files, {rows} rows in {seconds:.2} s: {:.0} rows/s",
            files.len(),
            rows as f64 / seconds
        );
        for file in &files {
            let day = file.parent().unwrap().file_name().unwrap();
            let csv_path = data.join("events_csv").join(day).join("part-0.csv");
            let mut csv = csv::Reader::from_path(&csv_path).unwrap();
            let mut reader = ParquetRows::open(file, b"").unwrap();
            let kinds = reader.kinds().to_vec();
            let mut csv_rec = ByteRecord::new();
            while let Some(row) = reader.next_record(&mut rec).unwrap() {
                assert!(csv.read_byte_record(&mut csv_rec).unwrap());
                for (i, kind) in kinds.iter().enumerate() {
                    let (p, c) = (&rec[i], &csv_rec[i]);
                    assert!(
                        same_value(*kind, p, c),
                        "{file:?} row {row} column {i}: {p:?} {c:?}"
                    );
                }
            }
            assert!(!csv.read_byte_record(&mut csv_rec).unwrap());
        }
    }
}
