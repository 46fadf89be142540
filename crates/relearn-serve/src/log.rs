//! The prediction log: every request the server answers, appended as one JSON line (its
//! rows' ids and predictions, in order) before the answer leaves the server, so that labels
//! arriving later can be joined to the prediction that was actually served.
//!
//! With `--log-sync write` (the default) a request writes a small record itself, under a
//! lock, before it answers, and hands a large one to the log's thread; with `fsync` that
//! thread commits every record in groups: it takes every record waiting, writes them with
//! one `write`, syncs them, and only then lets the requests that sent them answer. Either way a prediction a client received is in the log even if
//! the server is killed (`kill -9`) right after; with `fsync` it also survives the machine
//! losing power. Each server process writes its own files, named by its start time
//! and process id, so several replicas can log into one folder.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use relearn_train::inference::Prediction;
use tokio::sync::oneshot;

use crate::body::Rows;
use crate::model::ServedModel;

use crate::error::ServeError;
use crate::metrics::Metrics;

/// How far a record is committed before its request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSync {
    /// Written to the operating system (survives the process being killed, not a power
    /// loss).
    Write,
    /// Written and `fdatasync`ed (survives a power loss too).
    Fsync,
}

impl LogSync {
    /// Every value, as the command line spells them.
    pub const ALL: [LogSync; 2] = [LogSync::Write, LogSync::Fsync];

    /// The value's name.
    pub fn name(self) -> &'static str {
        match self {
            LogSync::Write => "write",
            LogSync::Fsync => "fsync",
        }
    }

    /// Parses a name of [`LogSync::ALL`].
    pub fn parse(s: &str) -> Option<LogSync> {
        LogSync::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// A batch of JSON lines to append, and whom to tell once they are committed.
struct Entry {
    lines: Vec<u8>,
    rows: u64,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The log's files: the current segment, and where the next one goes.
struct Segments {
    current: Segment,
    dir: PathBuf,
    stem: String,
    segment_bytes: u64,
}

impl Segments {
    /// Writes `group`'s lines (one `write`), syncs as `sync` asks, counts the commit, and
    /// starts the next segment once this one is full.
    fn commit(&mut self, group: &[Entry], sync: LogSync, metrics: &Metrics) -> Result<(), String> {
        let result = self.current.commit(group, sync);
        metrics.log_committed(group.iter().map(|e| e.rows).sum(), &result);
        let result = result.map_err(|e| format!("{}: {e}", self.current.path.display()));
        if self.current.written >= self.segment_bytes {
            match Segment::create(&self.dir, &self.stem, self.current.index + 1) {
                Ok(next) => self.current = next,
                Err(e) => tracing::error!("cannot start a new prediction log segment: {e}"),
            }
        }
        result
    }
}

/// How records reach the file: the log's files behind a lock, and the thread that commits
/// in groups.
#[derive(Clone)]
struct Writer {
    files: Arc<(Mutex<Segments>, Metrics)>,
    group: mpsc::Sender<Entry>,
    sync: LogSync,
}

/// With `--log-sync write`, a record up to this size is written by the request's own
/// thread (a `write` of a few microseconds: handing it to the log's thread cost more in
/// wake-ups, measured on single rows); a larger one goes to the thread, which writes it on
/// the other core while the request's thread serves others (measured on 1,000 rows:
/// inline writes of 10 KB records cost a third of the throughput).
const INLINE_MAX: usize = 2048;

/// The log, open. Dropping every [`Appender`] and calling [`PredictionLog::close`] commits
/// what is left.
pub struct PredictionLog {
    writer: Option<Writer>,
    thread: Option<JoinHandle<()>>,
}

impl PredictionLog {
    /// Creates this process's log file in `dir` (made if missing), and with `fsync` starts
    /// the group-commit thread.
    pub fn open(
        dir: &Path,
        sync: LogSync,
        segment_bytes: u64,
        metrics: Metrics,
    ) -> Result<PredictionLog, ServeError> {
        let log_error = |source| ServeError::Log {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(log_error)?;
        // 2026-12-03T130509.123Z-4711: sorts by start time; the process id tells replicas
        // started in the same millisecond apart.
        let stem = format!(
            "{}-{}",
            relearn_store::now_rfc3339().replace(':', ""),
            std::process::id()
        );
        let segments = Segments {
            current: Segment::create(dir, &stem, 0).map_err(log_error)?,
            dir: dir.to_path_buf(),
            stem,
            segment_bytes,
        };
        let files = Arc::new((Mutex::new(segments), metrics));
        let (sender, receiver) = mpsc::channel::<Entry>();
        let thread_files = files.clone();
        let thread = std::thread::Builder::new()
            .name("prediction-log".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut group = vec![first];
                    group.extend(receiver.try_iter());
                    let result = lock(&thread_files.0).commit(&group, sync, &thread_files.1);
                    for entry in group {
                        if let Some(done) = entry.done {
                            let _ = done.send(result.clone());
                        }
                    }
                }
            })
            .map_err(log_error)?;
        Ok(PredictionLog {
            writer: Some(Writer {
                files,
                group: sender,
                sync,
            }),
            thread: Some(thread),
        })
    }

    /// A handle to append through.
    pub fn appender(&self) -> Appender {
        Appender {
            writer: self.writer.clone().expect("the log is open"),
        }
    }

    /// Commits what is waiting and stops the writer.
    pub fn close(mut self) {
        self.writer.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends records to the log.
#[derive(Clone)]
pub struct Appender {
    writer: Writer,
}

impl Appender {
    /// Appends `lines` (JSON lines, each ending in `\n`; `rows` of them) and returns once
    /// they are committed.
    pub async fn commit(&self, lines: Vec<u8>, rows: u64) -> Result<(), String> {
        let w = &self.writer;
        if w.sync == LogSync::Write && lines.len() <= INLINE_MAX {
            return Self::inline(w, lines, rows);
        }
        let (done, committed) = oneshot::channel();
        let entry = Entry {
            lines,
            rows,
            done: Some(done),
        };
        w.group
            .send(entry)
            .map_err(|_| "the prediction log is closed".to_string())?;
        committed
            .await
            .map_err(|_| "the prediction log writer stopped".to_string())?
    }

    /// Appends `lines` without waiting (shadow predictions: nobody waits for them).
    pub fn append(&self, lines: Vec<u8>, rows: u64) {
        let entry = Entry {
            lines,
            rows,
            done: None,
        };
        if self.writer.group.send(entry).is_err() {
            tracing::error!("prediction log: closed before a shadow record was written");
        }
    }

    /// Writes `lines` on this thread.
    fn inline(w: &Writer, lines: Vec<u8>, rows: u64) -> Result<(), String> {
        let entry = [Entry {
            lines,
            rows,
            done: None,
        }];
        lock(&w.files.0).commit(&entry, LogSync::Write, &w.files.1)
    }
}

/// The log's files, locked (a panic while writing leaves them usable: each commit ends
/// on a whole record).
fn lock(files: &Mutex<Segments>) -> std::sync::MutexGuard<'_, Segments> {
    files
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One file of the log.
struct Segment {
    file: File,
    path: PathBuf,
    index: u32,
    written: u64,
}

impl Segment {
    /// Creates segment `index` of `stem` in `dir` (never an existing file) and makes its
    /// name durable.
    fn create(dir: &Path, stem: &str, index: u32) -> io::Result<Segment> {
        let path = dir.join(format!("{stem}-{index:04}.jsonl"));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)?;
        File::open(dir)?.sync_all()?;
        Ok(Segment {
            file,
            path,
            index,
            written: 0,
        })
    }

    /// Writes every entry of `group` with one call, then syncs as `sync` asks.
    fn commit(&mut self, group: &[Entry], sync: LogSync) -> io::Result<()> {
        let result = self.write(group, sync);
        if result.is_err() {
            // A write cut short (a full disk) must not leave half a record for the next
            // one to be appended to: the file goes back to its last whole record.
            let _ = self.file.set_len(self.written);
        }
        result
    }

    /// [`Segment::commit`] without the clean-up.
    fn write(&mut self, group: &[Entry], sync: LogSync) -> io::Result<()> {
        if let [one] = group {
            self.file.write_all(&one.lines)?;
        } else {
            let mut bytes = Vec::with_capacity(group.iter().map(|e| e.lines.len()).sum());
            for entry in group {
                bytes.extend_from_slice(&entry.lines);
            }
            self.file.write_all(&bytes)?;
        }
        if sync == LogSync::Fsync {
            self.file.sync_data()?;
        }
        self.written += group.iter().map(|e| e.lines.len() as u64).sum::<u64>();
        Ok(())
    }
}

/// The log records of one request's rows, by the served model or by the challenger.
pub struct Record<'a> {
    /// The request.
    pub request_id: &'a str,
    /// The model that answered.
    pub model: &'a ServedModel,
    /// Its predictions, one per row.
    pub predictions: &'a [Prediction],
    /// The request's rows (for their ids).
    pub rows: &'a Rows,
    /// The id column.
    pub id_column: Option<&'a str>,
}

impl Record<'_> {
    /// The served model's record: `{"request_id", "time", "model", "ids", "predictions"}`,
    /// one line.
    pub fn line(&self) -> Vec<u8> {
        self.write("model", "predictions")
    }

    /// The challenger's record: `{"request_id", "time", "shadow_model", "ids",
    /// "shadow_predictions"}`, one line.
    pub fn shadow_line(&self) -> Vec<u8> {
        self.write("shadow_model", "shadow_predictions")
    }

    /// The request's line, `model_key` naming the model and `predictions_key` its
    /// predictions (a class or a value per row, in order), `ids` the rows' id column cells
    /// (`null` without an id column).
    fn write(&self, model_key: &str, predictions_key: &str) -> Vec<u8> {
        let json = |s: &str| serde_json::to_string(s).expect("a string serialises");
        let mut out = Vec::with_capacity(256 + self.predictions.len() * 24);
        out.extend_from_slice(
            format!(
                "{{\"request_id\":{},\"time\":{},\"{model_key}\":{},\"ids\":",
                json(self.request_id),
                json(&relearn_store::now_rfc3339()),
                json(&self.model.id)
            )
            .as_bytes(),
        );
        match self.id_column.and_then(|c| self.rows.column(c)) {
            Some(col) => {
                out.push(b'[');
                for row in 0..self.predictions.len() {
                    if row > 0 {
                        out.push(b',');
                    }
                    match self.rows.text(row, col) {
                        Some(id) => {
                            serde_json::to_writer(&mut out, &id).expect("a string serialises")
                        }
                        None => out.extend_from_slice(b"null"),
                    }
                }
                out.push(b']');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(format!(",\"{predictions_key}\":[").as_bytes());
        for (row, prediction) in self.predictions.iter().enumerate() {
            if row > 0 {
                out.push(b',');
            }
            self.model.write_label(&mut out, prediction);
        }
        out.extend_from_slice(b"]}\n");
        out
    }
}
