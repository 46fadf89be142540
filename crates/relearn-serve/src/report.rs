//! `relearn shadow-report`: reads a run's prediction log and compares the served model with
//! the shadow challenger on the same rows: how often they agree and, given the labels that
//! arrived later (a CSV of id and label), each model's score on exactly the rows both
//! answered. The held-out evidence a promotion should rest on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The folder or a file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A complete line of the log is not a record.
    #[error("{}: line {line} is not a prediction record: {message}", path.display())]
    BadRecord {
        /// The log file.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The labels are unusable (the message names the file, row and column).
    #[error("{message}")]
    Labels {
        /// The labels file.
        path: PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// No log at all.
    #[error("no prediction log in {}: `relearn serve` writes one there as it answers", path.display())]
    NoLog {
        /// The folder.
        path: PathBuf,
    },
}

impl ReportError {
    /// Whether the error is the user's input (exit code 2).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, ReportError::BadRecord { .. })
    }
}

/// One line of the log: one request, by the served model or by the challenger.
#[derive(Debug, Deserialize)]
struct Line {
    request_id: String,
    #[serde(default)]
    ids: Option<Vec<Option<String>>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    predictions: Vec<Value>,
    #[serde(default)]
    shadow_model: Option<String>,
    #[serde(default)]
    shadow_predictions: Vec<Value>,
}

impl Line {
    /// Row `row`'s id.
    fn id(&self, row: usize) -> Option<String> {
        self.ids.as_ref()?.get(row).cloned().flatten()
    }
}

/// Labels that arrived later: rows of an id column and a label column, in a CSV or Parquet
/// file, a folder or a glob (as `data.path`).
#[derive(Debug, Clone)]
pub struct LabelFile {
    /// The file, folder or glob.
    pub path: PathBuf,
    /// The column matching the log's `id`.
    pub id_column: String,
    /// The label column.
    pub label_column: String,
}

/// What the log shows.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The log folder.
    pub log_dir: PathBuf,
    /// Log files read.
    pub files: usize,
    /// Rows answered, by serving model.
    pub served: BTreeMap<String, u64>,
    /// Rows also answered by a challenger.
    pub shadowed: u64,
    /// Request ids that more than one served request carried: their shadow rows are left
    /// out (give every request its own `X-Request-Id`, or none: the server makes one).
    pub ambiguous_requests: usize,
    /// Per served model, its score on the logged rows whose label is known: what the
    /// model really did in production.
    pub scores: Vec<ServedScore>,
    /// Per (served model, challenger) pair.
    pub pairs: Vec<Pair>,
    /// Labels read, when a labels file was given.
    pub labels: Option<usize>,
}

/// A served model's score on the rows it answered whose label is known.
#[derive(Debug, Serialize)]
pub struct ServedScore {
    /// The served model.
    pub model: String,
    /// Its logged rows whose label is known.
    pub labelled: u64,
    /// `accuracy` or `mse`.
    pub metric: &'static str,
    /// Its score on them.
    pub score: f64,
}

/// The served model and a challenger on the same rows.
#[derive(Debug, Serialize)]
pub struct Pair {
    /// The served model.
    pub model: String,
    /// The challenger.
    pub shadow_model: String,
    /// Rows both answered.
    pub rows: u64,
    /// Share of those rows with the same class (classification), or `null`.
    pub agreement: Option<f64>,
    /// Mean absolute difference of the two predictions (regression), or `null`.
    pub mean_abs_diff: Option<f64>,
    /// Rows of those whose label is known.
    pub labelled: u64,
    /// `accuracy` or `mse`, on the labelled rows.
    pub metric: Option<&'static str>,
    /// The served model's score on the labelled rows.
    pub model_score: Option<f64>,
    /// The challenger's score on the same rows.
    pub shadow_score: Option<f64>,
}

/// Totals of one pair while reading.
#[derive(Default)]
struct Tally {
    rows: u64,
    same: u64,
    classes: u64,
    abs_diff: f64,
    numbers: u64,
    labelled: u64,
    model_sum: f64,
    shadow_sum: f64,
    regression: bool,
}

/// Reads every `*.jsonl` of `log_dir` and, if given, the labels, and compares.
///
/// Two passes over the log, one file at a time: the first keeps the challenger's answers
/// (a sample of the requests) and skims the rest; the second scores every served answer
/// as it goes and keeps only those a challenger answered too. Memory grows with the
/// shadowed requests and the labels, not with the log.
pub fn report(log_dir: &Path, labels: Option<&LabelFile>) -> Result<Report, ReportError> {
    let files = log_files(log_dir)?;
    let labels = labels.map(read_labels).transpose()?;
    let mut shadows: Vec<Line> = Vec::new();
    for file in &files {
        for_each_line(file, |text, head| {
            if head.model.is_none() && head.shadow_model.is_some() {
                shadows.push(serde_json::from_str(text)?);
            }
            Ok(())
        })?;
    }
    let wanted: HashSet<&str> = shadows.iter().map(|l| l.request_id.as_str()).collect();
    let mut served = ServedPass::default();
    if !wanted.is_empty() || labels.is_some() {
        for file in &files {
            for_each_line(file, |text, head| {
                if head.model.is_some() {
                    served.add(serde_json::from_str(text)?, &wanted, labels.as_ref());
                }
                Ok(())
            })?;
        }
    } else {
        for file in &files {
            for_each_line(file, |_, head| {
                served.count(&head);
                Ok(())
            })?;
        }
    }
    let (tallies, shadowed) = compare(&shadows, &served, labels.as_ref());
    Ok(Report {
        log_dir: log_dir.to_path_buf(),
        files: files.len(),
        served: served.by_model,
        shadowed,
        ambiguous_requests: served.ambiguous.len(),
        scores: served.scores.finish(),
        pairs: tallies
            .into_iter()
            .map(|((model, shadow_model), t)| t.pair(model, shadow_model))
            .collect(),
        labels: labels.map(|l| l.len()),
    })
}

/// The fields of a log line the first pass needs, read without the predictions.
#[derive(Debug, Deserialize)]
struct LineHead {
    request_id: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    shadow_model: Option<String>,
    #[serde(default)]
    predictions: Option<Vec<serde::de::IgnoredAny>>,
}

/// What the second pass keeps of the served answers.
#[derive(Default)]
struct ServedPass {
    /// Rows answered, by serving model.
    by_model: BTreeMap<String, u64>,
    /// Every served request id, to find those given to more than one request.
    seen: HashSet<String>,
    /// Request ids given to more than one served request (a client that reuses its ids,
    /// or replicas): their shadow rows cannot be matched to the right answer, so they are
    /// left out of the comparison and counted.
    ambiguous: HashSet<String>,
    /// The served answers a challenger answered too, by request id.
    kept: HashMap<String, Line>,
    /// Each served model's score on the rows whose label came.
    scores: ScoreSums,
}

impl ServedPass {
    /// Counts a served answer known only by its head (no labels, no challenger).
    fn count(&mut self, head: &LineHead) {
        if let Some(model) = &head.model {
            let rows = head.predictions.as_ref().map_or(0, Vec::len) as u64;
            *self.by_model.entry(model.clone()).or_default() += rows;
            self.note_request(&head.request_id);
        }
    }

    /// Counts and scores a served answer, keeping it if a challenger answered it too.
    fn add(
        &mut self,
        line: Line,
        wanted: &HashSet<&str>,
        labels: Option<&HashMap<String, String>>,
    ) {
        let Some(model) = &line.model else { return };
        *self.by_model.entry(model.clone()).or_default() += line.predictions.len() as u64;
        if let Some(labels) = labels {
            self.scores.add(&line, labels);
        }
        self.note_request(&line.request_id);
        if wanted.contains(line.request_id.as_str()) {
            self.kept.insert(line.request_id.clone(), line);
        }
    }

    fn note_request(&mut self, id: &str) {
        if !self.seen.insert(id.to_string()) {
            self.ambiguous.insert(id.to_string());
        }
    }
}

/// The challenger's answers against the served ones of the same requests: per (served
/// model, challenger) pair, and the rows compared.
fn compare(
    shadows: &[Line],
    served: &ServedPass,
    labels: Option<&HashMap<String, String>>,
) -> (BTreeMap<(String, String), Tally>, u64) {
    let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut shadowed = 0;
    for line in shadows
        .iter()
        .filter(|l| !served.ambiguous.contains(&l.request_id))
    {
        let Some(ours) = served.kept.get(&line.request_id) else {
            continue;
        };
        let (model, challenger) = (
            ours.model.clone().unwrap_or_default(),
            line.shadow_model.clone().unwrap_or_default(),
        );
        let tally = tallies.entry((model, challenger)).or_default();
        for (row, (prediction, theirs)) in ours
            .predictions
            .iter()
            .zip(&line.shadow_predictions)
            .enumerate()
        {
            shadowed += 1;
            let label = ours.id(row).and_then(|id| labels?.get(&id));
            tally.add(prediction, theirs, label);
        }
    }
    (tallies, shadowed)
}

/// Per served model, while reading: labelled rows, the sum of hits (or squared errors),
/// and whether its predictions are numbers.
#[derive(Default)]
struct ScoreSums(BTreeMap<String, (u64, f64, bool)>);

impl ScoreSums {
    /// Adds the rows of `line` whose label is in `labels`.
    fn add(&mut self, line: &Line, labels: &HashMap<String, String>) {
        let Some(model) = &line.model else { return };
        for (row, prediction) in line.predictions.iter().enumerate() {
            let Some(label) = line.id(row).and_then(|id| labels.get(&id)) else {
                continue;
            };
            let sum = self.0.entry(model.clone()).or_default();
            match prediction {
                Value::Number(p) => {
                    let Ok(y) = label.trim().parse::<f64>() else {
                        continue;
                    };
                    let error = (p.as_f64().unwrap_or(f64::NAN) - y).powi(2);
                    *sum = (sum.0 + 1, sum.1 + error, true);
                }
                _ => {
                    let hit = f64::from(u8::from(same_class(prediction, label)));
                    *sum = (sum.0 + 1, sum.1 + hit, sum.2);
                }
            }
        }
    }

    /// Each model's score.
    fn finish(self) -> Vec<ServedScore> {
        self.0
            .into_iter()
            .filter(|(_, (n, _, _))| *n > 0)
            .map(|(model, (n, total, numeric))| ServedScore {
                model,
                labelled: n,
                metric: if numeric { "mse" } else { "accuracy" },
                score: total / n as f64,
            })
            .collect()
    }
}

impl Tally {
    /// Adds one row: the served prediction, the challenger's, and the label if known.
    fn add(&mut self, ours: &Value, theirs: &Value, label: Option<&String>) {
        self.rows += 1;
        match (ours, theirs) {
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    b.as_f64().unwrap_or(f64::NAN),
                );
                self.regression = true;
                self.numbers += 1;
                self.abs_diff += (a - b).abs();
                if let Some(y) = label.and_then(|l| l.trim().parse::<f64>().ok()) {
                    self.labelled += 1;
                    self.model_sum += (a - y).powi(2);
                    self.shadow_sum += (b - y).powi(2);
                }
            }
            _ => {
                self.classes += 1;
                self.same += u64::from(ours == theirs);
                if let Some(label) = label {
                    self.labelled += 1;
                    self.model_sum += f64::from(u8::from(same_class(ours, label)));
                    self.shadow_sum += f64::from(u8::from(same_class(theirs, label)));
                }
            }
        }
    }

    fn pair(self, model: String, shadow_model: String) -> Pair {
        let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
        Pair {
            model,
            shadow_model,
            rows: self.rows,
            agreement: mean(self.same as f64, self.classes),
            mean_abs_diff: mean(self.abs_diff, self.numbers),
            labelled: self.labelled,
            metric: (self.labelled > 0).then_some(if self.regression { "mse" } else { "accuracy" }),
            model_score: mean(self.model_sum, self.labelled),
            shadow_score: mean(self.shadow_sum, self.labelled),
        }
    }
}

/// Whether a predicted class (a JSON string) is `label`: the same text, or the same number
/// (`1.0` for `1`).
fn same_class(prediction: &Value, label: &str) -> bool {
    let Some(class) = prediction.as_str() else {
        return false;
    };
    let label = label.trim();
    class == label
        || matches!((class.parse::<f64>(), label.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
}

/// The folder's `*.jsonl` files, in name order.
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let io = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ReportError::NoLog {
            path: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Calls `each` with every complete line of the log file `path` (a line cut short by a
/// crash is not one) and its head; a line that is not a record is an error naming it.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&str, LineHead) -> Result<(), serde_json::Error>,
) -> Result<(), ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        serde_json::from_str(line)
            .and_then(|head| each(line, head))
            .map_err(|e| ReportError::BadRecord {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// The labels as `id -> label`.
fn read_labels(labels: &LabelFile) -> Result<HashMap<String, String>, ReportError> {
    relearn_data::read_labels_by_id(&labels.path, &labels.id_column, &labels.label_column).map_err(
        |e| ReportError::Labels {
            path: labels.path.clone(),
            message: e.to_string(),
        },
    )
}
