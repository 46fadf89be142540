//! Data for `relearn`: turns tabular files (a CSV or Parquet file, or a folder or glob of
//! them read as one stream, with labels that arrive later joined by id) or a built-in,
//! seeded drift generator into a [`Stream`] of numeric [`Window`]s, and owns the
//! preprocessing state a checkpoint carries ([`Preprocessor`]: feature scaling and the label
//! map).
//!
//! [`Stream::open`] validates the whole source up front (every CSV error names the file,
//! the row and the column, and says how to fix it) without keeping the samples in memory;
//! [`Stream::windows`] then reads or generates one window at a time. The crate knows
//! nothing about models or checkpoints.
//!
//! ```
//! use relearn_data::{GeneratorKind, GeneratorSpec, Preprocessor, Scaling, Stream, StreamSource};
//!
//! let spec = GeneratorSpec::new(GeneratorKind::Sea, 4000, 42);
//! let stream = Stream::open(&StreamSource::Generator(spec), 1000, 1).unwrap();
//! assert_eq!(stream.n_windows(), 4);
//! let mut pre = Preprocessor::new(stream.info(), Scaling::Running);
//! for window in stream.windows().unwrap() {
//!     let window = window.unwrap();
//!     if window.index == 0 {
//!         pre.scaler.fit(&window.batch);
//!     } else {
//!         pre.scaler.update(&window.batch);
//!     }
//!     let scaled = pre.scaler.transform(&window.batch);
//!     assert_eq!(scaled.len(), 1000);
//! }
//! ```

#![warn(missing_docs)]

mod batch;
mod csv_file;
mod error;
mod files;
mod generator;
mod info;
// Read by csv_file's folder streams once they land; until then only its tests use it.
mod parquet_file;
mod preprocess;
mod records;
mod rows;
mod source;
mod stream;
mod time;

pub use batch::{Batch, Window};
pub use csv_file::{CsvRows, read_csv_rows, read_labelled_csv};
pub use error::{ColumnRole, DataError, quoted};
pub use info::{CategoricalColumn, LabelsInfo, StreamInfo};
pub use preprocess::{
    CategoryEncoder, DEFAULT_CLIP, Encoders, Fill, OutOfRange, Preprocessor, Scaler, Scaling,
    TargetScaler, fnv1a64, real_spread,
};
pub use records::{read_labels_by_id, sniff_delimiter};
pub use rows::{Cell, RowError, RowReader, number_text};
pub use source::{
    ColumnKind, CsvSource, DEFAULT_DELIMITER, DEFAULT_HASH_BUCKETS, DEFAULT_MAX_CATEGORIES,
    DEFAULT_MISSING, GeneratorKind, GeneratorSpec, LabelSource, MAX_CATEGORY_INPUTS,
    NUMERIC_TARGET_DISTINCT, StreamSource, Task, parse_delimiter,
};
pub use stream::{
    Stream, StreamFile, TimeWindow, WindowReader, Windowing, human_bytes, physical_memory,
};
pub use time::{CalendarPart, Every, TimeEncoder, format_time, parse_time};
