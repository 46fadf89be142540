//! A request's rows: `{"rows": [{"col": value, ...}]}` as JSON, or a CSV with a header row,
//! read into one header and rows of cells in its order. Values keep the text a CSV would
//! hold, so that the data crate reads them exactly as `predict` reads a file.

use std::borrow::Cow;
use std::collections::HashMap;

use relearn_data::Cell;

use crate::error::ApiError;

mod json;

/// The rows of one request: column names and, per row, a cell per column. The cells' text
/// lives in one buffer, so a request of any size costs a handful of allocations.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names, in the order of the first row (JSON) or of the header (CSV).
    pub header: Vec<String>,
    /// Each column name's first position in `header` (a JSON row's keys are looked up
    /// here: a linear search per key made a wide request quadratic).
    index: HashMap<String, usize>,
    /// Every row's cells, row after row, `header.len()` each.
    cells: Vec<Slot>,
    /// The cells' text.
    text: String,
}

/// Where a cell's text is, or that it is missing (JSON `null`), or not given yet.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Unset,
    Missing,
    Text(u32, u32),
    Number(f64),
}

impl Rows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.cells.len() / self.header.len().max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Row `i`'s cells, as the data crate reads them, into `out`.
    pub fn row_into<'a>(&'a self, i: usize, out: &mut Vec<Cell<'a>>) {
        let width = self.header.len();
        out.clear();
        out.extend(
            self.cells[i * width..(i + 1) * width]
                .iter()
                .map(|slot| match *slot {
                    Slot::Text(a, b) => Cell::Text(&self.text[a as usize..b as usize]),
                    Slot::Number(v) => Cell::Number(v),
                    Slot::Missing | Slot::Unset => Cell::Missing,
                }),
        );
    }

    /// The text of column `col` in row `i`, trimmed, unless missing (a number as its
    /// shortest decimal text).
    pub fn text(&self, i: usize, col: usize) -> Option<Cow<'_, str>> {
        match self.cells[i * self.header.len() + col] {
            Slot::Text(a, b) => Some(Cow::Borrowed(self.text[a as usize..b as usize].trim())),
            Slot::Number(v) => Some(Cow::Owned(relearn_data::number_text(v))),
            Slot::Missing | Slot::Unset => None,
        }
    }

    /// The position of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Adds column `name` at the end of the header.
    fn add_column(&mut self, name: &str) {
        self.index
            .entry(name.to_string())
            .or_insert(self.header.len());
        self.header.push(name.to_string());
    }

    /// Appends `text` as the next cell's text, returning its slot.
    fn push_text(&mut self, text: &str) -> Slot {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        Slot::Text(start, self.text.len() as u32)
    }
}

/// The body's format, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (also `+json` types).
    Json,
    /// `text/csv` (comma) or `text/tab-separated-values` (tab).
    Csv(u8),
}

impl Format {
    /// The format of `content_type`; without one, a body starting with `{` is JSON and
    /// any other a CSV. Another type is 415.
    pub fn of(content_type: Option<&str>, body: &[u8]) -> Result<Format, ApiError> {
        let Some(content_type) = content_type else {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            return Ok(if first == Some(&b'{') {
                Format::Json
            } else {
                Format::Csv(b',')
            });
        };
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => Ok(Format::Json),
            m if m.ends_with("+json") => Ok(Format::Json),
            "text/csv" | "application/csv" => Ok(Format::Csv(b',')),
            "text/tab-separated-values" => Ok(Format::Csv(b'\t')),
            _ => Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Type \"{content_type}\": send application/json \
                     ({{\"rows\": [{{\"column\": value, ...}}]}}) or text/csv (a header row, then \
                     one line per row)"
                ),
            )),
        }
    }
}

/// A request's rows: `body` in the format its `content_type` names (see [`Format::of`]),
/// at most `max_rows` of them (413 beyond).
pub fn read(content_type: Option<&str>, body: &[u8], max_rows: usize) -> Result<Rows, ApiError> {
    // A UTF-8 byte-order mark, as some tools write, is not part of the content.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    parse(body, Format::of(content_type, body)?, max_rows)
}

/// Parses `body` in `format`, refusing more than `max_rows` rows (413).
pub fn parse(body: &[u8], format: Format, max_rows: usize) -> Result<Rows, ApiError> {
    let rows = match format {
        Format::Json => parse_json(body, max_rows)?,
        Format::Csv(delimiter) => parse_csv(body, delimiter, max_rows)?,
    };
    if rows.is_empty() {
        return Err(ApiError::unprocessable(
            "the request has no rows: send at least one",
        ));
    }
    Ok(rows)
}

/// The 413 for more than `max` rows.
pub(crate) fn too_many_rows(max: usize) -> ApiError {
    ApiError::too_large(format!(
        "more than {max} rows in one request (the server's --max-rows): split the rows over \
         several requests"
    ))
}

/// `{"rows": [{...}, ...]}`: every row an object with the same keys as the first, read
/// straight into [`Rows`] (no JSON tree is built).
fn parse_json(body: &[u8], max_rows: usize) -> Result<Rows, ApiError> {
    let mut reading = json::Reading {
        rows: Rows::default(),
        max_rows,
        problem: None,
        found: false,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde::de::DeserializeSeed::deserialize(json::Document(&mut reading), &mut de)
        .and_then(|()| de.end());
    match (parsed, reading.problem) {
        (_, Some(problem)) => Err(problem),
        (Err(e), None) => Err(ApiError::bad_request(format!(
            "malformed JSON at line {}, column {}: {e}; expected {{\"rows\": [{{\"column\": value, ...}}]}}",
            e.line(),
            e.column()
        ))),
        (Ok(()), None) if !reading.found => Err(ApiError::bad_request(
            "the JSON has no \"rows\" field: expected {\"rows\": [{\"column\": value, ...}]}",
        )),
        (Ok(()), None) => Ok(reading.rows),
    }
}

/// A CSV with a header row. Rows are numbered from 0 after the header in messages, with
/// the line they start on.
fn parse_csv(body: &[u8], delimiter: u8, max_rows: usize) -> Result<Rows, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body);
    let header = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("malformed CSV header: {e}")))?;
    // Header names trimmed as the CSV reader of `predict` trims them (ASCII whitespace).
    let mut rows = Rows::default();
    for h in header.iter() {
        rows.add_column(h.trim_ascii());
    }
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            ApiError::bad_request(format!(
                "malformed CSV at row {i}{}: {e}",
                e.position()
                    .map_or(String::new(), |p| format!(" (line {})", p.line()))
            ))
        })?;
        if rows.len() == max_rows {
            return Err(too_many_rows(max_rows));
        }
        if record.len() != rows.header.len() {
            return Err(ApiError::unprocessable(format!(
                "row {i} (line {}) has {} cells, but the header has {} columns",
                record.position().map_or(0, |p| p.line()),
                record.len(),
                rows.header.len()
            )));
        }
        for cell in record.iter() {
            let slot = rows.push_text(cell);
            rows.cells.push(slot);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row's cells, as strings (`None` for missing).
    fn cells(rows: &Rows) -> Vec<Vec<Option<String>>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for i in 0..rows.len() {
            rows.row_into(i, &mut buf);
            out.push(
                buf.iter()
                    .map(|c| match c {
                        Cell::Text(t) => Some(t.to_string()),
                        Cell::Number(v) => Some(relearn_data::number_text(*v)),
                        Cell::Missing => None,
                    })
                    .collect(),
            );
        }
        out
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn json_rows_keep_the_first_rows_column_order_and_number_text() {
        let body = br#"{"rows": [{"b": 0.1, "a": "x", "c": true}, {"c": false, "a": null, "b": 12}], "other": [1]}"#;
        let rows = parse(body, Format::Json, 10).unwrap();
        assert_eq!(rows.header, ["b", "a", "c"]);
        assert_eq!(
            cells(&rows),
            [
                vec![some("0.1"), some("x"), some("true")],
                vec![some("12"), None, some("false")]
            ]
        );
        assert_eq!(rows.text(0, 1).as_deref(), Some("x"));
    }

    #[test]
    fn a_row_lacking_or_adding_a_column_is_named() {
        let body = br#"{"rows": [{"a": 1, "b": 2}, {"a": 3}]}"#;
        let e = parse(body, Format::Json, 10).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(
            e.message.contains("row 1 has no column \"b\""),
            "{}",
            e.message
        );
        let body = br#"{"rows": [{"a": 1}, {"a": 3, "z": 1}]}"#;
        let e = parse(body, Format::Json, 10).unwrap_err();
        assert!(
            e.message.contains("row 1 has column \"z\""),
            "{}",
            e.message
        );
        let body = br#"{"rows": [{"a": {"x": 1}}]}"#;
        let e = parse(body, Format::Json, 10).unwrap_err();
        assert!(
            e.message.contains("row 0, column \"a\": an object"),
            "{}",
            e.message
        );
    }

    #[test]
    fn syntax_errors_and_shapes_are_400() {
        for (body, says) in [
            (&br#"{"rows": [{"a": 1}"#[..], "malformed JSON at line 1"),
            (br#"{"rows": 3}"#, "\"rows\" is a number, not a list"),
            (br#"{"rows": [3]}"#, "row 0 is a number, not an object"),
            (br#"{"data": []}"#, "no \"rows\" field"),
            (br#"[1]"#, "expected {\"rows\""),
        ] {
            let e = parse(body, Format::Json, 10).unwrap_err();
            assert_eq!(e.status, 400, "{}", e.message);
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn too_many_rows_is_413() {
        let body = br#"{"rows": [{"a": 1}, {"a": 2}, {"a": 3}]}"#;
        assert_eq!(parse(body, Format::Json, 2).unwrap_err().status, 413);
        assert_eq!(
            parse(b"a\n1\n2\n3\n", Format::Csv(b','), 2)
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn csv_rows_are_read_with_their_header() {
        let rows = parse(b"x, y\n1,a\n2,\n", Format::Csv(b','), 10).unwrap();
        assert_eq!(rows.header, ["x", "y"]);
        assert_eq!(cells(&rows)[1], [some("2"), some("")]);
        let e = parse(b"x,y\n1\n", Format::Csv(b','), 10).unwrap_err();
        assert!(
            e.message.contains("row 0 (line 2) has 1 cells"),
            "{}",
            e.message
        );
    }

    #[test]
    fn content_types() {
        let json = Format::of(Some("application/json; charset=utf-8"), b"").unwrap();
        assert_eq!(json, Format::Json);
        assert_eq!(Format::of(None, b" {").unwrap(), Format::Json);
        assert_eq!(Format::of(None, b"a,b").unwrap(), Format::Csv(b','));
        assert_eq!(Format::of(Some("text/xml"), b"").unwrap_err().status, 415);
    }
}
