//! What a new run is refused for before its lock is taken, so that bad input changes
//! nothing: a name that is a tag, a model too large for memory, a `model.init` that does not
//! fit the stream, a frozen output layer that new classes would need.

use relearn_data::{Preprocessor, StreamInfo, human_bytes, physical_memory};
use relearn_model::MlpConfig;
use relearn_spec::RunSpec;
use relearn_store::Store;

use crate::TrainError;

/// The model a run trains on `info`'s stream (its initial classes).
pub(super) fn model_config(spec: &RunSpec, info: &StreamInfo) -> MlpConfig {
    MlpConfig::new(info.n_inputs(), spec.model.hidden.clone(), info.n_outputs())
        .with_activation(spec.model.activation)
        .with_dropout(spec.model.dropout)
}

/// The output layer of a classifier must not be frozen (`train.freeze`) when classes
/// appear after the initial windows: each new class gets an output that no update could
/// ever train. Checked for a new run, before its lock is taken.
pub(super) fn check_frozen_outputs(
    spec: &RunSpec,
    info: &StreamInfo,
    mlp: &MlpConfig,
) -> Result<(), TrainError> {
    let output = mlp.widths().len().saturating_sub(2);
    if info.later_classes.is_empty() || !spec.train.freeze.contains(&output) {
        return Ok(());
    }
    Err(TrainError::Usage(format!(
        "`train.freeze` holds {output}, the output layer, but {} has classes first seen after \
         the initial windows ([{}]): the output each of them gets could never be trained, and \
         the model would never predict them. Leave layer {output} out of `train.freeze`, or \
         remove those rows from the data",
        csv_path(spec),
        info.later_classes.join(", ")
    )))
}

/// A relearn export's preprocessing, with the spellings of a missing cell taken from the
/// run's `data.missing` (`info.missing`): the run reads its data with them, so `eval` and
/// `predict` must read the same rows with them too. The export's own list described the
/// data of the run it came from. (A preprocessing without encoders reads the default
/// spellings, as a run's own would for the same stream.)
pub(super) fn adopt_missing(mut pre: Preprocessor, info: &StreamInfo) -> Preprocessor {
    if let Some(encoders) = pre.encoders.as_mut() {
        encoders.missing = info.missing.clone();
    }
    pre
}

/// A `model.init` model must fit the stream: as many inputs as features, as many outputs as
/// classes (1 for regression), and a relearn export's features and classes. Checked before
/// the run's lock is taken: bad input changes nothing.
pub(super) fn check_import_fits(spec: &RunSpec, info: &StreamInfo) -> Result<(), TrainError> {
    let Some(init) = &spec.model.init else {
        return Ok(());
    };
    let model = &init.model;
    let last = model.weights.layers.len() - 1;
    let (inputs, outputs) = (
        model.weights.layers[0].d_input,
        model.weights.layers[last].d_output,
    );
    let file = init.path.display();
    if inputs != info.n_inputs() {
        return Err(TrainError::Usage(format!(
            "`model.init` {file}: the model's input width is {inputs} ({}), but the data gives {} inputs (numeric features [{}]{}); choose the feature columns the model was trained on (`data.features`, in its order)",
            model.describe_layer(0),
            info.n_inputs(),
            info.feature_names.join(", "),
            if info.n_inputs() == info.n_features() {
                String::new()
            } else {
                ", their missing indicators and the categorical columns' inputs".to_string()
            }
        )));
    }
    if outputs != info.n_outputs() {
        let wanted = match info.task {
            relearn_data::Task::Classification => format!(
                "the data has {} classes [{}] (one output per class, in this order)",
                info.n_outputs(),
                info.classes.join(", ")
            ),
            relearn_data::Task::Regression => "a regression model has 1 output".to_string(),
        };
        return Err(TrainError::Usage(format!(
            "`model.init` {file}: the model's output width is {outputs} ({}), but {wanted}",
            model.describe_layer(last)
        )));
    }
    if let Some(pre) = &model.preprocessor {
        pre.check_compatible(info).map_err(|e| {
            TrainError::Usage(format!("`model.init` {file} is a relearn export, but {e}"))
        })?;
    }
    Ok(())
}

/// The CSV file a run reads, for messages.
pub(super) fn csv_path(spec: &RunSpec) -> String {
    match &spec.source {
        relearn_data::StreamSource::Csv(csv) => csv.path.display().to_string(),
        relearn_data::StreamSource::Generator(g) => format!("generator {}", g.kind.name()),
    }
}

/// A new run's name must not hide or be hidden by another REF: REF syntax resolves a tag
/// before a run, so a run named like an existing tag would be unreachable by name.
pub(super) fn check_new_run_name(spec: &RunSpec, store: &Store) -> Result<(), TrainError> {
    if let Some(id) = store.tags()?.get(&spec.name) {
        return Err(TrainError::Usage(format!(
            "`run.name = \"{}\"` is already a tag in {} (it names checkpoint {id:.12}); REF \
             syntax resolves tags before runs, so the run could not be named in `show`, \
             `export` or `predict`. Choose another `run.name`",
            spec.name,
            store.root().display()
        )));
    }
    Ok(())
}

/// Bytes a float of the model takes while it trains: the weights, their gradients, Adam's
/// two moments and the updated copy.
pub(super) const TRAINING_COPIES: u128 = 5 * 4;

/// Refuses, before anything is allocated, a model whose training state would not fit in
/// this machine's memory (an allocation that large aborts the process).
pub(super) fn check_model_fits(spec: &RunSpec, mlp: &MlpConfig) -> Result<(), TrainError> {
    let widths = mlp.widths();
    let params: u128 = widths
        .windows(2)
        .map(|w| (w[0] as u128 + 1) * w[1] as u128)
        .sum();
    let widest = widths.iter().copied().max().unwrap_or(0) as u128;
    let activations = 3 * 4 * widest * widths.len() as u128 * spec.train.batch_size as u128;
    let needed = params * TRAINING_COPIES + activations;
    let Some(memory) = physical_memory() else {
        return Ok(());
    };
    if needed <= memory as u128 {
        return Ok(());
    }
    Err(TrainError::Usage(format!(
        "`model.hidden = {:?}` needs about {} to train ({params} parameters, each with its \
         gradient, Adam's two moments and an update copy), more than this machine's {} of \
         memory. Use smaller hidden layers",
        spec.model.hidden,
        human_bytes(needed),
        human_bytes(memory as u128)
    )))
}
