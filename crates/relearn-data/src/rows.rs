//! Rows held in memory (the rows of a server's request) read against a checkpoint's
//! preprocessing exactly as [`crate::CsvRows`] reads a file's rows: the same missing-value
//! spellings, the same number parsing, the same category text. So a row sent to a server
//! and the same row in a CSV given to `predict` become the same model input.

use std::collections::HashMap;

use crate::csv_file::{BadNumber, read_number_str};
use crate::records::{MissingTokens, is_missing};
use crate::{Batch, Preprocessor, TimeEncoder, parse_time, quoted};

/// Why rows cannot be read against a checkpoint's features: what is wrong and where (the
/// 0-based row of the request and the column's name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    /// Feature columns the checkpoint needs are absent.
    #[error(
        "missing feature column{} {}: the checkpoint needs every one of {}",
        if missing.len() == 1 { "" } else { "s" },
        quoted(missing),
        quoted(expected)
    )]
    MissingColumns {
        /// The absent columns.
        missing: Vec<String>,
        /// Every feature column of the checkpoint.
        expected: Vec<String>,
    },
    /// A column name given twice.
    #[error("column \"{column}\" is given twice")]
    DuplicateColumn {
        /// The column.
        column: String,
    },
    /// A row with another number of cells than the header has columns.
    #[error("row {row} has {found} cells, but the header has {expected} columns")]
    Ragged {
        /// The row (0-based).
        row: usize,
        /// Cells in the header.
        expected: usize,
        /// Cells in the row.
        found: usize,
    },
    /// A numeric feature's cell is not a finite number.
    #[error("row {row}, column \"{column}\": {value:?} {problem}")]
    BadNumber {
        /// The row (0-based).
        row: usize,
        /// The column.
        column: String,
        /// The cell as given.
        value: String,
        /// What is wrong with it, and how to fix it.
        problem: &'static str,
    },
}

/// Reads rows, given as cells in the order of a header, into a [`Batch`] of a checkpoint's
/// raw features (numeric ones in model order, then categorical ones), ready for
/// [`Preprocessor::inputs`].
#[derive(Debug, Clone)]
pub struct RowReader {
    /// The header's position of each numeric feature, in model order.
    numeric: Vec<usize>,
    /// The numeric features' names, in model order.
    numeric_names: Vec<String>,
    /// The header's position of each time column, with its calendar features (the last
    /// numeric features).
    time: Vec<(usize, TimeEncoder)>,
    /// The header's position of each categorical feature, in model order.
    categorical: Vec<usize>,
    missing: MissingTokens,
    /// The `data.missing` spellings that are numbers (`-999`, `-999.0`), as the bits of
    /// the number: a JSON number equal to one is missing, whatever its spelling was.
    missing_numbers: Vec<u64>,
    width: usize,
}

/// One cell of a row: text as a CSV holds it, a number (JSON), or a cell known to be
/// missing (JSON `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Text, read as a CSV cell is (trimmed; a `data.missing` spelling is missing).
    Text(&'a str),
    /// A number parsed from a JSON body: read as its shortest decimal text would be (the
    /// digits the client wrote, for up to 15 significant digits), without the text.
    Number(f64),
    /// A missing value, whatever `data.missing` says.
    Missing,
}

/// A JSON number's text: an integer's digits (`12`, not `12.0`: JSON does not tell `12`
/// from `12.0` apart once parsed), else the shortest decimal that reads back to `v`.
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 2f64.powi(53) {
        format!("{}", v as i64)
    } else {
        zmij::Buffer::new().format(v).to_string()
    }
}

/// `v` rounded to `f32` as its decimal text would be: `v as f32`, except when `v` lies
/// exactly halfway between two `f32`s, where rounding twice (decimal to `f64` to `f32`) can
/// differ from rounding once, and the text decides (`None`). Anywhere else the two
/// roundings agree: a halfway point between `f32`s is itself an `f64`, so a decimal closer to
/// it than `v` is would have been read as it.
fn exact_f32(v: f64) -> Option<f32> {
    let f = v as f32;
    if !f.is_finite() || f64::from(f) == v {
        return f.is_finite().then_some(f);
    }
    let other = if f64::from(f) < v {
        f.next_up()
    } else {
        f.next_down()
    };
    let halfway = (f64::from(f) + f64::from(other)) / 2.0;
    (halfway != v).then_some(f)
}

impl RowReader {
    /// Finds the checkpoint's features in `header`. Every feature must be there, once;
    /// other columns are ignored (see [`RowReader::unknown_columns`]).
    pub fn new<S: AsRef<str>>(pre: &Preprocessor, header: &[S]) -> Result<RowReader, RowError> {
        // As `predict` reads a file: other columns may repeat (two blank names, say), the
        // first of them being the one read; a feature may not.
        let mut position: HashMap<&str, usize> = HashMap::with_capacity(header.len());
        let mut repeated = Vec::new();
        for (i, name) in header.iter().enumerate() {
            if *position.entry(name.as_ref()).or_insert(i) != i {
                repeated.push(name.as_ref());
            }
        }
        let categorical_names = pre.categorical_names();
        let time_names: Vec<String> = pre.time.iter().map(|t| t.column.clone()).collect();
        let is_feature = |n: &str| {
            pre.plain_feature_names()
                .iter()
                .chain(&time_names)
                .chain(&categorical_names)
                .any(|f| f == n)
        };
        if let Some(column) = repeated.into_iter().find(|n| is_feature(n)) {
            return Err(RowError::DuplicateColumn {
                column: column.to_string(),
            });
        }
        let expected: Vec<String> = pre
            .plain_feature_names()
            .iter()
            .chain(&time_names)
            .chain(&categorical_names)
            .cloned()
            .collect();
        let missing: Vec<String> = expected
            .iter()
            .filter(|n| !position.contains_key(n.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(RowError::MissingColumns { missing, expected });
        }
        let positions = |names: &[String]| names.iter().map(|n| position[n.as_str()]).collect();
        Ok(RowReader {
            numeric: positions(pre.plain_feature_names()),
            numeric_names: pre.plain_feature_names().to_vec(),
            time: pre
                .time
                .iter()
                .map(|t| (position[t.column.as_str()], t.clone()))
                .collect(),
            categorical: positions(&categorical_names),
            missing: MissingTokens::new(pre.missing_tokens()),
            missing_numbers: pre
                .missing_tokens()
                .iter()
                .filter_map(|t| {
                    let t = t.trim();
                    let v = t.parse::<f64>().ok()?;
                    v.is_finite().then_some(v.to_bits())
                })
                .collect(),
            width: header.len(),
        })
    }

    /// The columns of `header` that are not features of `pre`, in header order.
    pub fn unknown_columns<S: AsRef<str>>(pre: &Preprocessor, header: &[S]) -> Vec<String> {
        let categorical = pre.categorical_names();
        header
            .iter()
            .map(AsRef::as_ref)
            .filter(|h| {
                !pre.plain_feature_names()
                    .iter()
                    .chain(&categorical)
                    .any(|f| f == h)
                    && !pre.time.iter().any(|t| t.column == *h)
            })
            .map(str::to_string)
            .collect()
    }

    /// An empty batch for these features.
    pub fn batch(&self, rows: usize) -> Batch {
        let width = self.width_numeric();
        let mut batch = Batch::mixed(width, self.categorical.len());
        batch.features.reserve(rows * width);
        batch
    }

    /// Numeric features per row: the plain ones and the calendar features.
    fn width_numeric(&self) -> usize {
        self.numeric.len() + self.time.iter().map(|(_, t)| t.width()).sum::<usize>()
    }

    /// Reads row `row` (0-based, for messages), whose cells are in header order, onto
    /// `batch` (target 0).
    pub fn push(&self, batch: &mut Batch, row: usize, cells: &[Cell<'_>]) -> Result<(), RowError> {
        if cells.len() != self.width {
            return Err(RowError::Ragged {
                row,
                expected: self.width,
                found: cells.len(),
            });
        }
        let mut numeric = Vec::with_capacity(self.width_numeric());
        for (&col, name) in self.numeric.iter().zip(&self.numeric_names) {
            numeric.push(self.number(cells[col], row, name)?);
        }
        for (col, encoder) in &self.time {
            let at = numeric.len();
            numeric.resize(at + encoder.width(), 0.0);
            let time = self.time_of(cells[*col], row, &encoder.column)?;
            encoder.encode(time, &mut numeric[at..]);
        }
        let categories: Vec<String> = self
            .categorical
            .iter()
            .map(|&col| match cells[col] {
                Cell::Missing => String::new(),
                Cell::Number(v) if self.missing_numbers.contains(&v.to_bits()) => String::new(),
                Cell::Number(v) => number_text(v),
                Cell::Text(text) => {
                    let text = text.trim_ascii();
                    match is_missing(&self.missing, text.as_bytes()) {
                        true => String::new(),
                        false => text.to_string(),
                    }
                }
            })
            .collect();
        batch.push_mixed(&numeric, &categories, 0.0);
        Ok(())
    }

    /// A time column's cell: `None` when missing.
    fn time_of(&self, cell: Cell<'_>, row: usize, column: &str) -> Result<Option<i64>, RowError> {
        let number;
        let text = match cell {
            Cell::Missing => return Ok(None),
            // A number is no date: refused below, naming it.
            Cell::Number(v) => {
                number = number_text(v);
                number.as_str()
            }
            Cell::Text(text) => text.trim_ascii(),
        };
        if is_missing(&self.missing, text.as_bytes()) {
            return Ok(None);
        }
        parse_time(text).map(Some).ok_or_else(|| RowError::BadNumber {
            row,
            column: column.to_string(),
            value: text.to_string(),
            problem: "is not a date or time, and the checkpoint reads this column as time: send a date (2026-12-01) or timestamp (2026-12-01T13:05:09, optionally with Z or an offset such as +02:00), or null for a missing value",
        })
    }

    /// A numeric feature's cell: NaN when missing.
    fn number(&self, cell: Cell<'_>, row: usize, column: &str) -> Result<f32, RowError> {
        let text = match cell {
            Cell::Missing => return Ok(f32::NAN),
            Cell::Number(v) if self.missing_numbers.contains(&v.to_bits()) => return Ok(f32::NAN),
            Cell::Number(v) => match exact_f32(v) {
                Some(f) => return Ok(f),
                None => return self.number(Cell::Text(&number_text(v)), row, column),
            },
            Cell::Text(text) => text.trim_ascii(),
        };
        if is_missing(&self.missing, text.as_bytes()) {
            return Ok(f32::NAN);
        }
        read_number_str(text).map_err(|problem| RowError::BadNumber {
            row,
            column: column.to_string(),
            value: text.to_string(),
            problem: match problem {
                BadNumber::NaN => {
                    "is NaN, read as a missing value only when its spelling is in the run's data.missing: send null or a listed spelling instead"
                }
                BadNumber::Infinite => {
                    "is infinite or beyond a 32-bit float (about 3.4e38 in magnitude): send a finite number, or null for a missing value"
                }
                BadNumber::Empty | BadNumber::Text => {
                    "is not a number, and this feature is numeric: send a number, or null for a missing value"
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_number_becomes_the_f32_its_text_would() {
        // Decimals of up to 17 digits, near and far from f32 halfway points.
        let mut state = 0x2545f4914f6cdd1du64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 10_000_000_000_000_000) as f64;
            let exp = ((state >> 56) % 40) as i32 - 20;
            let text = format!("{digits}e{exp}");
            let v: f64 = text.parse().unwrap();
            let via_text: f32 = number_text(v).parse().unwrap();
            if let Some(f) = exact_f32(v) {
                assert_eq!(f.to_bits(), via_text.to_bits(), "{text}");
            }
        }
        // Exactly halfway between 1 and the next f32: the text decides.
        let halfway = 1.0 + f64::from(f32::EPSILON) / 2.0;
        assert_eq!(exact_f32(halfway), None);
        assert_eq!(exact_f32(0.1), Some(0.1f32));
        assert_eq!(exact_f32(1e300), None);
    }
}
