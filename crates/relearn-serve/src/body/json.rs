//! `{"rows": [{"column": value, ...}, ...]}` read with serde straight into [`Rows`]: no
//! JSON tree, one text buffer. A problem with the rows' content (not the JSON's syntax) is
//! kept in [`Reading::problem`] with its own status, and ends the parse.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Rows, Slot, too_many_rows};
use crate::error::ApiError;

/// Integers up to this magnitude are exact in an f64.
const EXACT_INTEGERS: u64 = 1 << 53;

/// The state of one body's parse.
pub struct Reading {
    /// The rows read so far.
    pub rows: Rows,
    /// The most rows allowed.
    pub max_rows: usize,
    /// A problem with the rows' content, which ends the parse.
    pub problem: Option<ApiError>,
    /// Whether the `rows` field was seen.
    pub found: bool,
}

impl Reading {
    /// Records `problem` and returns the error that stops serde.
    fn stop<E: de::Error>(&mut self, problem: ApiError) -> E {
        let message = problem.message.clone();
        self.problem = Some(problem);
        E::custom(message)
    }
}

/// The kind of a JSON value, for messages.
fn kind(what: de::Unexpected<'_>) -> &'static str {
    match what {
        de::Unexpected::Seq => "a list",
        de::Unexpected::Map => "an object",
        de::Unexpected::Str(_) => "a string",
        de::Unexpected::Bool(_) => "a boolean",
        de::Unexpected::Unit => "null",
        _ => "a number",
    }
}

/// The top-level object.
pub struct Document<'a>(pub &'a mut Reading);

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("{\"rows\": [{\"column\": value, ...}]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == "rows" && self.0.found {
                return Err(self.0.stop(ApiError::bad_request(
                    "the JSON has \"rows\" twice: send one list of rows",
                )));
            }
            if key.0 == "rows" {
                self.0.found = true;
                map.next_value_seed(RowList(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

/// The `rows` list.
struct RowList<'a>(&'a mut Reading);

impl<'de> DeserializeSeed<'de> for RowList<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowList<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            if index == self.0.max_rows {
                // One more row is one too many; none more is fine.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(self.0.stop(too_many_rows(self.0.max_rows)));
                }
                return Ok(());
            }
            if seq
                .next_element_seed(Row {
                    reading: &mut *self.0,
                    index,
                })?
                .is_none()
            {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.0.stop(not_a_list("an object")))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.0.stop(not_a_list("a string")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.0.stop(not_a_list("a number")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.0.stop(not_a_list("a number")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.0.stop(not_a_list("a number")))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.0.stop(not_a_list("a boolean")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.0.stop(not_a_list("null")))
    }
}

/// The 400 for a `rows` that is `what`, not a list.
fn not_a_list(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "\"rows\" is {what}, not a list: expected {{\"rows\": [{{\"column\": value, ...}}]}}"
    ))
}

/// Row `index`: an object of column: value.
struct Row<'a> {
    reading: &'a mut Reading,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Row<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Row<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of column: value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Row { reading, index } = self;
        let start = reading.rows.cells.len();
        let width = reading.rows.header.len();
        if index > 0 {
            reading.rows.cells.resize(start + width, Slot::Unset);
        }
        while let Some(Key(name)) = map.next_key::<Key>()? {
            let col = match (index, reading.rows.column(&name)) {
                (0, Some(_)) => {
                    return Err(reading.stop(ApiError::unprocessable(format!(
                        "row 0 has column \"{name}\" twice"
                    ))));
                }
                (0, None) => {
                    reading.rows.add_column(&name);
                    reading.rows.cells.push(Slot::Unset);
                    reading.rows.header.len() - 1
                }
                (_, Some(col)) => col,
                (_, None) => {
                    return Err(reading.stop(ApiError::unprocessable(format!(
                        "row {index} has column \"{name}\", which row 0 does not have: every row \
                         must have the same columns"
                    ))));
                }
            };
            if reading.rows.cells[start + col] != Slot::Unset {
                return Err(reading.stop(ApiError::unprocessable(format!(
                    "row {index} has column \"{name}\" twice"
                ))));
            }
            let slot = map.next_value_seed(CellSeed {
                reading: &mut *reading,
                index,
                name: &name,
            })?;
            reading.rows.cells[start + col] = slot;
        }
        let width = reading.rows.header.len();
        if let Some(col) = (0..width).find(|&c| reading.rows.cells[start + c] == Slot::Unset) {
            let name = reading.rows.header[col].clone();
            return Err(reading.stop(ApiError::unprocessable(format!(
                "row {index} has no column \"{name}\" (row 0 has it): send null for a missing value"
            ))));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.reading.stop(not_an_object(self.index, "a list")))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "a string")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "a number")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "a number")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "a number")))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "a boolean")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.reading.stop(not_an_object(self.index, "null")))
    }
}

/// The 400 for row `index` that is `what`, not an object.
fn not_an_object(index: usize, what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "row {index} is {what}, not an object of column: value"
    ))
}

/// One cell's value: its text (a number as the shortest decimal that reads back to the
/// same f64), or missing.
struct CellSeed<'a, 'n> {
    reading: &'a mut Reading,
    index: usize,
    name: &'n str,
}

impl CellSeed<'_, '_> {
    /// The 422 for a value that is no cell.
    fn not_a_cell<E: de::Error>(self, what: de::Unexpected<'_>) -> E {
        let message = format!(
            "row {}, column \"{}\": {} is not a cell value; send a number, a string, a boolean \
             or null",
            self.index,
            self.name,
            kind(what)
        );
        self.reading.stop(ApiError::unprocessable(message))
    }
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_, '_> {
    type Value = Slot;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_, '_> {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a string, a boolean or null")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot, E> {
        Ok(self.reading.rows.push_text(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Slot, E> {
        // Read later as its shortest decimal text would be: the digits the client wrote,
        // for any number of up to 15 significant digits.
        Ok(Slot::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot, E> {
        // Beyond 2^53 an integer is not an f64: its digits are kept.
        match v.unsigned_abs() <= EXACT_INTEGERS {
            true => Ok(Slot::Number(v as f64)),
            false => Ok(self.reading.rows.push_text(itoa::Buffer::new().format(v))),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot, E> {
        match v <= EXACT_INTEGERS {
            true => Ok(Slot::Number(v as f64)),
            false => Ok(self.reading.rows.push_text(itoa::Buffer::new().format(v))),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Slot, E> {
        Ok(self
            .reading
            .rows
            .push_text(if v { "true" } else { "false" }))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Slot, E> {
        Ok(Slot::Missing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Slot, E> {
        Ok(Slot::Missing)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Slot, A::Error> {
        Err(self.not_a_cell(de::Unexpected::Seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Slot, A::Error> {
        Err(self.not_a_cell(de::Unexpected::Map))
    }
}
