//! Whole files through [`RunSpec::from_toml`]: defaults, messages with key and line, and
//! which settings change the fingerprint.

use std::path::{Path, PathBuf};

use relearn_data::{StreamSource, Task};
use relearn_model::{Backend, FitPath};

use super::valid_name;
use crate::defaults;
use crate::error::ConfigError;
use crate::spec::{DetectorSpec, RunSpec, StatelessInit};
use crate::vocab::{AnchorKind, Mode, Policy, Sampling};

fn parse(text: &str) -> Result<RunSpec, ConfigError> {
    RunSpec::from_toml(text, Path::new("/cfg/run.toml"))
}

const MINIMAL: &str = "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n";

#[test]
fn minimal_config_takes_documented_defaults() {
    let spec = parse(MINIMAL).unwrap();
    assert_eq!(spec.mode, Mode::Stateful);
    assert_eq!(spec.backend, Backend::Flex);
    assert_eq!(spec.store, PathBuf::from("checkpoints"));
    assert_eq!(spec.window_size, 1000);
    assert_eq!(spec.model.hidden, vec![64, 64]);
    assert_eq!(spec.stateless.recent_windows, 3);
    assert_eq!(spec.task(), Task::Classification);
    assert_eq!(spec.replay.samples, spec.window_size / 2);
    assert_eq!(spec.replay.sampling, Sampling::Recent);
    assert_eq!(spec.drift.recent_windows, 2);
    assert_eq!(
        spec.drift.detector,
        DetectorSpec::PageHinkley {
            delta: 0.05,
            threshold: 800.0,
            min_samples: 30
        }
    );
    assert_eq!(spec.gate, None);
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = parse(
        "[run]\nname = \"x\"\n[train]\nlr = 0.1\nlearning_rate = 0.1\n[data]\ngenerator=\"sea\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("learning_rate"), "{err}");
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn out_of_range_values_name_key_and_line() {
    let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[train]\nlr = -0.1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("run.toml:6: `train.lr`"), "{err}");
    let err = parse(
        "[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[stateless]\ninitial_fraction = 1.5\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(":6: `stateless.initial_fraction`"), "{err}");
}

#[test]
fn wrong_type_is_a_parse_error_with_line() {
    let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\n[window]\nsize = \"big\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 6"), "{err}");
}

#[test]
fn sources_are_exclusive_and_required() {
    let err = parse("[run]\nname = \"x\"\n").unwrap_err().to_string();
    assert!(err.contains("needs a source"), "{err}");
    let err = parse("[run]\nname = \"x\"\n[data]\ngenerator = \"sea\"\ncsv = \"a.csv\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be combined"), "{err}");
    let err = parse("[run]\nname = \"x\"\n[data]\ncsv = \"a.csv\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.target"), "{err}");
}

#[test]
fn csv_paths_resolve_against_the_config_folder() {
    let spec =
        parse("[run]\nname = \"e\"\n[data]\ncsv = \"data/e.csv\"\ntarget = \"class\"\n").unwrap();
    match spec.source {
        StreamSource::Csv(csv) => assert_eq!(csv.path, PathBuf::from("/cfg/data/e.csv")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_delimiter_is_checked_and_fingerprinted_only_when_not_the_default() {
    let csv = "[run]\nname = \"e\"\n[data]\ncsv = \"e.csv\"\ntarget = \"y\"\n";
    let plain = parse(csv).unwrap();
    let delimiter = |spec: &RunSpec| match &spec.source {
        StreamSource::Csv(c) => c.delimiter,
        other => panic!("{other:?}"),
    };
    assert_eq!(delimiter(&plain), b',');
    // Spelling out the default keeps the fingerprint (so ids stay); another changes it.
    let comma = parse(&format!("{csv}delimiter = \",\"\n")).unwrap();
    assert_eq!(comma.fingerprint(), plain.fingerprint());
    for (written, byte) in [
        ("\"\\t\"", b'\t'),
        ("\"tab\"", b'\t'),
        ("'\\t'", b'\t'),
        ("\";\"", b';'),
    ] {
        let spec = parse(&format!("{csv}delimiter = {written}\n")).unwrap();
        assert_eq!(delimiter(&spec), byte, "{written}");
        assert_ne!(spec.fingerprint(), plain.fingerprint(), "{written}");
    }
    for bad in ["\"ab\"", "\"x\"", "\"\"", "\" \"", "\"\\\"\""] {
        let err = parse(&format!("{csv}delimiter = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.toml:6: `data.delimiter`"), "{bad}: {err}");
    }
    let err = parse(&format!("{MINIMAL}delimiter = \";\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("applies to `data.csv` only"), "{err}");
    // data.task written or not: the same fingerprint, but the stream knows.
    let given = parse(&format!("{csv}task = \"classification\"\n")).unwrap();
    assert_eq!(given.fingerprint(), plain.fingerprint());
    let given_of = |spec: &RunSpec| match &spec.source {
        StreamSource::Csv(c) => c.task_given,
        other => panic!("{other:?}"),
    };
    assert!(given_of(&given) && !given_of(&plain));
}

#[test]
fn categorical_input_keys_are_bounded() {
    let csv = "[run]\nname = \"e\"\n[data]\ncsv = \"e.csv\"\ntarget = \"y\"\n";
    parse(&format!(
        "{csv}max_categories = 65536\nhash_buckets = 65536\n"
    ))
    .unwrap();
    for (key, value) in [
        ("max_categories", "65537"),
        ("max_categories", "1"),
        ("hash_buckets", "65537"),
    ] {
        let err = parse(&format!("{csv}{key} = {value}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("run.toml:6: `data.{key}`")), "{err}");
        assert!(err.contains("65536"), "{err}");
    }
}

#[test]
fn fingerprint_ignores_name_and_store_but_not_training_settings() {
    let a = parse(MINIMAL).unwrap();
    let b = parse("[run]\nname = \"other\"\nstore = \"elsewhere\"\n[data]\ngenerator = \"sea\"\n")
        .unwrap();
    let c = parse("[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[stateful]\nlr = 0.01\n")
        .unwrap();
    let d = parse(
        "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[stateless]\nrecent_windows = 5\n",
    )
    .unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_ne!(a.fingerprint(), c.fingerprint());
    // Stateless settings do not shape a stateful run.
    assert_eq!(a.fingerprint(), d.fingerprint());
    assert_ne!(
        a.clone().with_mode(Mode::Stateless).fingerprint(),
        a.fingerprint()
    );
}

#[test]
fn the_trainer_defaults_to_the_backend_s_and_only_a_change_is_fingerprinted() {
    let with = |run: &str| {
        parse(&format!(
            "[run]\nname = \"t\"\n{run}[data]\ngenerator = \"sea\"\n"
        ))
    };
    let flex = with("").unwrap();
    assert_eq!(flex.trainer, FitPath::Fused);
    assert_eq!(
        with("backend = \"ndarray\"\n").unwrap().trainer,
        FitPath::Autodiff
    );
    // Spelling out the default changes nothing; choosing the other trainer does.
    let explicit = with("trainer = \"fused\"\n").unwrap();
    assert_eq!(explicit.fingerprint(), flex.fingerprint());
    let autodiff = with("trainer = \"autodiff\"\n").unwrap();
    assert_eq!(autodiff.trainer, FitPath::Autodiff);
    assert_ne!(autodiff.fingerprint(), flex.fingerprint());
    let err = with("backend = \"ndarray\"\ntrainer = \"fused\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`run.trainer`") && err.contains("flex backend only"),
        "{err}"
    );
    let err = with("trainer = \"jit\"\n").unwrap_err().to_string();
    assert!(err.contains("\"fused\" or \"autodiff\""), "{err}");
}

#[test]
fn max_steps_caps_the_epochs_of_large_fresh_trainings_only() {
    let with = |table: &str| {
        parse(&format!(
            "[run]\nname = \"a\"\n[data]\ngenerator = \"sea\"\n{table}"
        ))
    };
    let plain = with("").unwrap();
    assert_eq!(plain.train.max_steps, defaults::TRAIN_MAX_STEPS);
    // 2,000 rows are 63 batches: 10 epochs are 630 steps, within 700.
    assert_eq!(plain.train.fresh_epochs(2000), 10);
    // 4,286 rows are 134 batches: 5 whole epochs fit in 700 steps.
    assert_eq!(plain.train.fresh_epochs(4286), 5);
    // A training set larger than the cap still gets one epoch.
    assert_eq!(plain.train.fresh_epochs(100_000), 1);
    let off = with("[train]\nmax_steps = 1000000\n").unwrap();
    assert_eq!(off.train.fresh_epochs(4286), 10);
    assert_ne!(off.fingerprint(), plain.fingerprint());
    assert_eq!(
        with("[train]\nmax_steps = 700\n").unwrap().fingerprint(),
        plain.fingerprint()
    );
    let err = with("[train]\nmax_steps = 100\n").unwrap_err().to_string();
    assert!(
        err.contains("train.max_steps") && err.contains("min_steps"),
        "{err}"
    );
}

#[test]
fn min_steps_adds_epochs_to_small_fresh_trainings_only() {
    let with = |table: &str| {
        parse(&format!(
            "[run]\nname = \"a\"\n[data]\ngenerator = \"sea\"\n{table}"
        ))
        .unwrap()
    };
    let plain = with("");
    let train = &plain.train;
    assert_eq!(train.min_steps, defaults::TRAIN_MIN_STEPS);
    // 500 rows are 16 batches of 32: 10 epochs are 160 steps, already enough.
    assert_eq!(train.fresh_epochs(500), 10);
    // 100 rows are 4 batches: 150 steps take 38 epochs; 1 row, 150 epochs.
    assert_eq!(train.fresh_epochs(100), 38);
    assert_eq!(train.fresh_epochs(1), 150);
    assert_eq!(train.fresh_epochs(0), 150);
    let off = with("[train]\nmin_steps = 0\n");
    assert_eq!(off.train.fresh_epochs(100), 10);
    // The default spelled out keeps the fingerprint; another value changes it.
    assert_eq!(
        with("[train]\nmin_steps = 150\n").fingerprint(),
        plain.fingerprint()
    );
    assert_ne!(off.fingerprint(), plain.fingerprint());
}

#[test]
fn anchor_strength_is_bounded() {
    let with = |strength: &str| {
        parse(&format!(
            "{MINIMAL}[stateful]\nanchor = \"ewc\"\nanchor_strength = {strength}\n"
        ))
    };
    assert_eq!(with("1e6").unwrap().stateful.anchor.strength, 1e6);
    for (strength, shown) in [
        ("1e300", "is 1e300;"),
        ("2e6", "is 2e6;"),
        ("-1.0", "is -1;"),
        ("0.0", "is 0;"),
        ("nan", "is NaN;"),
    ] {
        let err = with(strength).unwrap_err().to_string();
        assert!(
            err.contains("run.toml:7: `stateful.anchor_strength`"),
            "{err}"
        );
        assert!(err.contains(shown) && err.contains("at most 1e6"), "{err}");
    }
}

#[test]
fn default_anchor_and_init_keep_the_fingerprint_and_others_change_it() {
    let with = |table: &str, mode: &str| {
        parse(&format!(
            "[run]\nname = \"a\"\nmode = \"{mode}\"\n[data]\ngenerator = \"sea\"\n{table}"
        ))
        .unwrap()
    };
    let plain = with("", "stateful");
    let none = with(
        "[stateful]\nanchor = \"none\"\nanchor_strength = 3.0\n",
        "stateful",
    );
    assert_eq!(plain.fingerprint(), none.fingerprint());
    let ewc = with("[stateful]\nanchor = \"ewc\"\n", "stateful");
    assert_eq!(ewc.stateful.anchor.kind, AnchorKind::Ewc);
    assert_eq!(ewc.stateful.anchor.strength, defaults::ANCHOR_STRENGTH_EWC);
    assert_ne!(plain.fingerprint(), ewc.fingerprint());
    let l2 = with("[stateful]\nanchor = \"l2-init\"\n", "stateful");
    assert_ne!(l2.fingerprint(), ewc.fingerprint());
    // What `compare --policies stateful+ewc` runs is what the config would say.
    assert_eq!(
        plain.clone().with_anchor(AnchorKind::Ewc).fingerprint(),
        ewc.fingerprint()
    );
    let strong = with("[stateful]\nanchor_strength = 7.0\n", "stateful");
    assert_eq!(
        strong
            .with_anchor(AnchorKind::L2Init)
            .stateful
            .anchor
            .strength,
        7.0
    );
    // Stateless: the anchor does not shape it; its init does.
    let stateless = with("", "stateless");
    assert_eq!(
        stateless.fingerprint(),
        with("[stateful]\nanchor = \"ewc\"\n", "stateless").fingerprint()
    );
    assert_eq!(
        stateless.fingerprint(),
        with("[stateless]\ninit = \"fresh\"\n", "stateless").fingerprint()
    );
    let sp = with("[stateless]\ninit = \"shrink-perturb\"\n", "stateless");
    assert_eq!(
        sp.stateless.init,
        StatelessInit::ShrinkPerturb {
            shrink: defaults::SHRINK,
            perturb: defaults::PERTURB
        }
    );
    assert_ne!(stateless.fingerprint(), sp.fingerprint());
}

#[test]
fn policies_parse_and_name_their_runs() {
    for &p in Policy::all() {
        assert_eq!(Policy::parse(p.name()), Some(p));
        assert!(valid_name(&format!("x-{}", p.run_suffix())), "{p}");
    }
    assert_eq!(Policy::parse("stateful"), Some(Policy::STATEFUL));
    assert_eq!(
        Policy::parse("stateful+ewc").unwrap().run_suffix(),
        "stateful-ewc"
    );
    assert_eq!(Policy::parse("stateless+ewc"), None);
}

#[test]
fn freeze_and_lr_scale_are_checked_and_their_defaults_keep_the_fingerprint() {
    let with = |train: &str| {
        parse(&format!(
            "[run]\nname = \"sea\"\n[data]\ngenerator = \"sea\"\n[train]\n{train}"
        ))
    };
    let plain = parse(MINIMAL).unwrap();
    // Spelling out the defaults changes nothing, not even the fingerprint.
    let defaults = with("freeze = []\nlr_scale = [1.0, 1.0, 1.0]\n").unwrap();
    assert_eq!(defaults.fingerprint(), plain.fingerprint());
    assert_eq!(defaults.train, plain.train);
    let set = with("freeze = [2, 0, 0]\nlr_scale = [0.1, 1.0, 1.0]\n").unwrap();
    assert_eq!(set.train.freeze, vec![0, 2]);
    assert_ne!(set.fingerprint(), plain.fingerprint());
    assert_eq!(set.train.lr_scale, vec![0.1, 1.0, 1.0]);
    let err = with("lr_scale = [0.1, 1.0]\n").unwrap_err().to_string();
    assert!(
        err.contains(":6: `train.lr_scale`") && err.contains("3 linear layers"),
        "{err}"
    );
    let err = with("lr_scale = [0.0, 1.0, 1.0]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("train.freeze"), "{err}");
    let err = with("freeze = [3]\n").unwrap_err().to_string();
    assert!(err.contains("`train.freeze` names linear layer 3"), "{err}");
}

#[test]
fn time_windows_are_checked() {
    let csv = "[run]\nname = \"t\"\n[data]\ncsv = \"t.csv\"\ntarget = \"y\"\n";
    let spec = parse(&format!("{csv}time = \"ts\"\n[window]\nevery = \"1d\"\n")).unwrap();
    let StreamSource::Csv(src) = &spec.source else {
        panic!("a CSV source")
    };
    assert_eq!(src.time.as_deref(), Some("ts"));
    assert_eq!(src.every, Some(relearn_data::Every::Days(1)));
    // A row-window config keeps its fingerprint: the new keys are absent from it.
    let plain = parse(csv).unwrap();
    let timed = parse(&format!("{csv}time = \"ts\"\n")).unwrap();
    assert_ne!(plain.fingerprint(), timed.fingerprint());
    let plain_json = serde_json::to_string(&plain.source).unwrap();
    assert!(
        !plain_json.contains("time") && !plain_json.contains("every"),
        "{plain_json}"
    );
    for (text, key, says) in [
        (
            format!("{csv}[window]\nevery = \"1d\"\n"),
            "window.every",
            "needs `data.time",
        ),
        (
            format!("{csv}time = \"ts\"\n[window]\nevery = \"1d\"\nsize = 10\n"),
            "window.every",
            "cannot be combined with `window.size`",
        ),
        (
            format!("{csv}time = \"ts\"\n[window]\nevery = \"1w\"\n"),
            "window.every",
            "\"1w\"; expected a count and a unit",
        ),
        (
            format!("{csv}time = \"ts\"\n[window]\nevery = \"0d\"\n"),
            "window.every",
            "between 1 and 10000",
        ),
        (
            format!("{csv}time = \"y\"\n"),
            "data.time",
            "the target column",
        ),
        (
            "[run]\nname = \"t\"\n[data]\ngenerator = \"sea\"\ntime = \"ts\"\n".to_string(),
            "data.time",
            "applies to `data.csv` only",
        ),
        (
            "[run]\nname = \"t\"\n[data]\ngenerator = \"sea\"\n[window]\nevery = \"1d\"\n"
                .to_string(),
            "window.every",
            "generators have no dates",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{text}\n{err}");
        assert!(err.starts_with("/cfg/run.toml:"), "{err}");
    }
    let declared = parse(&format!("{csv}[data.columns]\nsignup = \"time\"\n")).unwrap();
    let StreamSource::Csv(src) = &declared.source else {
        panic!("a CSV source")
    };
    assert_eq!(src.columns["signup"], relearn_data::ColumnKind::Time);
}

#[test]
fn data_path_labels_and_label_delay_durations_are_checked() {
    let base = "[run]\nname = \"p\"\n[data]\npath = \"events\"\ntarget = \"y\"\ntime = \"ts\"\n";
    let spec = parse(&format!(
        "{base}id = \"event_id\"\nlabels = \"labels\"\n[window]\nevery = \"1d\"\nlabel_delay = \"36h\"\n"
    ))
    .unwrap();
    let StreamSource::Csv(src) = &spec.source else {
        panic!("a tabular source")
    };
    assert_eq!(src.path, PathBuf::from("/cfg/events"));
    assert_eq!(src.id.as_deref(), Some("event_id"));
    let labels = src.labels.as_ref().expect("labels");
    assert_eq!(labels.path, PathBuf::from("/cfg/labels"));
    assert_eq!(labels.wait, relearn_data::Every::Hours(36));
    // 36 hours with daily windows: scored as 2 windows of delay.
    assert_eq!(spec.label_delay, 2);
    // `data.csv` and `data.path` name the same thing, and give the same fingerprint.
    let old = parse("[run]\nname = \"p\"\n[data]\ncsv = \"events\"\ntarget = \"y\"\n").unwrap();
    let new = parse("[run]\nname = \"p\"\n[data]\npath = \"events\"\ntarget = \"y\"\n").unwrap();
    assert_eq!(old.fingerprint(), new.fingerprint());
    for (text, key, says) in [
        (
            format!("{base}csv = \"e.csv\"\n"),
            "data.path",
            "cannot be combined with `data.csv`",
        ),
        (
            format!("{base}labels = \"l\"\n[window]\nevery = \"1d\"\nlabel_delay = \"3d\"\n"),
            "data.labels",
            "needs `data.id",
        ),
        (
            format!("{base}id = \"i\"\nlabels = \"l\"\n[window]\nevery = \"1d\"\n"),
            "data.labels",
            "needs `window.label_delay` as a duration",
        ),
        (
            format!(
                "{base}id = \"i\"\nlabels = \"l\"\n[window]\nevery = \"1d\"\nlabel_delay = 2\n"
            ),
            "data.labels",
            "needs `window.label_delay` as a duration",
        ),
        (
            format!("{base}[window]\nlabel_delay = \"3d\"\n"),
            "window.label_delay",
            "a duration, which needs windows by time",
        ),
        (
            format!("{base}[window]\nevery = \"1d\"\nlabel_delay = \"1mo\"\n"),
            "window.label_delay",
            "give both in hours or days, or both in months",
        ),
        (
            format!("{base}[window]\nevery = \"1d\"\nlabel_delay = \"3 days\"\n"),
            "window.label_delay",
            "expected a count and a unit",
        ),
        (
            format!("{base}id = \"y\"\n"),
            "data.id",
            "also data.target or data.time",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{text}\n{err}");
    }
}
