//! The words of a config and a command line: update policies (`run.mode`, `compare
//! --policies`), anchors (`stateful.anchor`), replay sampling (`policy.replay.sampling`),
//! drift detectors (`policy.drift.detector`) and warm starts (`stateless.init`), each with its
//! spelling, its parser and the list of spellings that error messages show.
//!
//! [`Vocabulary`] gives every closed set of spellings a config accepts (these and the
//! enums of other crates: activations, backends, trainers, scalings, tasks, column kinds) one
//! parser and one "expected ..." list, derived from the enum's `ALL`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a run updates its model when a window arrives: the update policy (`run.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Load the latest checkpoint (weights, optimizer, preprocessing) and fine-tune it on the
    /// new window only. Models form a chain; no past data is kept.
    Stateful,
    /// Fresh weights, trained from scratch on a sample of the initial data plus the most
    /// recent windows. Models form a star rooted at the initial model.
    Stateless,
    /// Stateful fine-tuning on the new window mixed with a bounded reservoir of past samples
    /// (`policy.replay`), kept as a checkpoint part. A chain.
    Replay,
    /// Stateful fine-tuning, except that when a drift detector on the serving model's
    /// prequential loss fires (`policy.drift`), the update retrains fresh weights on the
    /// recent windows (`relation = "reset"`). A chain with resets.
    Drift,
}

impl Mode {
    /// Every policy, in the order the docs list them.
    pub const ALL: [Mode; 4] = [Mode::Stateless, Mode::Stateful, Mode::Replay, Mode::Drift];

    /// The two policies `compare` runs by default: the book's two modes.
    pub const BOOK: [Mode; 2] = [Mode::Stateless, Mode::Stateful];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Stateful => "stateful",
            Mode::Stateless => "stateless",
            Mode::Replay => "replay",
            Mode::Drift => "drift",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The spellings, for messages: `"stateless", "stateful", "replay" or "drift"`.
    pub fn expected() -> String {
        <Mode as Vocabulary>::spellings()
    }

    /// Whether updates start from the serving checkpoint's weights and optimizer (every
    /// policy but stateless).
    pub fn fine_tunes(self) -> bool {
        self != Mode::Stateless
    }
}

/// Policy names on the command line (`--policies stateless,replay`): the config spellings,
/// in the order of [`Mode::ALL`].
#[cfg(feature = "clap")]
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Policies as `compare --policies` names them (issue 14 B): a mode, optionally with an anchor.

/// A policy `compare` can run: a mode with the config's `stateful.anchor` (`stateful`), or a
/// fine-tuning mode with another anchor (`stateful+ewc`, `replay+l2-init`, `drift+none`), of
/// the MLP; or a mode of the tree family (`gbdt-stateful`, `compare --models gbdt`). Its
/// run is `NAME-<mode>`, `NAME-<mode>-<anchor>` or `NAME-gbdt-<mode>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// The update policy.
    pub mode: Mode,
    /// The anchor of its fine-tunes; `None`: the config's `stateful.anchor`.
    pub anchor: Option<AnchorKind>,
    /// The model family it updates.
    pub family: ModelKind,
}

impl Policy {
    /// Every policy `compare` accepts: the plain modes (in [`Mode::ALL`]'s order); then each
    /// fine-tuning mode with each anchor but the default (`stateful+l2-init`, `stateful+ewc`,
    /// `replay+l2-init`, ...); then each with the default spelled out (`stateful+none`, ...).
    /// Derived from the two lists, so a new mode or anchor is in it.
    pub fn all() -> &'static [Policy] {
        static ALL: std::sync::LazyLock<Vec<Policy>> = std::sync::LazyLock::new(|| {
            let tuning = || Mode::ALL.into_iter().filter(|m| m.fine_tunes());
            let with = |mode, anchor| Policy {
                mode,
                anchor: Some(anchor),
                family: ModelKind::Mlp,
            };
            let plain = Mode::ALL.map(Policy::from);
            // Trees have no anchors: the tree family's plain modes only.
            let trees = Mode::ALL.map(|mode| Policy {
                mode,
                anchor: None,
                family: ModelKind::Gbdt,
            });
            let anchored = tuning().flat_map(|mode| {
                AnchorKind::ALL
                    .into_iter()
                    .filter(|&a| a != AnchorKind::default())
                    .map(move |anchor| with(mode, anchor))
            });
            let spelled_default = tuning().map(|mode| with(mode, AnchorKind::default()));
            plain
                .into_iter()
                .chain(anchored)
                .chain(spelled_default)
                .chain(trees)
                .collect()
        });
        &ALL
    }

    /// `stateless`, as the config sets it.
    pub const STATELESS: Policy = Policy {
        mode: Mode::Stateless,
        anchor: None,
        family: ModelKind::Mlp,
    };
    /// `stateful`, as the config sets it.
    pub const STATEFUL: Policy = Policy {
        mode: Mode::Stateful,
        anchor: None,
        family: ModelKind::Mlp,
    };
    /// The book's two modes.
    pub const BOOK: [Policy; 2] = [Policy::STATELESS, Policy::STATEFUL];

    /// The spelling: `stateful`, `stateful+ewc` (the mode's, `+`, the anchor's),
    /// `gbdt-stateful` (the tree family's).
    pub fn name(self) -> &'static str {
        static NAMES: std::sync::LazyLock<Vec<(Policy, &'static str)>> =
            std::sync::LazyLock::new(|| {
                Policy::all()
                    .iter()
                    .filter_map(|&p| {
                        let name = match (p.family, p.anchor) {
                            (ModelKind::Gbdt, _) => format!("gbdt-{}", p.mode.name()),
                            (ModelKind::Mlp, Some(anchor)) => {
                                format!("{}+{}", p.mode.name(), anchor.name())
                            }
                            (ModelKind::Mlp, None) => return None,
                        };
                        Some((p, &*Box::leak(name.into_boxed_str())))
                    })
                    .collect()
            });
        match (self.family, self.anchor) {
            (ModelKind::Mlp, None) => self.mode.name(),
            (ModelKind::Mlp, Some(_)) if !self.mode.fine_tunes() => self.mode.name(),
            _ => NAMES
                .iter()
                .find(|(p, _)| *p == self)
                .map(|(_, name)| *name)
                .expect("every anchored or tree policy is in Policy::all()"),
        }
    }

    /// The same policy for `family` (the tree family has no anchors).
    pub fn for_family(self, family: ModelKind) -> Policy {
        Policy {
            family,
            anchor: self.anchor.filter(|_| family == ModelKind::Mlp),
            ..self
        }
    }

    /// Its run's suffix: the name with `-` for `+` (`stateful-ewc`).
    pub fn run_suffix(self) -> String {
        self.name().replace('+', "-")
    }

    /// Parses [`Policy::name`].
    pub fn parse(name: &str) -> Option<Policy> {
        Policy::all().iter().copied().find(|p| p.name() == name)
    }
}

impl From<Mode> for Policy {
    fn from(mode: Mode) -> Policy {
        Policy {
            mode,
            anchor: None,
            family: ModelKind::Mlp,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for Policy {
    fn value_variants<'a>() -> &'a [Self] {
        Policy::all()
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for ModelKind {
    fn value_variants<'a>() -> &'a [Self] {
        &ModelKind::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// Which anchor a fine-tune uses (`stateful.anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorKind {
    /// No penalty (the default): fine-tuning as before anchors existed.
    #[default]
    None,
    /// Toward the run's initial checkpoint's weights.
    L2Init,
    /// Toward the previous checkpoint's weights, weighted by its diagonal Fisher.
    Ewc,
}

impl AnchorKind {
    /// Every kind, in the docs' order.
    pub const ALL: [AnchorKind; 3] = [AnchorKind::None, AnchorKind::L2Init, AnchorKind::Ewc];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            AnchorKind::None => "none",
            AnchorKind::L2Init => "l2-init",
            AnchorKind::Ewc => "ewc",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<AnchorKind> {
        AnchorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How a full reservoir chooses what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Every new sample replaces a random kept one: the kept samples' ages are roughly
    /// exponential with a mean of `capacity` samples.
    Recent,
    /// Every sample seen so far is kept with the same probability (Algorithm R).
    Uniform,
}

impl Sampling {
    /// Every way, in the docs' order.
    pub const ALL: [Sampling; 2] = [Sampling::Recent, Sampling::Uniform];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Sampling::Recent => "recent",
            Sampling::Uniform => "uniform",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Sampling> {
        Sampling::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Which drift detector watches the serving model's loss (`policy.drift.detector`); its
/// parameters are [`crate::DetectorSpec`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// Page-Hinkley (the default).
    PageHinkley,
    /// ADWIN.
    Adwin,
}

impl DetectorKind {
    /// Every detector, in the docs' order.
    pub const ALL: [DetectorKind; 2] = [DetectorKind::PageHinkley, DetectorKind::Adwin];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::PageHinkley => "page-hinkley",
            DetectorKind::Adwin => "adwin",
        }
    }
}

/// Where a stateless retraining's weights start (`stateless.init`); the parameters are
/// [`crate::StatelessInit`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatelessInitKind {
    /// Fresh weights (the default).
    Fresh,
    /// Shrink-and-perturb of the serving checkpoint's weights.
    ShrinkPerturb,
}

impl StatelessInitKind {
    /// Every kind, in the docs' order.
    pub const ALL: [StatelessInitKind; 2] =
        [StatelessInitKind::Fresh, StatelessInitKind::ShrinkPerturb];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            StatelessInitKind::Fresh => "fresh",
            StatelessInitKind::ShrinkPerturb => "shrink-perturb",
        }
    }
}

/// The model family a run trains (`model.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A multi-layer perceptron on Burn (`[model]`, `[train]`).
    #[default]
    Mlp,
    /// Gradient-boosted trees (PerpetualBooster, `[gbdt]`): retrained from scratch, or
    /// continued by adding trees fitted on the new window only.
    Gbdt,
}

impl ModelKind {
    /// Every family, in the docs' order.
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Gbdt];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Gbdt => "gbdt",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it is the MLP (left out of fingerprints and records, so that MLP runs keep
    /// their ids).
    pub fn is_mlp(&self) -> bool {
        *self == ModelKind::Mlp
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A closed set of config spellings: every value of an enum a key names (`run.mode`,
/// `model.activation`, `data.scaling`, ...), with its parser and the list of spellings that
/// "expected ..." messages show, so that a new variant is accepted and listed at once.
pub trait Vocabulary: Copy + 'static {
    /// Every value, in the order messages list them (the enum's `ALL`).
    const WORDS: &'static [Self];

    /// The config spelling (the enum's `name`).
    fn spelling(self) -> &'static str;

    /// Parses a config spelling.
    fn from_spelling(written: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .copied()
            .find(|w| w.spelling() == written)
    }

    /// Every spelling, for messages: `"a", "b" or "c"`.
    fn spellings() -> String {
        alternatives(Self::WORDS.iter().map(|w| w.spelling()))
    }
}

/// Implements [`Vocabulary`] from an enum's `ALL` and `name`.
macro_rules! vocabulary {
    ($($word:ty),* $(,)?) => {$(
        impl Vocabulary for $word {
            const WORDS: &'static [Self] = &<$word>::ALL;

            fn spelling(self) -> &'static str {
                self.name()
            }
        }
    )*};
}

vocabulary!(
    Mode,
    AnchorKind,
    Sampling,
    DetectorKind,
    StatelessInitKind,
    ModelKind,
    relearn_model::Activation,
    relearn_model::Backend,
    relearn_model::FitPath,
    relearn_data::Scaling,
    relearn_data::Task,
    relearn_data::ColumnKind,
);

/// `names` quoted and joined as alternatives: `"a", "b" or "c"` (`"a"` alone).
pub fn alternatives<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists the config's "expected ..." messages show, as they read when each was
    /// written by hand.
    #[test]
    fn every_vocabulary_lists_its_spellings_as_the_messages_did() {
        assert_eq!(
            Mode::expected(),
            r#""stateless", "stateful", "replay" or "drift""#
        );
        assert_eq!(AnchorKind::spellings(), r#""none", "l2-init" or "ewc""#);
        assert_eq!(Sampling::spellings(), r#""recent" or "uniform""#);
        assert_eq!(DetectorKind::spellings(), r#""page-hinkley" or "adwin""#);
        assert_eq!(
            StatelessInitKind::spellings(),
            r#""fresh" or "shrink-perturb""#
        );
        use relearn_data::{ColumnKind, Scaling, Task};
        use relearn_model::{Activation, Backend, FitPath};
        assert_eq!(Activation::spellings(), r#""relu", "gelu" or "tanh""#);
        assert_eq!(Backend::spellings(), r#""flex" or "ndarray""#);
        assert_eq!(FitPath::spellings(), r#""fused" or "autodiff""#);
        assert_eq!(Scaling::spellings(), r#""none", "initial" or "running""#);
        assert_eq!(Task::spellings(), r#""classification" or "regression""#);
        assert_eq!(
            ColumnKind::spellings(),
            r#""numeric", "categorical", "ignore" or "time""#
        );
    }

    /// Every spelling parses back to its word, for every vocabulary.
    #[test]
    fn every_spelling_parses_back() {
        fn round_trips<W: Vocabulary + PartialEq + std::fmt::Debug>() {
            for &w in W::WORDS {
                assert_eq!(W::from_spelling(w.spelling()), Some(w));
            }
            assert_eq!(W::from_spelling("no-such-word"), None);
        }
        round_trips::<Mode>();
        round_trips::<AnchorKind>();
        round_trips::<Sampling>();
        round_trips::<DetectorKind>();
        round_trips::<StatelessInitKind>();
        round_trips::<ModelKind>();
        round_trips::<relearn_model::Activation>();
        round_trips::<relearn_model::Backend>();
        round_trips::<relearn_model::FitPath>();
        round_trips::<relearn_data::Scaling>();
        round_trips::<relearn_data::Task>();
        round_trips::<relearn_data::ColumnKind>();
    }

    /// One, two and three names join as a message lists them.
    #[test]
    fn alternatives_join_with_commas_and_or() {
        assert_eq!(alternatives(["a"]), r#""a""#);
        assert_eq!(alternatives(["a", "b"]), r#""a" or "b""#);
        assert_eq!(alternatives(["a", "b", "c"]), r#""a", "b" or "c""#);
    }

    #[test]
    fn every_policy_is_listed_once_in_the_documented_order_and_parses_back() {
        let names: Vec<&str> = Policy::all().iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "stateless",
                "stateful",
                "replay",
                "drift",
                "stateful+l2-init",
                "stateful+ewc",
                "replay+l2-init",
                "replay+ewc",
                "drift+l2-init",
                "drift+ewc",
                "stateful+none",
                "replay+none",
                "drift+none",
                "gbdt-stateless",
                "gbdt-stateful",
                "gbdt-replay",
                "gbdt-drift",
            ]
        );
        for &p in Policy::all() {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse("stateless+ewc"), None);
    }
}
