//! [`Forest`]: boosters trained, continued and run on rows of encoded features.

use perpetual::PerpetualBooster;
use perpetual::objective::Objective;
use perpetual::{Matrix, booster::config::MissingNodeTreatment};
use serde::{Deserialize, Serialize};

use crate::TreesError;

/// What a forest predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TreeTask {
    /// A class index; the forest gives one logit per class.
    Classification,
    /// A (standardised) number; the forest gives one value.
    Regression,
}

/// How a forest is trained (`[gbdt]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeSettings {
    /// perpetual's one knob: higher fits more trees, each with more weight (`gbdt.budget`).
    pub budget: f32,
    /// The most trees a booster keeps (`gbdt.max_trees`): a continuation adds at most the
    /// room left, and a booster with no room left is trained anew on the rows it is given.
    pub max_trees: usize,
    /// The memory perpetual sizes its histograms by, in GB (`gbdt.memory_limit`). Without a
    /// limit it reads the machine's free memory, and the trees would depend on it.
    pub memory_limit_gb: f32,
    /// The seed of its row and column sampling.
    pub seed: u64,
}

/// Rows of encoded features: row-major, `rows * cols` values.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
}

impl<'a> Rows<'a> {
    /// `values` holds `cols` features per row, row after row.
    pub fn new(values: &'a [f32], cols: usize) -> Rows<'a> {
        let rows = values.len().checked_div(cols).unwrap_or(0);
        Rows { values, rows, cols }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The values column-major in `f64`, as perpetual's [`Matrix`] reads them.
    fn column_major(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.rows * self.cols];
        for (i, row) in self.values.chunks_exact(self.cols.max(1)).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                out[j * self.rows + i] = f64::from(v);
            }
        }
        out
    }
}

/// One output of a forest: a constant (the log-odds of a class every row it was fitted on
/// had, or lacked, which a booster cannot fit; else 0) plus the sum of its stages, one
/// booster per fit: the first on the targets themselves, each continuation on what the
/// stages before it still get wrong.
#[derive(Clone, Default)]
pub(crate) struct Output {
    pub(crate) constant: f64,
    pub(crate) stages: Vec<PerpetualBooster>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trees: Vec<usize> = self.stages.iter().map(|b| b.trees.len()).collect();
        write!(f, "Output({} + stages of {trees:?} trees)", self.constant)
    }
}

impl Output {
    /// Trees over its stages.
    fn trees(&self) -> usize {
        self.stages.iter().map(|b| b.trees.len()).sum()
    }

    /// Its value for each row of `matrix`.
    fn predict(&self, matrix: &Matrix<'_, f64>) -> Vec<f64> {
        let mut out = vec![self.constant; matrix.rows];
        for stage in &self.stages {
            for (o, v) in out.iter_mut().zip(stage.predict(matrix, false)) {
                *o += v;
            }
        }
        out
    }
}

/// Gradient-boosted trees for one task: one output for regression and binary
/// classification, one per class for more classes.
#[derive(Debug, Clone)]
pub struct Forest {
    pub(crate) task: TreeTask,
    /// Features per row.
    pub(crate) inputs: usize,
    /// Classes (1 for regression).
    pub(crate) classes: usize,
    pub(crate) outputs: Vec<Output>,
}

/// How big a forest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForestSize {
    /// Boosters (one per output and fit).
    pub boosters: usize,
    /// Trees over all boosters.
    pub trees: usize,
    /// Nodes over all trees.
    pub nodes: usize,
    /// Leaves over all trees.
    pub leaves: usize,
}

impl Forest {
    /// Trains a forest from scratch on `x` with targets `y` (class indices below `classes`
    /// for classification; `classes` is 1 for regression).
    pub fn fit(
        task: TreeTask,
        classes: usize,
        x: Rows<'_>,
        y: &[f32],
        settings: &TreeSettings,
    ) -> Result<Forest, TreesError> {
        let fresh = vec![None; output_count(task, classes)];
        Forest::fit_outputs(task, classes, x, y, settings, fresh)
    }

    /// Continues the forest on `x` and `y` only: each output keeps its stages and adds one
    /// (regression) or up to four (classification), fitted to half of what it
    /// still gets wrong on these rows, with at most the room
    /// `max_trees` leaves; an output with no room is boosted anew on these rows. With more
    /// `classes` than it had, the outputs of the new classes (and, going from two classes to
    /// three, of class 0) are fitted on these rows first.
    pub fn continued(
        &self,
        classes: usize,
        x: Rows<'_>,
        y: &[f32],
        settings: &TreeSettings,
    ) -> Result<Forest, TreesError> {
        if x.cols != self.inputs {
            return Err(TreesError::Data(format!(
                "the rows have {} features, the forest {}",
                x.cols, self.inputs
            )));
        }
        let previous = self.outputs_for(classes);
        Forest::fit_outputs(self.task, classes, x, y, settings, previous)
    }

    /// A forest whose output `k` is fitted on `x` and `y`: from scratch where `previous[k]`
    /// is `None`, else continuing it.
    fn fit_outputs(
        task: TreeTask,
        classes: usize,
        x: Rows<'_>,
        y: &[f32],
        settings: &TreeSettings,
        previous: Vec<Option<&Output>>,
    ) -> Result<Forest, TreesError> {
        check_targets(task, classes, x, y)?;
        let data = x.column_major();
        let outputs = previous
            .into_iter()
            .enumerate()
            .map(|(k, prev)| fit_output(task, k, classes, &data, x, y, settings, prev))
            .collect::<Result<_, _>>()?;
        Ok(Forest {
            task,
            inputs: x.cols,
            classes,
            outputs,
        })
    }

    /// The outputs to continue when the forest grows to `classes`: each existing output
    /// where its class is the same, `None` where a new output starts.
    fn outputs_for(&self, classes: usize) -> Vec<Option<&Output>> {
        let wanted = output_count(self.task, classes);
        if self.task == TreeTask::Classification && self.classes == 2 && classes > 2 {
            // The binary booster was class 1 against class 0: it continues as class 1's.
            let mut v = vec![None; wanted];
            v[1] = self.outputs.first();
            return v;
        }
        (0..wanted).map(|k| self.outputs.get(k)).collect()
    }

    /// Raw outputs for `x`, row-major `[rows, width]`: logits for classification (`[0, f]`
    /// for two classes), the predicted value for regression.
    pub fn outputs(&self, x: Rows<'_>) -> Vec<f32> {
        let data = x.column_major();
        let matrix = Matrix::new(&data, x.rows, x.cols);
        let per_output: Vec<Vec<f64>> = self.outputs.iter().map(|o| o.predict(&matrix)).collect();
        let binary = self.task == TreeTask::Classification && self.classes == 2;
        let width = if binary { 2 } else { per_output.len() };
        let mut out = Vec::with_capacity(x.rows * width);
        for i in 0..x.rows {
            if binary {
                out.push(0.0);
            }
            out.extend(per_output.iter().map(|p| p[i] as f32));
        }
        out
    }

    /// The task.
    pub fn task(&self) -> TreeTask {
        self.task
    }

    /// Features per row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs per row: the classes (2 for a binary classifier), 1 for regression.
    pub fn width(&self) -> usize {
        self.classes
    }

    /// Boosters, trees, nodes and leaves.
    pub fn size(&self) -> ForestSize {
        let mut size = ForestSize {
            boosters: 0,
            trees: 0,
            nodes: 0,
            leaves: 0,
        };
        for b in self.outputs.iter().flat_map(|o| &o.stages) {
            size.boosters += 1;
            size.trees += b.trees.len();
            size.nodes += b.trees.iter().map(|t| t.nodes.len()).sum::<usize>();
            size.leaves += b.trees.iter().map(|t| t.n_leaves).sum::<usize>();
        }
        size
    }
}

/// Boosters of a forest: one for regression and two classes, one per class for more.
fn output_count(task: TreeTask, classes: usize) -> usize {
    match task {
        TreeTask::Regression => 1,
        TreeTask::Classification if classes <= 2 => 1,
        TreeTask::Classification => classes,
    }
}

/// `y` has a target per row of `x`, each a class below `classes` for classification.
fn check_targets(task: TreeTask, classes: usize, x: Rows<'_>, y: &[f32]) -> Result<(), TreesError> {
    if y.len() != x.rows || x.values.len() != x.rows * x.cols {
        return Err(TreesError::Data(format!(
            "{} targets for {} rows of {} features ({} values)",
            y.len(),
            x.rows,
            x.cols,
            x.values.len()
        )));
    }
    if x.rows == 0 {
        return Err(TreesError::Data("no rows to fit".into()));
    }
    if task == TreeTask::Classification {
        if classes < 2 {
            return Err(TreesError::Data(format!(
                "{classes} class(es): a classifier needs two"
            )));
        }
        if let Some(bad) = y
            .iter()
            .find(|&&c| !(c >= 0.0 && (c as usize) < classes && c.fract() == 0.0))
        {
            return Err(TreesError::Data(format!(
                "class index {bad} is not one of 0..{classes}"
            )));
        }
    } else if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
        return Err(TreesError::Data(format!(
            "target {bad} is not a finite number"
        )));
    }
    Ok(())
}

/// Fits output `k` on the rows (`data` column-major): from scratch, or continuing
/// `previous` with one more stage while it has room for more trees.
#[allow(clippy::too_many_arguments)]
fn fit_output(
    task: TreeTask,
    k: usize,
    classes: usize,
    data: &[f64],
    x: Rows<'_>,
    y: &[f32],
    settings: &TreeSettings,
    previous: Option<&Output>,
) -> Result<Output, TreesError> {
    let target: Vec<f64> = match task {
        TreeTask::Regression => y.iter().map(|&v| f64::from(v)).collect(),
        TreeTask::Classification => {
            // Two classes: class 1 against class 0; more: class k against the rest.
            let positive = if classes == 2 { 1 } else { k };
            y.iter()
                .map(|&c| f64::from(u8::from(c as usize == positive)))
                .collect()
        }
    };
    let matrix = Matrix::new(data, x.rows, x.cols);
    let fit_err = |e: perpetual::errors::PerpetualError| TreesError::Fit {
        output: k,
        message: e.to_string(),
    };
    if let Some(prev) = previous.filter(|p| p.trees() < settings.max_trees) {
        return continue_output(task, prev, &matrix, &target, settings).map_err(fit_err);
    }
    let positives = target.iter().filter(|&&t| t == 1.0).count();
    if task == TreeTask::Classification && (positives == 0 || positives == target.len()) {
        // Log loss on one class only has its optimum at infinity: keep the log-odds of the
        // class's frequency, smoothed by half a row each way.
        let p = (positives as f64 + 0.5) / (target.len() as f64 + 1.0);
        return Ok(Output {
            constant: (p / (1.0 - p)).ln(),
            stages: Vec::new(),
        });
    }
    let mut booster = fresh_booster(task, settings, settings.max_trees);
    booster.fit(&matrix, &target, None, None).map_err(fit_err)?;
    Ok(Output {
        constant: 0.0,
        stages: vec![booster],
    })
}

/// Continues `prev` on the rows of `matrix`: regression with one stage on the residuals;
/// classification with up to [`NEWTON_STAGES`] stages, each one Newton step of log loss,
/// until a step improves the rows' mean log loss by less than 1 % (or the tree cap is
/// reached).
fn continue_output(
    task: TreeTask,
    prev: &Output,
    matrix: &Matrix<'_, f64>,
    target: &[f64],
    settings: &TreeSettings,
) -> Result<Output, perpetual::errors::PerpetualError> {
    let mut next = prev.clone();
    let mut current = prev.predict(matrix);
    let mut loss = log_loss(&current, target);
    let steps = match task {
        TreeTask::Regression => 1,
        TreeTask::Classification => NEWTON_STAGES,
    };
    for _ in 0..steps {
        let room = settings.max_trees.saturating_sub(next.trees());
        if room == 0 {
            break;
        }
        let (mut work, weights) = working_response(task, &current, target);
        // The stage fits a shrunk step (so its predictions are shrunk alike, with no weight
        // to store): a continuation that leans on one window less.
        work.iter_mut().for_each(|w| *w *= CONTINUATION_SHRINK);
        let mut stage = fresh_booster(TreeTask::Regression, settings, room);
        stage.fit(matrix, &work, weights.as_deref(), None)?;
        let step = stage.predict(matrix, false);
        if !within_targets(&step, &work) {
            // perpetual fitted a stage far outside what it was asked to fit (seen on
            // 50-row windows: outputs of 1e17 for targets of a few units): keep the model
            // as it was rather than let it into every later prediction.
            break;
        }
        for (c, v) in current.iter_mut().zip(step) {
            *c += v;
        }
        next.stages.push(stage);
        let now = log_loss(&current, target);
        if task == TreeTask::Regression || now > loss * 0.99 {
            break;
        }
        loss = now;
    }
    Ok(next)
}

/// The factor on each continuation stage's step: a stage fits half of what its window says
/// (the residuals, or the Newton step), so that one window's noise does not enter the model
/// whole. Measured with stateful trees (mean prequential score, factor 1 / 0.5 / 0.25):
/// bikeshare mse 12,019 / 6,061 / 7,392, computers 121,062 / 83,631 / 97,525, hotel_rates
/// 898 / 780 / 1,094, Elec2 accuracy 0.7544 / 0.7576, segment 0.9041 / 0.9050.
pub(crate) const CONTINUATION_SHRINK: f64 = 0.5;

/// Whether a stage's outputs `step` on the rows it was fitted on are finite and within the
/// range a squared-loss fit of `work` can reach: its leaves average the targets, so no more
/// than the largest target in size, with room for perpetual's own adjustments.
fn within_targets(step: &[f64], work: &[f64]) -> bool {
    let largest = work.iter().fold(0.0_f64, |m, w| m.max(w.abs()));
    let bound = 4.0 * largest + 1.0;
    step.iter().all(|v| v.is_finite() && v.abs() <= bound)
}

/// The most Newton stages one continuation of a classifier's output adds.
const NEWTON_STAGES: usize = 4;

/// Mean log loss of log-odds `f` against 0/1 targets (computed stably).
fn log_loss(f: &[f64], target: &[f64]) -> f64 {
    let sum: f64 = f
        .iter()
        .zip(target)
        .map(|(&f, &y)| {
            // -[y ln p + (1 - y) ln (1 - p)] = ln(1 + e^f) - y f
            let softplus = if f > 0.0 {
                f + (-f).exp().ln_1p()
            } else {
                f.exp().ln_1p()
            };
            softplus - y * f
        })
        .sum();
    sum / f.len().max(1) as f64
}

/// What a continuation stage fits, by squared loss, given the output's current values
/// `current` on the rows and their `target`s. Regression: the residuals. Classification:
/// one Newton step of log loss (LogitBoost: Friedman, Hastie and Tibshirani 2000), the
/// working response `(y - p) / (p (1 - p))` clipped to ±4, weighted by `p (1 - p)` (at
/// least 1e-4, so that a row the output is sure of still counts a little).
///
/// Not perpetual's own continuation (`reset = false`): on rows the booster gets
/// confidently wrong (a concept that flipped) its log loss turns NaN and it stops before
/// its first new tree (3.0.0-rc.2).
fn working_response(
    task: TreeTask,
    current: &[f64],
    target: &[f64],
) -> (Vec<f64>, Option<Vec<f64>>) {
    match task {
        TreeTask::Regression => (
            current.iter().zip(target).map(|(f, y)| y - f).collect(),
            None,
        ),
        TreeTask::Classification => {
            let mut work = Vec::with_capacity(target.len());
            let mut weights = Vec::with_capacity(target.len());
            for (&f, &y) in current.iter().zip(target) {
                let p = 1.0 / (1.0 + (-f).exp());
                let w = (p * (1.0 - p)).max(1e-4);
                work.push(((y - p) / w).clamp(-WORKING_RESPONSE_CLIP, WORKING_RESPONSE_CLIP));
                weights.push(w);
            }
            (work, Some(weights))
        }
    }
}

/// The bound on a classification stage's working response (LogitBoost's `z_max`).
const WORKING_RESPONSE_CLIP: f64 = 4.0;

/// A booster that has not been fitted, configured for `task`.
/// `iteration_limit`: the most trees it may fit.
fn fresh_booster(
    task: TreeTask,
    settings: &TreeSettings,
    iteration_limit: usize,
) -> PerpetualBooster {
    let objective = match task {
        TreeTask::Regression => Objective::SquaredLoss,
        TreeTask::Classification => Objective::LogLoss,
    };
    PerpetualBooster::default()
        .set_objective(objective)
        .set_budget(settings.budget)
        .set_seed(settings.seed)
        .set_num_threads(Some(1))
        .set_memory_limit(Some(settings.memory_limit_gb))
        .set_iteration_limit(Some(iteration_limit))
        .set_missing_node_treatment(MissingNodeTreatment::AssignToParent)
        .set_reset(Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TreeSettings {
        TreeSettings {
            budget: 0.5,
            max_trees: 400,
            memory_limit_gb: 0.5,
            seed: 7,
        }
    }

    /// `rows` rows of two features; the class is 1 when x0 + x1 > 0, or with `turned` when
    /// x0 - x1 > 0 (the concept turned by 90 degrees: half the rows change class).
    fn toy(rows: usize, turned: bool, offset: usize) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in offset..offset + rows {
            let a = ((i * 37) % 101) as f32 / 50.0 - 1.0;
            let b = ((i * 59) % 97) as f32 / 48.0 - 1.0;
            x.extend([a, b]);
            let side = if turned { a - b } else { a + b };
            y.push(f32::from(u8::from(side > 0.0)));
        }
        (x, y)
    }

    fn accuracy(forest: &Forest, x: &[f32], y: &[f32]) -> f64 {
        let out = forest.outputs(Rows::new(x, 2));
        let right = out
            .chunks(2)
            .zip(y)
            .filter(|(o, t)| f32::from(u8::from(o[1] > o[0])) == **t)
            .count();
        right as f64 / y.len() as f64
    }

    #[test]
    fn a_fit_learns_the_concept_and_repeats_bit_for_bit() {
        let (x, y) = toy(600, false, 0);
        let a = Forest::fit(
            TreeTask::Classification,
            2,
            Rows::new(&x, 2),
            &y,
            &settings(),
        )
        .unwrap();
        let b = Forest::fit(
            TreeTask::Classification,
            2,
            Rows::new(&x, 2),
            &y,
            &settings(),
        )
        .unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let (tx, ty) = toy(300, false, 5000);
        assert!(accuracy(&a, &tx, &ty) > 0.9, "{}", accuracy(&a, &tx, &ty));
    }

    #[test]
    fn continuing_adds_trees_and_follows_the_new_concept() {
        let (x, y) = toy(600, false, 0);
        let first = Forest::fit(
            TreeTask::Classification,
            2,
            Rows::new(&x, 2),
            &y,
            &settings(),
        )
        .unwrap();
        let (x2, y2) = toy(600, true, 600);
        let next = first
            .continued(2, Rows::new(&x2, 2), &y2, &settings())
            .unwrap();
        assert!(next.size().trees > first.size().trees);
        // The first fit's booster is kept; the continuation added up to NEWTON_STAGES.
        let boosters = next.size().boosters;
        assert!((2..=1 + NEWTON_STAGES).contains(&boosters), "{boosters}");
        assert_eq!(next.outputs[0].stages[0].trees.len(), first.size().trees);
        // Each continuation follows the turned concept further (its steps are shrunk, so a
        // concept that turned half its rows takes a few windows).
        let (tx, ty) = toy(300, true, 5000);
        let mut scores = vec![accuracy(&first, &tx, &ty), accuracy(&next, &tx, &ty)];
        let mut model = next;
        for w in 2..4 {
            let (x, y) = toy(600, true, 600 * w);
            model = model
                .continued(2, Rows::new(&x, 2), &y, &settings())
                .unwrap();
            scores.push(accuracy(&model, &tx, &ty));
        }
        assert!(scores.windows(2).all(|s| s[1] > s[0]), "{scores:?}");
        assert!(scores[0] < 0.6 && scores[3] > 0.8, "{scores:?}");
    }

    #[test]
    fn a_stage_far_outside_its_targets_is_refused() {
        let work = [0.5, -2.0, 1.0];
        assert!(within_targets(&[0.4, -1.9, 1.2], &work));
        assert!(within_targets(&[8.9, 0.0, 0.0], &work));
        assert!(!within_targets(&[4.0e17, 0.0, 0.0], &work));
        assert!(!within_targets(&[f64::NAN, 0.0, 0.0], &work));
    }

    #[test]
    fn the_tree_cap_bounds_a_booster() {
        let cap = TreeSettings {
            max_trees: 5,
            ..settings()
        };
        let (x, y) = toy(400, false, 0);
        let mut forest =
            Forest::fit(TreeTask::Classification, 2, Rows::new(&x, 2), &y, &cap).unwrap();
        for w in 1..6 {
            let (x, y) = toy(400, w % 2 == 1, 400 * w);
            forest = forest.continued(2, Rows::new(&x, 2), &y, &cap).unwrap();
            assert!(forest.size().trees <= 5, "{:?}", forest.size());
        }
    }

    #[test]
    fn regression_bytes_round_trip_to_the_same_outputs() {
        let (x, _) = toy(300, false, 0);
        let y: Vec<f32> = x.chunks(2).map(|r| 2.0 * r[0] - r[1]).collect();
        let forest =
            Forest::fit(TreeTask::Regression, 1, Rows::new(&x, 2), &y, &settings()).unwrap();
        let back = Forest::from_bytes(&forest.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), forest.to_bytes());
        assert_eq!(
            back.outputs(Rows::new(&x, 2)),
            forest.outputs(Rows::new(&x, 2))
        );
    }

    #[test]
    fn a_third_class_adds_outputs_and_a_class_never_seen_is_a_constant() {
        let (x, y) = toy(300, false, 0);
        let forest = Forest::fit(
            TreeTask::Classification,
            2,
            Rows::new(&x, 2),
            &y,
            &settings(),
        )
        .unwrap();
        let three = y
            .iter()
            .map(|&c| if c == 1.0 { 1.0 } else { 0.0 })
            .collect::<Vec<_>>();
        let grown = forest
            .continued(3, Rows::new(&x, 2), &three, &settings())
            .unwrap();
        assert_eq!(grown.width(), 3);
        assert_eq!(grown.outputs(Rows::new(&x, 2)).len(), 3 * 300);
        // Class 2 has no row yet: its output is a constant below every other.
        assert!(grown.outputs[2].stages.is_empty() && grown.outputs[2].constant < 0.0);
    }

    #[test]
    fn bad_targets_are_refused() {
        let (x, _) = toy(10, false, 0);
        let err = Forest::fit(
            TreeTask::Classification,
            2,
            Rows::new(&x, 2),
            &[3.0; 10],
            &settings(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("class index 3"), "{err}");
        let err = Forest::fit(
            TreeTask::Regression,
            1,
            Rows::new(&x, 2),
            &[1.0; 3],
            &settings(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("3 targets for 10 rows"), "{err}");
    }
}
