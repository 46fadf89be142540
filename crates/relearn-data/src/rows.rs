//! Rows held in memory (the rows of a server's request) read against a checkpoint's
//! preprocessing exactly as [`crate::CsvRows`] reads a file's rows: the same missing-value
//! spellings, the same number parsing, the same category text. So a row sent to a server
//! and the same row in a CSV given to `predict` become the same model input.

use std::collections::HashMap;

use crate::csv_file::{BadNumber, MissingTokens, is_missing, read_number};
use crate::{Batch, Preprocessor, TimeEncoder, parse_time};

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

/// The names, quoted and comma-separated.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
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
    width: usize,
}

/// One cell of a row: text as a CSV holds it, or a cell known to be missing (JSON `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Text, read as a CSV cell is (trimmed; a `data.missing` spelling is missing).
    Text(&'a str),
    /// A missing value, whatever `data.missing` says.
    Missing,
}

impl RowReader {
    /// Finds the checkpoint's features in `header`. Every feature must be there, once;
    /// other columns are ignored (see [`RowReader::unknown_columns`]).
    pub fn new<S: AsRef<str>>(pre: &Preprocessor, header: &[S]) -> Result<RowReader, RowError> {
        let mut position: HashMap<&str, usize> = HashMap::with_capacity(header.len());
        for (i, name) in header.iter().enumerate() {
            if position.insert(name.as_ref(), i).is_some() {
                return Err(RowError::DuplicateColumn {
                    column: name.as_ref().to_string(),
                });
            }
        }
        let categorical_names = pre.categorical_names();
        let time_names: Vec<String> = pre.time.iter().map(|t| t.column.clone()).collect();
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
        let text = match cell {
            Cell::Missing => return Ok(None),
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
            Cell::Text(text) => text.trim_ascii(),
        };
        if is_missing(&self.missing, text.as_bytes()) {
            return Ok(f32::NAN);
        }
        read_number(text.as_bytes()).map_err(|problem| RowError::BadNumber {
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
