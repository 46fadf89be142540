//! [`Stream`]: a validated source cut into windows, read one window at a time.

use crate::batch::Window;
use crate::csv_file::{CsvLayout, CsvWindows};
use crate::error::DataError;
use crate::generator::{self, Generator};
use crate::info::StreamInfo;
use crate::source::{GeneratorSpec, StreamSource, Task};

/// How the samples are produced.
#[derive(Debug, Clone)]
enum Layout {
    Csv(CsvLayout),
    Generator(GeneratorSpec),
}

/// A validated stream cut into windows of `window_size` samples.
///
/// Window `t` holds samples `t * window_size .. (t + 1) * window_size`; a trailing partial
/// window (fewer than `window_size` samples at the end) is dropped. Samples are never held
/// in memory beyond the window being read.
#[derive(Debug, Clone)]
pub struct Stream {
    info: StreamInfo,
    window_size: usize,
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
    /// For classification, class labels are the target cells as written (trimmed): those of
    /// the initial windows, ordered numerically when every label is a finite number (`"0",
    /// "1", "2", "10"`), else lexicographically, then those first seen later, in order of
    /// appearance. A single class in the initial windows is an error.
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
        if window_size == 0 {
            return Err(DataError::Config {
                key: "window.size",
                message: "must be at least 1 (samples per window)".to_string(),
            });
        }
        if initial_windows == 0 {
            return Err(DataError::Config {
                key: "window.initial",
                message:
                    "must be at least 1 (the initial model trains on windows 0..window.initial)"
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

        let (info, layout) = match source {
            StreamSource::Csv(src) => {
                let v = CsvLayout::validate(src, initial_samples)?;
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
                    drift_points: Vec::new(),
                };
                (info, Layout::Csv(v.layout))
            }
            StreamSource::Generator(spec) => {
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
                    drift_points: spec.drift_points.clone(),
                };
                (info, Layout::Generator(spec.clone()))
            }
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
        Ok(Stream {
            n_windows: info.n_samples / window_size,
            info,
            window_size,
            initial_windows,
            layout,
        })
    }

    /// What the stream holds.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Samples per window.
    pub fn window_size(&self) -> usize {
        self.window_size
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

    /// Reads the windows in order from window 0, one at a time (memory: one window).
    pub fn windows(&self) -> Result<WindowReader, DataError> {
        self.windows_from(0)
    }

    /// Reads the windows in order from window `start` (for resuming). CSV rows before it
    /// are skipped without parsing; a generator must still draw the samples before it.
    /// `start >= n_windows()` gives an empty reader.
    pub fn windows_from(&self, start: usize) -> Result<WindowReader, DataError> {
        let start = start.min(self.n_windows);
        let skip = start * self.window_size;
        let source = match &self.layout {
            Layout::Csv(layout) => {
                let mut csv = CsvWindows::open(layout)?;
                csv.skip(skip)?;
                Reader::Csv(Box::new(csv))
            }
            Layout::Generator(spec) => {
                let mut g = Generator::new(spec);
                // Draw in window-sized chunks so memory stays at one window.
                for _ in 0..start {
                    g.batch(self.window_size);
                }
                Reader::Generator(Box::new(g))
            }
        };
        Ok(WindowReader {
            source,
            next: start,
            n_windows: self.n_windows,
            window_size: self.window_size,
            failed: false,
        })
    }
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
    window_size: usize,
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
        let batch = match &mut self.source {
            Reader::Csv(csv) => csv.batch(self.window_size),
            Reader::Generator(g) => Ok((g.batch(self.window_size), 0)),
        };
        match batch {
            Ok((batch, skipped)) => {
                let index = self.next;
                self.next += 1;
                Some(Ok(Window {
                    index,
                    batch,
                    skipped,
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
