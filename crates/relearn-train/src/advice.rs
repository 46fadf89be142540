//! What to tell a user whose training diverged or whose model's score is not finite: the
//! data's scale, when it is extreme, is the cause whatever the learning rate.

use relearn_data::Batch;
use relearn_spec::RunSpec;

/// Inputs (after scaling) or regression targets this far from 0 make an MLP's loss overflow
/// or its gradients explode, whatever the learning rate.
const EXTREME: f32 = 1e4;

/// What to tell the user when `data` (scaled as the model sees it) holds extreme values,
/// `None` when it does not.
pub fn data_scale_advice(spec: &RunSpec, data: &Batch, task: relearn_data::Task) -> Option<String> {
    let largest = |values: &[f32]| {
        values
            .iter()
            .map(|v| {
                if v.is_finite() {
                    v.abs()
                } else {
                    f32::INFINITY
                }
            })
            .fold(0.0f32, f32::max)
    };
    let size = |v: f32| match v.is_finite() {
        true => format!("{v:e}"),
        false => "beyond f32's range".to_string(),
    };
    let feature = largest(&data.features);
    if feature > EXTREME {
        return Some(format!(
            "The cause is the data's scale, not the learning rate: the model sees inputs as large as \
             {} (with `data.scaling = \"{}\"`). Look for huge values in the feature columns \
             (a marker such as 3e38 or 9999999 standing for a missing value), remove or replace them, \
             or scale the inputs (`data.scaling = \"initial\"`)",
            size(feature),
            spec.scaling.name()
        ));
    }
    let target = largest(&data.targets);
    if task == relearn_data::Task::Regression && target > EXTREME {
        return Some(format!(
            "The cause is the data's scale, not the learning rate: regression targets reach {} \
             as the model sees them (relearn standardises them unless `data.scaling = \"none\"`, \
             so a value this far out is an outlier of the window or a marker value). Look for \
             such values in the target column, or set `data.scaling`",
            size(target)
        ));
    }
    None
}
