//! `[data]`: where samples come from (a CSV file or a generator), how features are scaled
//! and clipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use relearn_data::{
    CsvSource, DEFAULT_HASH_BUCKETS, DEFAULT_MAX_CATEGORIES, Every, GeneratorKind, GeneratorSpec,
    LabelSource, MAX_CATEGORY_INPUTS, Scaling, StreamSource, Task,
};

use super::Context;
use crate::defaults;
use crate::error::ConfigError;
use crate::raw::RawData;

/// `[data]`, validated.
pub(crate) struct DataSettings {
    /// The stream's source.
    pub source: StreamSource,
    /// `data.scaling`, or its default (an imported model may impose another).
    pub scaling: Scaling,
    /// Whether `data.scaling` is written (an imported model's must then match it).
    pub scaling_written: bool,
    /// `data.clip`.
    pub clip: f64,
}

impl DataSettings {
    /// The task the source poses.
    pub fn task(&self) -> Task {
        crate::spec::source_task(&self.source)
    }
}

impl RawData {
    /// Checks the clip, the scaling and the one source, whose generator draws from `seed`.
    pub(crate) fn check(
        mut self,
        cx: &Context,
        seed: u64,
        every: Option<Every>,
        label_wait: Option<Every>,
    ) -> Result<DataSettings, ConfigError> {
        let clip = self.clip.unwrap_or(defaults::CLIP);
        if clip.is_nan() || clip < 1.0 {
            return Err(cx.invalid(
                "data.clip",
                format!(
                    "is {clip}; expected a number of standard deviations of at least 1 (default {}), or inf to never clip",
                    defaults::CLIP
                ),
            ));
        }
        let scaling_written = self.scaling.is_some();
        let scaling = cx
            .word("data.scaling", self.scaling.as_deref())?
            .unwrap_or(defaults::SCALING);
        let task = cx.word("data.task", self.task.as_deref())?;
        if self.csv.is_some() && self.path.is_some() {
            return Err(cx.invalid(
                "data.path",
                "cannot be combined with `data.csv`, its older name: keep `data.path`",
            ));
        }
        let tabular = self.path.take().or(self.csv.take());
        let source = match (tabular, self.generator.take()) {
            (Some(_), Some(_)) => Err(cx.invalid(
                "data.generator",
                "cannot be combined with `data.path` (or `data.csv`): keep one data source",
            )),
            (None, None) => Err(cx.invalid(
                "data",
                "needs a source: `path = \"events/\"` (a CSV or Parquet file, a folder or a glob) with `target = \"column\"`, or `generator = \"sea\"`",
            )),
            (Some(csv), None) => self.csv_source(cx, csv, task, every, label_wait),
            (None, Some(_)) if every.is_some() => Err(cx.invalid(
                "window.every",
                "cuts windows by the dates of `data.time`, a column of `data.csv`: generators have no dates; use `window.size`",
            )),
            (None, Some(generator)) => self.generator_source(cx, &generator, task, seed),
        }?;
        Ok(DataSettings {
            source,
            scaling,
            scaling_written,
            clip,
        })
    }

    /// `data.csv` and the keys that go with it; a generator's keys are refused.
    fn csv_source(
        self,
        cx: &Context,
        csv: PathBuf,
        task: Option<Task>,
        every: Option<Every>,
        label_wait: Option<Every>,
    ) -> Result<StreamSource, ConfigError> {
        cx.refuse_written(
            &[
                ("data.samples", self.samples.is_some()),
                ("data.noise", self.noise.is_some()),
                ("data.drift_points", self.drift_points.is_some()),
                ("data.drift_width", self.drift_width.is_some()),
                ("data.n_features", self.n_features.is_some()),
                ("data.drift_speed", self.drift_speed.is_some()),
            ],
            "applies to generators only, not to `data.csv`",
        )?;
        let target = self.target.clone().ok_or_else(|| {
            cx.invalid(
                "data.target",
                "is required with `data.csv`: name the target column",
            )
        })?;
        let labels = self.label_source(cx, &target, every, label_wait)?;
        let mut columns = BTreeMap::new();
        for (name, kind) in self.columns.unwrap_or_default() {
            let kind = cx.parse_word(&format!("data.columns.{name}"), &kind)?;
            columns.insert(name, kind);
        }
        let (max_categories, hash_buckets) =
            category_inputs(cx, self.max_categories, self.hash_buckets)?;
        if every.is_some() && self.time.is_none() {
            return Err(cx.invalid(
                "window.every",
                "needs `data.time = \"column\"`: the column of dates or timestamps whose calendar periods are the windows",
            ));
        }
        if let Some(time) = &self.time {
            if time.trim().is_empty() {
                return Err(cx.invalid(
                    "data.time",
                    "is empty: name the column of dates or timestamps",
                ));
            }
            if time == &target {
                return Err(cx.invalid(
                    "data.time",
                    format!("is {time:?}, the target column: name the column of dates or timestamps that orders the rows"),
                ));
            }
        }
        Ok(StreamSource::Csv(CsvSource {
            path: cx.resolve(csv),
            target,
            features: self.features.unwrap_or_default(),
            task: task.unwrap_or(Task::Classification),
            task_given: task.is_some(),
            missing: self
                .missing
                .unwrap_or_else(|| relearn_data::DEFAULT_MISSING.map(str::to_string).to_vec()),
            columns,
            max_categories,
            hash_buckets,
            delimiter: delimiter(cx, self.delimiter.as_deref())?,
            time: self.time,
            every,
            id: self.id,
            labels,
        }))
    }

    /// `data.labels`, checked with the keys it needs: `data.id` (not the target),
    /// `data.time`, `window.every` and `window.label_delay` as a duration.
    fn label_source(
        &self,
        cx: &Context,
        target: &str,
        every: Option<Every>,
        label_wait: Option<Every>,
    ) -> Result<Option<LabelSource>, ConfigError> {
        if let Some(id) = &self.id {
            if id.trim().is_empty() {
                return Err(cx.invalid(
                    "data.id",
                    "is empty: name the column that identifies each row",
                ));
            }
            if id == target || self.time.as_deref() == Some(id) {
                return Err(cx.invalid(
                    "data.id",
                    format!("is {id:?}, which is also data.target or data.time: name the column that identifies each row"),
                ));
            }
        }
        let Some(path) = &self.labels else {
            return Ok(None);
        };
        let needs = |key: &str, why: &str| cx.invalid("data.labels", format!("needs {key}: {why}"));
        if self.id.is_none() {
            return Err(needs(
                "`data.id = \"column\"`",
                "the column that names each row, which the labels name too",
            ));
        }
        if self.time.is_none() || every.is_none() {
            return Err(needs(
                "`data.time` and `window.every`",
                "windows by time close a set time after their period ends, and the labels that came by then are theirs",
            ));
        }
        let Some(wait) = label_wait else {
            return Err(needs(
                "`window.label_delay` as a duration (\"3d\", \"12h\")",
                "how long after its period a window's labels are in; its rows still without a label then are skipped",
            ));
        };
        Ok(Some(LabelSource {
            path: cx.resolve(path.clone()),
            wait,
        }))
    }

    /// `data.generator` and the keys that go with it; a CSV file's keys are refused.
    fn generator_source(
        self,
        cx: &Context,
        generator: &str,
        task: Option<Task>,
        seed: u64,
    ) -> Result<StreamSource, ConfigError> {
        cx.refuse_written(
            &[
                ("data.target", self.target.is_some()),
                ("data.missing", self.missing.is_some()),
                ("data.features", self.features.is_some()),
                ("data.columns", self.columns.is_some()),
                ("data.max_categories", self.max_categories.is_some()),
                ("data.hash_buckets", self.hash_buckets.is_some()),
                ("data.delimiter", self.delimiter.is_some()),
                ("data.time", self.time.is_some()),
                ("data.labels", self.labels.is_some()),
                ("data.id", self.id.is_some()),
            ],
            "applies to `data.csv` only, not to generators",
        )?;
        let kind = GeneratorKind::parse(generator).ok_or_else(|| {
            let names: Vec<_> = GeneratorKind::ALL.iter().map(|k| k.name()).collect();
            cx.invalid(
                "data.generator",
                format!("is {generator:?}; expected one of {}", names.join(", ")),
            )
        })?;
        if let Some(task) = task
            && task != kind.task()
        {
            return Err(cx.invalid(
                "data.task",
                format!(
                    "does not match generator {generator:?}, which poses a {:?} task",
                    kind.task()
                ),
            ));
        }
        let mut spec = GeneratorSpec::new(kind, self.samples.unwrap_or(defaults::SAMPLES), seed);
        if let Some(v) = self.noise {
            spec.noise = v;
        }
        if let Some(v) = self.drift_points {
            spec.drift_points = v;
        }
        if let Some(v) = self.drift_width {
            spec.drift_width = v;
        }
        if let Some(v) = self.n_features {
            spec.n_features = v;
        }
        if let Some(v) = self.drift_speed {
            spec.drift_speed = v;
        }
        spec.validate().map_err(|e| generator_error(cx, e))?;
        Ok(StreamSource::Generator(spec))
    }
}

/// `data.max_categories` and `data.hash_buckets`: the one-hot and hashed inputs of a
/// categorical column.
fn category_inputs(
    cx: &Context,
    max_categories: Option<usize>,
    hash_buckets: Option<usize>,
) -> Result<(usize, usize), ConfigError> {
    let max_categories = max_categories.unwrap_or(DEFAULT_MAX_CATEGORIES);
    if !(2..=MAX_CATEGORY_INPUTS).contains(&max_categories) {
        return Err(cx.invalid(
            "data.max_categories",
            format!("is {max_categories}; must be between 2 and {MAX_CATEGORY_INPUTS} (one-hot inputs per categorical column)"),
        ));
    }
    let hash_buckets = hash_buckets.unwrap_or(DEFAULT_HASH_BUCKETS);
    if hash_buckets > MAX_CATEGORY_INPUTS {
        return Err(cx.invalid(
            "data.hash_buckets",
            format!("is {hash_buckets}; at most {MAX_CATEGORY_INPUTS} hashed inputs per column"),
        ));
    }
    Ok((max_categories, hash_buckets))
}

/// `data.delimiter`: the byte that separates a CSV file's fields.
fn delimiter(cx: &Context, written: Option<&str>) -> Result<u8, ConfigError> {
    match written {
        None => Ok(relearn_data::DEFAULT_DELIMITER),
        Some(d) => relearn_data::parse_delimiter(d).ok_or_else(|| {
            cx.invalid(
                "data.delimiter",
                format!("is {d:?}; expected one character that separates the fields, such as \",\", \";\", \"|\" or \"\\t\" (also \"tab\"), not a letter, digit, space or quote"),
            )
        }),
    }
}

/// A generator's own check, as a config error on the key it names.
fn generator_error(cx: &Context, e: relearn_data::DataError) -> ConfigError {
    let (key, message) = match e {
        relearn_data::DataError::Config { key, message } => (key.to_string(), message),
        other => ("data".to_string(), other.to_string()),
    };
    cx.invalid_at_key(key, format!("is invalid: {message}"))
}
