//! `[model]`: the layers, activation and dropout, or the model file a run starts from
//! (`model.init`), whose widths, activation and scaling are then the run's.

use std::path::PathBuf;

use relearn_data::Scaling;

use super::Context;
use super::data::DataSettings;
use crate::defaults;
use crate::error::ConfigError;
use crate::raw::{RawGbdt, RawModel};
use crate::spec::{GbdtSpec, ModelInit, ModelSpec, StatefulSpec, StatelessInit};
use crate::vocab::{AnchorKind, ModelKind};

impl RawGbdt {
    /// Checks `[gbdt]` for a run of `kind`: its settings for the tree family, and nothing
    /// written for the MLP.
    pub(crate) fn check(
        self,
        cx: &Context,
        kind: ModelKind,
    ) -> Result<Option<GbdtSpec>, ConfigError> {
        if kind == ModelKind::Mlp {
            if self.is_written() {
                return Err(cx.invalid(
                    "gbdt",
                    "sets the tree family, but `model.kind` is \"mlp\"; set `model.kind = \"gbdt\"` or remove [gbdt]",
                ));
            }
            return Ok(None);
        }
        let budget = self.budget.unwrap_or(defaults::GBDT_BUDGET);
        if !(budget > 0.0 && budget <= 5.0) {
            return Err(cx.invalid("gbdt.budget", format!("is {budget}; must be in (0, 5] (relearn's default is 1.0; higher fits more trees)")));
        }
        let max_trees = self.max_trees.unwrap_or(defaults::GBDT_MAX_TREES);
        if max_trees == 0 {
            return Err(cx.invalid("gbdt.max_trees", "is 0; must be at least 1"));
        }
        let memory_limit = self.memory_limit.unwrap_or(defaults::GBDT_MEMORY_LIMIT);
        if !(0.01..=1024.0).contains(&memory_limit) {
            return Err(cx.invalid(
                "gbdt.memory_limit",
                format!("is {memory_limit}; must be in [0.01, 1024] GB"),
            ));
        }
        Ok(Some(GbdtSpec {
            budget,
            max_trees,
            memory_limit,
        }))
    }
}

/// The settings of the MLP's updates that trees have no use for: refused with
/// `model.kind = "gbdt"` rather than ignored.
pub(crate) fn check_tree_family(
    cx: &Context,
    kind: ModelKind,
    stateless: StatelessInit,
    stateful: &StatefulSpec,
) -> Result<(), ConfigError> {
    if kind != ModelKind::Gbdt {
        return Ok(());
    }
    if !stateless.is_fresh() {
        return Err(cx.invalid(
            "stateless.init",
            "shrinks and perturbs MLP weights, which trees do not have; remove it with `model.kind = \"gbdt\"`",
        ));
    }
    if stateful.anchor.kind != AnchorKind::None {
        return Err(cx.invalid(
            "stateful.anchor",
            "anchors MLP weights, which trees do not have; remove it with `model.kind = \"gbdt\"` (a continued tree model keeps its earlier trees as they are)",
        ));
    }
    Ok(())
}

impl RawModel {
    /// Checks the model, reading `model.init` if set; returns it with the scaling the run
    /// uses (the data's, or the imported model's).
    pub(crate) fn check(
        mut self,
        cx: &Context,
        data: &DataSettings,
    ) -> Result<(ModelSpec, Scaling), ConfigError> {
        let mut scaling = data.scaling;
        // Model import: the file is read here, so a bad file is a config error (exit 2,
        // before the store is touched); its widths are the model's.
        let init = match self.init.take() {
            None => None,
            Some(path) => Some(read_init(cx, cx.resolve(path))?),
        };
        if let Some(init) = &init {
            self.adopt_import_widths(cx, init)?;
            scaling = import_scaling(cx, init, data.scaling, data.scaling_written)?;
            self.adopt_import_activation(cx, init)?;
        }
        let hidden = self.hidden.unwrap_or_else(|| defaults::HIDDEN.to_vec());
        if hidden.contains(&0) || hidden.len() > 16 {
            return Err(cx.invalid(
                "model.hidden",
                "must list at most 16 layer widths, each at least 1",
            ));
        }
        let activation = cx
            .word("model.activation", self.activation.as_deref())?
            .unwrap_or(defaults::ACTIVATION);
        let dropout = self.dropout.unwrap_or(defaults::DROPOUT);
        if !(0.0..1.0).contains(&dropout) {
            return Err(cx.invalid("model.dropout", format!("is {dropout}; must be in [0, 1)")));
        }
        let kind = cx
            .word("model.kind", self.kind.as_deref())?
            .unwrap_or(defaults::MODEL_KIND);
        if !data.scaling_written && init.is_none() {
            scaling = defaults::scaling(kind);
        }
        if kind == ModelKind::Gbdt && init.is_some() {
            return Err(cx.invalid(
                "model.init",
                "imports an MLP, but `model.kind` is \"gbdt\"; remove `model.init` to train trees, or `model.kind` to fine-tune the imported MLP",
            ));
        }
        let model = ModelSpec {
            hidden,
            activation,
            dropout,
            init,
            kind,
            gbdt: None,
        };
        Ok((model, scaling))
    }

    /// Takes the imported model's hidden widths; a `model.hidden` written beside it must be
    /// the file's.
    fn adopt_import_widths(&mut self, cx: &Context, init: &ModelInit) -> Result<(), ConfigError> {
        let widths = init.model.weights.widths();
        if let Some(written) = &self.hidden {
            check_hidden_matches(cx, written, init)?;
        }
        self.hidden = Some(widths[1..widths.len() - 1].to_vec());
        Ok(())
    }

    /// Takes the imported model's activation, if it names one; a `model.activation` written
    /// beside it must be the file's.
    fn adopt_import_activation(
        &mut self,
        cx: &Context,
        init: &ModelInit,
    ) -> Result<(), ConfigError> {
        if let (Some(file), Some(written)) =
            (init.model.activation.as_deref(), self.activation.as_deref())
            && file != written
        {
            return Err(cx.invalid(
                "model.activation",
                format!(
                    "is {written:?} but {} was exported from a model with activation {file:?}; remove `model.activation` or set it to {file:?}",
                    init.file
                ),
            ));
        }
        if self.activation.is_none() {
            self.activation = init.model.activation.clone();
        }
        Ok(())
    }
}

/// `model.init`: reads and checks the file.
fn read_init(cx: &Context, path: PathBuf) -> Result<ModelInit, ConfigError> {
    let model =
        relearn_model::import::read(&path).map_err(|e| cx.invalid("model.init", e.to_string()))?;
    Ok(ModelInit {
        path,
        file: model.file_name.clone(),
        sha256: model.sha256.clone(),
        model: std::sync::Arc::new(model),
    })
}

/// A `model.hidden` written beside `model.init` must be the file's.
fn check_hidden_matches(
    cx: &Context,
    written: &[usize],
    init: &ModelInit,
) -> Result<(), ConfigError> {
    let model = &init.model;
    let layers = model.weights.layers.len();
    if written.len() + 1 != layers {
        return Err(cx.invalid(
            "model.hidden",
            format!(
                "is {written:?} ({} hidden layers) but {} holds {layers} linear layers ({} hidden, widths {:?}); remove `model.hidden` (the file's widths are used) or make it match",
                written.len(),
                init.file,
                layers - 1,
                model.weights.widths()
            ),
        ));
    }
    for (l, &width) in written.iter().enumerate() {
        let [out, input] = model.file_shape(l);
        if out != width {
            return Err(cx.invalid(
                "model.hidden",
                format!(
                    "says hidden layer {l} has {width} units, but in {} {} has {out}: expected shape [{width}, {input}], found [{out}, {input}]; remove `model.hidden` (the file's widths are used) or make it match",
                    init.file,
                    model.describe_layer(l)
                ),
            ));
        }
    }
    Ok(())
}

/// How an imported model sees its features: as its source did. A relearn export's own
/// scaling; a foreign model's inputs as they are (`data.scaling = "none"`).
fn import_scaling(
    cx: &Context,
    init: &ModelInit,
    scaling: Scaling,
    written: bool,
) -> Result<Scaling, ConfigError> {
    let file_mode = match &init.model.preprocessor {
        Some(pre) => pre.scaler.mode,
        None => Scaling::None,
    };
    if written && scaling != file_mode {
        let why = match &init.model.preprocessor {
            Some(_) => format!(
                "{} is a relearn export whose preprocessing scales features with mode {:?}, and the imported model keeps it",
                init.file,
                file_mode.name()
            ),
            None => format!(
                "{} carries no relearn preprocessing, so the model sees the features as they are in the data, as it did where it was trained (prepare the columns the way the model expects)",
                init.file
            ),
        };
        return Err(cx.invalid(
            "data.scaling",
            format!(
                "is {:?}, but {why}; remove `data.scaling` or set it to {:?}",
                scaling.name(),
                file_mode.name()
            ),
        ));
    }
    Ok(file_mode)
}
