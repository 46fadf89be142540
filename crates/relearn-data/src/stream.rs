//! [`Stream`]: a validated source cut into windows, read one window at a time.

use crate::batch::Window;
use std::sync::Arc;

use crate::csv_file::{CsvLayout, CsvWindows, InitialCut, LabelsJoined, Periods};
use crate::error::DataError;
use crate::generator::{self, Generator};
use crate::info::LabelsInfo;
use crate::info::StreamInfo;
use crate::records::JoinCounts;
use crate::source::{CsvSource, GeneratorSpec, StreamSource, Task};
use crate::time::Every;

/// How the samples are produced.
#[derive(Debug, Clone)]
enum Layout {
    Csv(Box<CsvLayout>),
    Generator(GeneratorSpec),
}

/// How a source cuts its samples into windows: every `window.size` samples, or one window
/// per calendar period of `data.time` (`window.every`). The loop, the policies and
/// `compare` see only the spans it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Windowing {
    /// Window `t` is samples `t * size .. (t + 1) * size`; a trailing partial window waits
    /// for more rows.
    Rows {
        /// Samples per window (`window.size`), at least 1.
        size: usize,
    },
    /// Window `t` is the samples of the `t`-th calendar period that has any; periods
    /// without samples make no window. The last period of the file waits for a row of a
    /// later one (more rows of it may come).
    Time {
        /// The length of a period.
        every: Every,
        /// The windows, in order.
        windows: Arc<[TimeWindow]>,
    },
}

/// A data file of a stream read from a folder or a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFile {
    /// Its path relative to `data.path`, `/`-separated, without its format's extension
    /// (`date=2026-12-01/part-0` for `date=2026-12-01/part-0.parquet`).
    pub name: String,
    /// Its samples (rows whose target is not missing).
    pub samples: usize,
}

impl StreamFile {
    /// The names of the files among `files` (in stream order) that hold samples of
    /// `span`.
    pub fn names_in(files: &[StreamFile], span: std::ops::Range<usize>) -> Vec<String> {
        let mut start = 0;
        let mut names = Vec::new();
        for f in files {
            let end = start + f.samples;
            if start < span.end && span.start < end {
                names.push(f.name.clone());
            }
            start = end;
        }
        names
    }
}

/// A window of a stream cut by time: its samples and its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Its first sample.
    pub start: usize,
    /// One past its last sample.
    pub end: usize,
    /// Its period ([`Every::period_of`]).
    pub period: i64,
}

impl Windowing {
    /// The samples of window `index`.
    pub fn span(&self, index: usize) -> std::ops::Range<usize> {
        match self {
            Windowing::Rows { size } => index * size..(index + 1) * size,
            Windowing::Time { windows, .. } => match windows.get(index) {
                Some(w) => w.start..w.end,
                None => {
                    let end = windows.last().map_or(0, |w| w.end);
                    end..end
                }
            },
        }
    }

    /// How many whole windows `samples` samples make.
    pub fn windows_in(&self, samples: usize) -> usize {
        match self {
            Windowing::Rows { size } => samples / size,
            Windowing::Time { windows, .. } => windows.iter().filter(|w| w.end <= samples).count(),
        }
    }

    /// The samples of the first `windows` windows.
    pub fn samples_in(&self, windows: usize) -> usize {
        match self {
            Windowing::Rows { size } => windows * size,
            Windowing::Time { .. } if windows == 0 => 0,
            Windowing::Time { .. } => self.span(windows - 1).end,
        }
    }

    /// The label of window `index`'s period (`2026-12-01`, `2026-12-01T13`, `2026-12`);
    /// `None` for row windows.
    pub fn label(&self, index: usize) -> Option<String> {
        match self {
            Windowing::Rows { .. } => None,
            Windowing::Time { every, windows } => windows.get(index).map(|w| every.label(w.period)),
        }
    }
}

/// A validated stream cut into windows of `window_size` samples.
///
/// Window `t` holds samples `t * window_size .. (t + 1) * window_size`; a trailing partial
/// window (fewer than `window_size` samples at the end) is dropped. Samples are never held
/// in memory beyond the window being read.
#[derive(Debug, Clone)]
pub struct Stream {
    info: StreamInfo,
    windowing: Windowing,
    initial_windows: usize,
    n_windows: usize,
    layout: Layout,
}

impl Stream {
    /// Opens and fully validates `source` without keeping the samples in memory.
    ///
    /// A CSV file is read once, streaming, and every row is checked (including those of a
    /// trailing partial window that will be dropped): the file must exist and have a
    /// header and at least one data row; the target and any listed feature columns must
    /// exist (the error lists the available ones), the target must not be a listed
    /// feature, and used column names must be unique; each row must have as many fields
    /// as the header. Rows whose target is missing (`data.missing`) are skipped. A feature
    /// column is numeric when `[data.columns]` says so or, undeclared, when every
    /// non-missing cell of the initial windows (samples `0..window_size * initial_windows`)
    /// is a number, else categorical; every non-missing cell of a numeric column (and every
    /// regression target) must then be a finite number that fits an `f32`, in every row.
    /// Every cell and header name must be UTF-8 text (the error names the first that is
    /// not), and a header that reads as one column holding another delimiter than
    /// `data.delimiter` is an error saying which to set.
    /// For classification, class labels are the target cells as written (trimmed): those of
    /// the initial windows, ordered numerically when every label is a finite number (`"0",
    /// "1", "2", "10"`), else lexicographically, then those first seen later, in order of
    /// appearance. When every label is a finite number, spellings of one value (`1`, `1.0`,
    /// `01`) are one class, named by its first spelling in the file. A single class in
    /// the initial windows is an error, and so is, without `data.task`
    /// ([`CsvSource::task_given`](crate::CsvSource::task_given)), a target that looks
    /// numeric: every label of the initial windows a number, with more than
    /// [`NUMERIC_TARGET_DISTINCT`](crate::NUMERIC_TARGET_DISTINCT) distinct values or one
    /// that is not an integer.
    ///
    /// The encoded initial training set plus one window (model inputs x rows x 4 bytes)
    /// must fit in a quarter of the machine's memory; the error names the key that makes
    /// the inputs wide (`data.hash_buckets`, `data.max_categories`) and the bytes.
    ///
    /// A generator spec is checked with [`GeneratorSpec::validate`]; its classes are
    /// fixed (`"0"`, `"1"`, and `"2"` for `label-drift`).
    ///
    /// Either way, `window_size` and `initial_windows` must be at least 1 and the stream
    /// must hold the initial windows plus at least one update window.
    pub fn open(
        source: &StreamSource,
        window_size: usize,
        initial_windows: usize,
    ) -> Result<Stream, DataError> {
        if let StreamSource::Csv(src) = source
            && src.every.is_some()
        {
            return Stream::open_by_time(src, window_size, initial_windows);
        }
        let (initial_samples, needed) = window_samples(window_size, initial_windows)?;
        let (info, layout, _, _) = match source {
            StreamSource::Csv(src) => validate_csv(src, InitialCut::Samples(initial_samples))?,
            StreamSource::Generator(spec) => validate_generator(spec)?,
        };
        if info.n_samples < needed {
            return Err(DataError::TooShort {
                stream: info.source.clone(),
                samples: info.n_samples,
                needed,
                window_size,
                initial_windows,
            });
        }
        if let (Task::Classification, StreamSource::Csv(src)) = (info.task, source)
            && info.classes.len() < 2
        {
            return Err(DataError::SingleClass {
                stream: info.source.clone(),
                column: src.target.clone(),
                label: info.classes.first().cloned().unwrap_or_default(),
                initial_samples,
            });
        }
        check_encoded_size(source, &info, window_size, initial_windows)?;
        let mut info = info;
        let windowing = Windowing::Rows { size: window_size };
        let n_windows = windowing.windows_in(info.n_samples);
        info.trailing_rows = info.n_samples - windowing.samples_in(n_windows);
        Ok(Stream {
            n_windows,
            info,
            windowing,
            initial_windows,
            layout,
        })
    }

    /// [`Stream::open`] for a CSV cut by time (`data.time` and `window.every`): one window
    /// per calendar period with samples, the last period of the file waiting for a row of a
    /// later one. The rows must be in time order. `window_size` only sizes the memory check.
    fn open_by_time(
        src: &CsvSource,
        window_size: usize,
        initial_windows: usize,
    ) -> Result<Stream, DataError> {
        window_samples(window_size.max(1), initial_windows)?;
        let (mut info, layout, periods, joined) =
            validate_csv(src, InitialCut::Periods(initial_windows))?;
        let periods = periods.expect("window.every cuts periods");
        let Periods {
            every,
            starts,
            empty,
            latest,
        } = periods;
        let mut windows: Vec<TimeWindow> = starts
            .iter()
            .enumerate()
            .map(|(i, &(start, period))| TimeWindow {
                start,
                end: starts.get(i + 1).map_or(info.n_samples, |s| s.0),
                period,
            })
            .collect();
        match (&src.labels, joined) {
            (Some(labels), Some(joined)) => {
                // A window is in once the labels' clock reaches its close: the latest
                // label time when the labels have one (a later row says nothing of the
                // labels still to come), else the latest row time.
                let clock = match joined.timed {
                    true => joined.latest.unwrap_or(i64::MIN),
                    false => latest,
                };
                let close = |p: i64| labels.wait.after(every.period_start(p + 1));
                windows.retain(|w| close(w.period) <= clock);
                info.labels = Some(labels_info(joined));
            }
            // The last period waits for a row of a later one.
            _ => {
                windows.pop();
            }
        }
        enough_time_windows(
            src,
            &info,
            every,
            windows.len(),
            starts.len(),
            initial_windows,
        )?;
        let largest = windows.iter().map(|w| w.end - w.start).max().unwrap_or(1);
        let source = StreamSource::Csv(src.clone());
        check_encoded_size(&source, &info, largest, initial_windows)?;
        let used = windows.last().map_or(0, |w| w.end);
        info.trailing_rows = info.n_samples - used;
        info.every = Some(every);
        info.empty_periods = empty;
        info.waiting_period = starts
            .iter()
            .find(|s| s.0 >= used)
            .map(|&(_, period)| every.label(period));
        Ok(Stream {
            n_windows: windows.len(),
            info,
            windowing: Windowing::Time {
                every,
                windows: windows.into(),
            },
            initial_windows,
            layout,
        })
    }

    /// What the stream holds.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// How the stream's source cuts windows.
    pub fn windowing(&self) -> Windowing {
        self.windowing.clone()
    }

    /// Samples per window (`window.size`); for windows by time, the largest window's.
    pub fn window_size(&self) -> usize {
        match &self.windowing {
            Windowing::Rows { size } => *size,
            Windowing::Time { windows, .. } => {
                windows.iter().map(|w| w.end - w.start).max().unwrap_or(0)
            }
        }
    }

    /// Windows in the initial training set (`window.initial`).
    pub fn initial_windows(&self) -> usize {
        self.initial_windows
    }

    /// Full windows in the stream: `n_samples / window_size` (a trailing partial window is
    /// dropped). At least `initial_windows + 1`.
    pub fn n_windows(&self) -> usize {
        self.n_windows
    }

    /// Samples after the last full window: they wait for rows appended to the file to
    /// complete their window (`StreamInfo::trailing_rows`).
    pub fn trailing_rows(&self) -> usize {
        self.info.trailing_rows
    }

    /// CSV rows skipped because their target is missing, in the whole file
    /// (`StreamInfo::skipped_rows`; each checkpoint records those of its window as
    /// `samples_skipped`).
    pub fn skipped_rows(&self) -> usize {
        self.info.skipped_rows
    }

    /// The data files of a folder or glob `data.path`, in reading order, with their samples;
    /// empty when `data.path` is one file, and for a generator.
    pub fn files(&self) -> Vec<StreamFile> {
        match &self.layout {
            Layout::Csv(layout) => layout.stream_files(),
            Layout::Generator(_) => Vec::new(),
        }
    }

    /// Reads the windows in order from window 0, one at a time (memory: one window).
    pub fn windows(&self) -> Result<WindowReader, DataError> {
        self.windows_from(0)
    }

    /// Reads the windows in order from window `start` (for resuming). CSV rows before it
    /// are skipped without parsing; a generator must still draw the samples before it.
    /// `start >= n_windows()` gives an empty reader.
    pub fn windows_from(&self, start: usize) -> Result<WindowReader, DataError> {
        let start = start.min(self.n_windows);
        let skip = self.windowing.samples_in(start);
        let source = match &self.layout {
            Layout::Csv(layout) => {
                let csv = CsvWindows::open(layout, skip)?;
                Reader::Csv(Box::new(csv))
            }
            Layout::Generator(spec) => {
                let mut g = Generator::new(spec);
                // Draw in window-sized chunks so memory stays at one window.
                for w in 0..start {
                    g.batch(self.windowing.span(w).len());
                }
                Reader::Generator(Box::new(g))
            }
        };
        Ok(WindowReader {
            source,
            next: start,
            n_windows: self.n_windows,
            windowing: self.windowing.clone(),
            failed: false,
        })
    }
}

/// The samples of the initial windows, and the fewest the stream must hold (the initial
/// windows plus one update window). An error names the key when `window_size` or
/// `initial_windows` is 0 or the counts overflow.
fn window_samples(window_size: usize, initial_windows: usize) -> Result<(usize, usize), DataError> {
    if window_size == 0 {
        return Err(DataError::Config {
            key: "window.size",
            message: "must be at least 1 (samples per window)".to_string(),
        });
    }
    if initial_windows == 0 {
        return Err(DataError::Config {
            key: "window.initial",
            message: "must be at least 1 (the initial model trains on windows 0..window.initial)"
                .to_string(),
        });
    }
    let too_large = || DataError::Config {
        key: "window.size",
        message: format!(
            "window.size = {window_size} times window.initial + 1 = {} overflows",
            initial_windows as u128 + 1
        ),
    };
    let initial_samples = window_size
        .checked_mul(initial_windows)
        .ok_or_else(too_large)?;
    let needed = initial_samples
        .checked_add(window_size)
        .ok_or_else(too_large)?;
    Ok((initial_samples, needed))
}

/// With `data.labels`: what the join found.
fn labels_info(joined: LabelsJoined) -> LabelsInfo {
    let JoinCounts { matched, late } = joined.counts;
    LabelsInfo {
        labels: joined.labels,
        matched,
        late,
        unknown_ids: joined.labels.saturating_sub(matched + late),
    }
}

/// Validates the CSV source `src` (see [`Stream::open`]; `cut`: where the initial windows,
/// whose cells settle the column types, end): what it holds, how to read it, its periods
/// (with `window.every`) and what its label join found.
fn validate_csv(
    src: &CsvSource,
    cut: InitialCut,
) -> Result<(StreamInfo, Layout, Option<Periods>, Option<LabelsJoined>), DataError> {
    let v = CsvLayout::validate(src, cut)?;
    let info = StreamInfo {
        source: src.label(),
        feature_names: v.layout.feature_names().to_vec(),
        indicators: v.indicators,
        categorical: v.categorical,
        task: src.task,
        classes: v.classes,
        later_classes: v.later_classes,
        missing: src.missing.iter().map(|m| m.trim().to_string()).collect(),
        n_samples: v.n_samples,
        skipped_rows: v.skipped_rows,
        trailing_rows: 0,
        drift_points: Vec::new(),
        time: v.layout.time_encoders(),
        time_column: src.time.clone(),
        every: None,
        empty_periods: 0,
        waiting_period: None,
        labels: None,
    };
    Ok((info, Layout::Csv(Box::new(v.layout)), v.periods, v.labels))
}

/// Validates the generator spec `spec` ([`GeneratorSpec::validate`]): what its stream
/// holds, and how to draw it.
fn validate_generator(
    spec: &GeneratorSpec,
) -> Result<(StreamInfo, Layout, Option<Periods>, Option<LabelsJoined>), DataError> {
    spec.validate()?;
    let info = StreamInfo {
        source: format!("generator:{}", spec.kind.name()),
        feature_names: generator::feature_names(spec.n_features),
        indicators: Vec::new(),
        categorical: Vec::new(),
        task: spec.kind.task(),
        classes: generator::class_names(spec.kind),
        later_classes: Vec::new(),
        missing: Vec::new(),
        n_samples: spec.samples,
        skipped_rows: 0,
        trailing_rows: 0,
        drift_points: spec.drift_points.clone(),
        time: Vec::new(),
        time_column: None,
        every: None,
        empty_periods: 0,
        waiting_period: None,
        labels: None,
    };
    Ok((info, Layout::Generator(spec.clone()), None, None))
}

/// Where a [`WindowReader`] gets its samples.
enum Reader {
    Csv(Box<CsvWindows>),
    Generator(Box<Generator>),
}

/// Yields the windows of a [`Stream`] in order, reading (or generating) one window at a
/// time. After an error it yields nothing more.
pub struct WindowReader {
    source: Reader,
    next: usize,
    n_windows: usize,
    windowing: Windowing,
    failed: bool,
}

impl WindowReader {
    /// The index of the window the next call to `next` returns.
    pub fn next_index(&self) -> usize {
        self.next
    }
}

impl Iterator for WindowReader {
    type Item = Result<Window, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.n_windows {
            return None;
        }
        let span = self.windowing.span(self.next);
        let batch = match &mut self.source {
            Reader::Csv(csv) => csv.batch(span.len()),
            Reader::Generator(g) => Ok((g.batch(span.len()), 0)),
        };
        match batch {
            Ok((batch, skipped)) => {
                let index = self.next;
                self.next += 1;
                Some(Ok(Window {
                    index,
                    span,
                    batch,
                    skipped,
                    period: self.windowing.label(index),
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.failed {
            0
        } else {
            self.n_windows - self.next
        };
        (0, Some(left))
    }
}

/// Of this machine's memory, the share the encoded training set may take: a run holds it
/// beside the raw windows, the training set its policy builds from them and the trainer's
/// own copies.
const ENCODED_SHARE: u128 = 4;

/// Refuses a stream whose encoded training set would not fit in memory (an allocation that
/// large aborts the process): the model inputs per sample ([`StreamInfo::n_inputs`], 4
/// bytes each) times the rows of the initial training set plus one window, against a
/// quarter of the machine's memory. The error names the keys that make the inputs wide.
fn check_encoded_size(
    source: &StreamSource,
    info: &StreamInfo,
    window_size: usize,
    initial_windows: usize,
) -> Result<(), DataError> {
    let rows = (window_size as u128) * (initial_windows as u128 + 1);
    let inputs = info.n_inputs() as u128;
    let bytes = inputs * rows * 4;
    let Some(memory) = physical_memory() else {
        return Ok(());
    };
    if bytes <= memory as u128 / ENCODED_SHARE {
        return Ok(());
    }
    let hashed: usize = info.categorical.iter().map(|c| c.buckets).sum();
    let one_hot: usize = info.categorical.iter().map(|c| c.slots).sum();
    let mut parts = vec![format!("{} numeric", info.n_features())];
    if !info.indicators.is_empty() {
        parts.push(format!("{} missing indicators", info.indicators.len()));
    }
    if one_hot > 0 {
        parts.push(format!(
            "{one_hot} one-hot over {} categorical columns",
            info.categorical.len()
        ));
    }
    if hashed > 0 {
        parts.push(format!("{hashed} hashed"));
    }
    let (key, fix) = match source {
        StreamSource::Csv(src) if hashed > 0 => (
            "data.hash_buckets",
            format!(
                "lower data.hash_buckets (now {}, hashed inputs per column with many values) or data.max_categories (now {}), give wide columns the type \"ignore\" under [data.columns], or lower window.size",
                src.hash_buckets, src.max_categories
            ),
        ),
        StreamSource::Csv(src) if one_hot > 0 => (
            "data.max_categories",
            format!(
                "lower data.max_categories (now {}, one-hot inputs per column), give wide columns the type \"ignore\" under [data.columns], or lower window.size",
                src.max_categories
            ),
        ),
        StreamSource::Generator(_) => (
            "data.n_features",
            "lower data.n_features or window.size".to_string(),
        ),
        _ => (
            "window.size",
            "lower window.size or window.initial, or use fewer feature columns (data.features)"
                .to_string(),
        ),
    };
    Err(DataError::Config {
        key,
        message: format!(
            "the encoded data would not fit in memory: {inputs} model inputs per row ({}) x {rows} rows (window.size = {window_size} x (window.initial = {initial_windows} + 1)) x 4 bytes = {}, more than a quarter of this machine's {} of memory (a run holds several copies); {fix}",
            parts.join(", "),
            human_bytes(bytes),
            human_bytes(memory as u128),
        ),
    })
}

/// Total physical memory in bytes (Linux: `MemTotal` of `/proc/meminfo`); `None` where it
/// cannot be read.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `n` bytes in a human unit: `512 B`, `62.5 KiB`, `186.4 GiB`.
pub fn human_bytes(n: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A stream cut by time needs the initial windows and one more: `windows` of the `periods`
/// with rows are in (closed, with `data.labels`).
fn enough_time_windows(
    src: &CsvSource,
    info: &StreamInfo,
    every: Every,
    windows: usize,
    periods: usize,
    initial_windows: usize,
) -> Result<(), DataError> {
    if windows > initial_windows {
        return Ok(());
    }
    Err(match &src.labels {
        Some(labels) => DataError::TooFewClosed {
            stream: info.source.clone(),
            closed: windows,
            noun: every.noun(),
            wait: labels.wait.name(),
            initial_windows,
        },
        None => DataError::TooFewPeriods {
            stream: info.source.clone(),
            periods,
            every: every.name(),
            noun: every.noun(),
            initial_windows,
        },
    })
}
