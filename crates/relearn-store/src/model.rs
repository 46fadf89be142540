//! The checkpoint data types: drafts, manifests and the checkpoint id.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A checkpoint id: 64 lowercase hex digits, the sha256 of the checkpoint's identity content
/// (see [`Manifest::compute_id`]). In JSON it is the plain string; as a `&str` it is its hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckpointId(pub(crate) String);

impl CheckpointId {
    /// The id of these hex digits, if they are 64 lowercase hex digits.
    pub fn parse(hex: &str) -> Option<CheckpointId> {
        crate::fsutil::is_full_id(hex).then(|| CheckpointId(hex.to_string()))
    }

    /// Wraps a hash the store computed (64 lowercase hex digits).
    pub(crate) fn from_hash(hex: String) -> CheckpointId {
        CheckpointId(hex)
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for CheckpointId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CheckpointId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for CheckpointId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl PartialEq<str> for CheckpointId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CheckpointId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for CheckpointId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl From<CheckpointId> for String {
    fn from(id: CheckpointId) -> String {
        id.0
    }
}

/// The past data a run keeps after an update in order to make later updates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Retained {
    /// Number of samples kept.
    pub samples: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

/// The scores recorded with a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Metrics {
    /// The prequential score of the model that was serving before this checkpoint, on the
    /// window this checkpoint trained on, e.g. `{"accuracy": .., "loss": ..}` or
    /// `{"mse": .., "mae": ..}`. `None` for the initial model.
    pub prequential: Option<BTreeMap<String, f64>>,
    /// The final training loss of the update, if known.
    pub train_loss: Option<f64>,
}

/// A named part of a checkpoint, stored as an object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRef {
    /// The object's sha256, 64 lowercase hex digits.
    pub object: String,
    /// The object's size in bytes.
    pub bytes: u64,
}

/// How a checkpoint came from its parent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// The initial model: no parent.
    Initial,
    /// A stateful update: the parent's weights fine-tuned on one window.
    FineTuned,
    /// A stateless update: fresh weights; the parent is the initial model.
    Retrained,
    /// A drift policy's update after its detector fired: fresh weights trained on the recent
    /// windows only; the parent is the checkpoint it replaces (the run stays a chain, and the
    /// reset marks where it stopped inheriting weights).
    Reset,
    /// An initial checkpoint brought from outside the run (`model.init`): a model file's
    /// weights, not trained by this run. No parent; `extra.import` names the file and its
    /// sha256.
    Imported,
}

impl Relation {
    /// The name used in JSON: "initial", "fine-tuned", "retrained", "reset" or "imported".
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Initial => "initial",
            Relation::FineTuned => "fine-tuned",
            Relation::Retrained => "retrained",
            Relation::Reset => "reset",
            Relation::Imported => "imported",
        }
    }

    /// Whether a checkpoint of this relation starts a run (no parent): `initial` or
    /// `imported`.
    pub fn is_root(self) -> bool {
        matches!(self, Relation::Initial | Relation::Imported)
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where [`crate::Store::commit_to`] publishes a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish<'a> {
    /// Move the run's ref to it: it becomes the run's head (what [`crate::Store::commit`]
    /// does).
    RunHead,
    /// Leave the run's ref alone and point this tag at it.
    Tag(&'a str),
}

/// One recorded move of a run's ref (`logs/<run>`, a JSON object per line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefMove {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Why, e.g. "rollback".
    pub action: String,
    /// The head before the move (`None` if the run had none).
    pub from: Option<CheckpointId>,
    /// The head after it.
    pub to: CheckpointId,
}

/// The data a checkpoint was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct TrainedOn {
    /// Indices of the windows in the training set.
    pub windows: Vec<u64>,
    /// Number of samples in the training set.
    pub samples: u64,
}

/// What the trainer hands to [`crate::Store::commit`]: everything a checkpoint records except
/// its id, creation time and tags, plus the bytes of its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointDraft {
    /// The run this checkpoint belongs to.
    pub run: String,
    /// The update policy that made it: "stateless", "stateful", "replay" or "drift" (the
    /// store records it and does not interpret it).
    pub mode: String,
    /// The window this checkpoint was trained on (the last initial window for the initial
    /// model).
    pub window: u64,
    /// The parent checkpoint (see [`Relation`]).
    pub parent: Option<CheckpointId>,
    /// How this checkpoint came from its parent.
    pub relation: Relation,
    /// The checkpoint that was serving before this one.
    pub replaces: Option<CheckpointId>,
    /// Distinct samples in the update's training set.
    pub samples_trained: u64,
    /// Rows of the checkpoint's window(s) skipped because their target was missing.
    pub samples_skipped: u64,
    /// Past data kept after this update.
    pub retained: Retained,
    /// Scores.
    pub metrics: Metrics,
    /// Wall time of the update's training alone. Not part of the id.
    pub train_seconds: f64,
    /// A fingerprint of the configuration that produced this checkpoint.
    pub config_fingerprint: String,
    /// The training set.
    pub trained_on: TrainedOn,
    /// Free-form extra information (model shape, task, ...); part of the id. Use
    /// `Value::Null` if none.
    pub extra: serde_json::Value,
    /// Named blobs, e.g. `("model", bytes)`, `("optimizer", bytes)`, `("preprocessor", bytes)`.
    pub parts: Vec<(String, Vec<u8>)>,
}

/// A checkpoint as stored in `manifests/<id>.json`, plus its tags.
///
/// Serializing a `Manifest` gives the checkpoint JSON of the SPEC (with `tags`) followed by
/// the store's own fields. The manifest file itself does not hold `tags` (they live in
/// `refs/tags/` and are filled in when a manifest is read).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The checkpoint id, see [`Manifest::compute_id`].
    pub id: CheckpointId,
    /// The run.
    pub run: String,
    /// The update policy that made it: "stateless", "stateful", "replay" or "drift" (the
    /// store records it and does not interpret it).
    pub mode: String,
    /// The window this checkpoint was trained on.
    pub window: u64,
    /// The parent checkpoint.
    pub parent: Option<CheckpointId>,
    /// How this checkpoint came from its parent.
    pub relation: Relation,
    /// The checkpoint that was serving before this one.
    pub replaces: Option<CheckpointId>,
    /// Distinct samples in the update's training set.
    pub samples_trained: u64,
    /// Rows of the checkpoint's window(s) skipped because their target was missing (0 in
    /// manifests that do not record it).
    #[serde(default)]
    pub samples_skipped: u64,
    /// Past data kept after this update.
    pub retained: Retained,
    /// Scores.
    pub metrics: Metrics,
    /// Wall time of the update's training alone.
    pub train_seconds: f64,
    /// When the checkpoint was committed, RFC 3339 UTC with milliseconds,
    /// e.g. `2026-11-27T14:03:12.345Z`.
    pub created_at: String,
    /// Tags pointing at this checkpoint, sorted (not stored in the manifest file).
    #[serde(default)]
    pub tags: Vec<String>,
    /// A fingerprint of the configuration that produced this checkpoint.
    pub config_fingerprint: String,
    /// The training set.
    pub trained_on: TrainedOn,
    /// Free-form extra information.
    #[serde(default)]
    pub extra: serde_json::Value,
    /// The checkpoint's parts by name.
    pub parts: BTreeMap<String, PartRef>,
    /// The sha256 of the manifest file's other bytes (see [`Manifest::file_checksum`]), as
    /// read from the file; `None` in manifests written before checksums existed. Not part
    /// of the checkpoint JSON that `show` and `log` print.
    #[serde(default, skip_serializing)]
    pub checksum: Option<String>,
}

/// The identity content of a checkpoint, hashed into its id. Field order is fixed; maps are
/// sorted; so the serialization is canonical.
#[derive(Serialize)]
struct Identity<'a> {
    run: &'a str,
    mode: &'a str,
    window: u64,
    parent: Option<&'a str>,
    relation: Relation,
    replaces: Option<&'a str>,
    samples_trained: u64,
    // Absent when 0, so that checkpoints of streams without missing targets keep their ids.
    #[serde(skip_serializing_if = "is_zero")]
    samples_skipped: u64,
    retained: &'a Retained,
    metrics: Metrics,
    config_fingerprint: &'a str,
    trained_on: &'a TrainedOn,
    extra: serde_json::Value,
    parts: BTreeMap<&'a str, &'a str>,
}

/// Scores under `metrics.prequential` that are not part of a checkpoint's identity: they
/// are derived from the window's data alone (the no-skill baseline) or from it and the
/// model's score (the skill), so they add nothing the id does not already cover, and
/// leaving them out keeps the ids of checkpoints made before they were recorded.
pub const DERIVED_METRICS: [&str; 2] = ["baseline", "skill"];

/// Keys of a checkpoint's `extra` that are not part of its identity, for the same reason as
/// [`DERIVED_METRICS`]: `out_of_range` (the window's inputs outside the range the serving
/// model's scaler was fitted on) is derived from the window and the serving checkpoint,
/// both of which the id already covers.
pub const DERIVED_EXTRA: [&str; 1] = ["out_of_range"];

/// The manifest as written to disk: a [`Manifest`] without `tags`. Its id and checksum are
/// computed from it ([`ManifestFile::compute_id`], [`ManifestFile::checksum`]).
#[derive(Clone, Copy, Serialize)]
pub(crate) struct ManifestFile<'a> {
    id: &'a str,
    run: &'a str,
    mode: &'a str,
    window: u64,
    parent: Option<&'a str>,
    relation: Relation,
    replaces: Option<&'a str>,
    samples_trained: u64,
    #[serde(skip_serializing_if = "is_zero")]
    samples_skipped: u64,
    retained: &'a Retained,
    metrics: &'a Metrics,
    train_seconds: f64,
    created_at: &'a str,
    config_fingerprint: &'a str,
    trained_on: &'a TrainedOn,
    extra: &'a serde_json::Value,
    parts: &'a BTreeMap<String, PartRef>,
    /// Last, so that it covers every field above it (see [`Manifest::file_checksum`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<&'a str>,
}

impl<'a> From<&'a Manifest> for ManifestFile<'a> {
    fn from(m: &'a Manifest) -> Self {
        ManifestFile {
            id: &m.id,
            run: &m.run,
            mode: &m.mode,
            window: m.window,
            parent: m.parent.as_deref(),
            relation: m.relation,
            replaces: m.replaces.as_deref(),
            samples_trained: m.samples_trained,
            samples_skipped: m.samples_skipped,
            retained: &m.retained,
            metrics: &m.metrics,
            train_seconds: m.train_seconds,
            created_at: &m.created_at,
            config_fingerprint: &m.config_fingerprint,
            trained_on: &m.trained_on,
            extra: &m.extra,
            parts: &m.parts,
            checksum: None,
        }
    }
}

impl<'a> From<&'a UnhashedManifest> for ManifestFile<'a> {
    /// The file of a manifest whose id is not known yet: its `id` field is empty, and
    /// everything else is as its file will hold it.
    fn from(m: &'a UnhashedManifest) -> Self {
        ManifestFile {
            id: "",
            run: &m.run,
            mode: &m.mode,
            window: m.window,
            parent: m.parent.as_deref(),
            relation: m.relation,
            replaces: m.replaces.as_deref(),
            samples_trained: m.samples_trained,
            samples_skipped: m.samples_skipped,
            retained: &m.retained,
            metrics: &m.metrics,
            train_seconds: m.train_seconds,
            created_at: &m.created_at,
            config_fingerprint: &m.config_fingerprint,
            trained_on: &m.trained_on,
            extra: &m.extra,
            parts: &m.parts,
            checksum: None,
        }
    }
}

impl ManifestFile<'_> {
    /// The checkpoint id of this content (see [`Manifest::compute_id`]).
    fn compute_id(&self) -> CheckpointId {
        let identity = Identity {
            run: self.run,
            mode: self.mode,
            window: self.window,
            parent: self.parent,
            relation: self.relation,
            replaces: self.replaces,
            samples_trained: self.samples_trained,
            samples_skipped: self.samples_skipped,
            retained: self.retained,
            metrics: Metrics {
                prequential: self.metrics.prequential.as_ref().map(|p| {
                    p.iter()
                        .filter(|(k, _)| !DERIVED_METRICS.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect()
                }),
                train_loss: self.metrics.train_loss,
            },
            config_fingerprint: self.config_fingerprint,
            trained_on: self.trained_on,
            extra: canonical_json(&identity_extra(self.extra)),
            parts: self
                .parts
                .iter()
                .map(|(name, part)| (name.as_str(), part.object.as_str()))
                .collect(),
        };
        // Serializing plain structs, maps with string keys and `Value`s cannot fail.
        let bytes = serde_json::to_vec(&identity).expect("identity content serializes");
        CheckpointId::from_hash(hex::encode(Sha256::digest(&bytes)))
    }

    /// The checksum of this file (see [`Manifest::file_checksum`]): the sha256 of its JSON
    /// without a `checksum` field.
    fn checksum(&self) -> String {
        let unsummed = ManifestFile {
            checksum: None,
            ..*self
        };
        let mut text = serde_json::to_string_pretty(&unsummed).expect("manifest serializes");
        text.push('\n');
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The file's JSON text (pretty), ending with a `checksum` field over everything before
    /// it.
    fn to_json(self) -> String {
        let checksum = self.checksum();
        let file = ManifestFile {
            checksum: Some(&checksum),
            ..self
        };
        let mut text = serde_json::to_string_pretty(&file).expect("manifest serializes");
        text.push('\n');
        text
    }
}

/// A checkpoint's manifest before its id is known: every field of a [`Manifest`] but `id`,
/// `tags` and `checksum` (the content the id is computed from, and the times it leaves out).
/// [`UnhashedManifest::into_manifest`] computes the id and gives the [`Manifest`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct UnhashedManifest {
    /// The run.
    pub(crate) run: String,
    /// The update policy that made it.
    pub(crate) mode: String,
    /// The window this checkpoint was trained on.
    pub(crate) window: u64,
    /// The parent checkpoint.
    pub(crate) parent: Option<CheckpointId>,
    /// How this checkpoint came from its parent.
    pub(crate) relation: Relation,
    /// The checkpoint that was serving before this one.
    pub(crate) replaces: Option<CheckpointId>,
    /// Distinct samples in the update's training set.
    pub(crate) samples_trained: u64,
    /// Rows of the checkpoint's window(s) skipped because their target was missing.
    #[serde(default)]
    pub(crate) samples_skipped: u64,
    /// Past data kept after this update.
    pub(crate) retained: Retained,
    /// Scores.
    pub(crate) metrics: Metrics,
    /// Wall time of the update's training alone.
    pub(crate) train_seconds: f64,
    /// When the checkpoint was committed, RFC 3339 UTC with milliseconds.
    pub(crate) created_at: String,
    /// A fingerprint of the configuration that produced this checkpoint.
    pub(crate) config_fingerprint: String,
    /// The training set.
    pub(crate) trained_on: TrainedOn,
    /// Free-form extra information.
    #[serde(default)]
    pub(crate) extra: serde_json::Value,
    /// The checkpoint's parts by name.
    pub(crate) parts: BTreeMap<String, PartRef>,
}

impl UnhashedManifest {
    /// The manifest of `draft` committed at `created_at`, whose parts are `parts` (the
    /// records of the draft's part bytes, which the caller has taken out of it).
    pub(crate) fn from_draft(
        draft: CheckpointDraft,
        parts: BTreeMap<String, PartRef>,
        created_at: String,
    ) -> UnhashedManifest {
        UnhashedManifest {
            run: draft.run,
            mode: draft.mode,
            window: draft.window,
            parent: draft.parent,
            relation: draft.relation,
            replaces: draft.replaces,
            samples_trained: draft.samples_trained,
            samples_skipped: draft.samples_skipped,
            retained: draft.retained,
            metrics: draft.metrics,
            train_seconds: draft.train_seconds,
            created_at,
            config_fingerprint: draft.config_fingerprint,
            trained_on: draft.trained_on,
            extra: draft.extra,
            parts,
        }
    }

    /// The text of the manifest's file, as [`Manifest::to_file_json`] writes it, but with an
    /// empty `id` field (the id is computed from what this text parses back to).
    pub(crate) fn to_file_json(&self) -> String {
        ManifestFile::from(self).to_json()
    }

    /// The [`Manifest`] of this content: its id computed ([`Manifest::compute_id`]), no tags,
    /// and its checksum as its file will record it.
    pub(crate) fn into_manifest(self) -> Manifest {
        let id = ManifestFile::from(&self).compute_id();
        let mut manifest = Manifest {
            id,
            run: self.run,
            mode: self.mode,
            window: self.window,
            parent: self.parent,
            relation: self.relation,
            replaces: self.replaces,
            samples_trained: self.samples_trained,
            samples_skipped: self.samples_skipped,
            retained: self.retained,
            metrics: self.metrics,
            train_seconds: self.train_seconds,
            created_at: self.created_at,
            tags: Vec::new(),
            config_fingerprint: self.config_fingerprint,
            trained_on: self.trained_on,
            extra: self.extra,
            parts: self.parts,
            checksum: None,
        };
        manifest.checksum = Some(manifest.file_checksum());
        manifest
    }
}

impl Manifest {
    /// The checkpoint id: the sha256 (lowercase hex) of a canonical JSON serialization of the
    /// identity content: run, mode, window, parent, relation, replaces, samples_trained,
    /// retained, metrics, config_fingerprint, trained_on, extra (keys sorted) and parts
    /// (name -> object hash). Not `created_at`, `train_seconds` or `tags`, so the same config
    /// and seed give the same ids on a rerun. The `id` field itself is ignored.
    pub fn compute_id(&self) -> CheckpointId {
        ManifestFile::from(self).compute_id()
    }

    /// The manifest file's JSON text (pretty, without `tags`), ending with a `checksum`
    /// field over everything before it.
    pub(crate) fn to_file_json(&self) -> String {
        ManifestFile::from(self).to_json()
    }

    /// The checksum a manifest file records: the sha256 (lowercase hex) of the file's JSON
    /// without its `checksum` field. The id covers the identity content only; this covers
    /// every field, `created_at` and `train_seconds` included, so that `verify` notices any
    /// edit of a manifest file.
    pub fn file_checksum(&self) -> String {
        ManifestFile::from(self).checksum()
    }

    /// Whether the file this manifest was read from is intact: its recorded checksum
    /// matches its content. True for a manifest written before checksums existed (it has
    /// none; its id still covers the identity content).
    pub fn checksum_matches(&self) -> bool {
        self.checksum
            .as_ref()
            .is_none_or(|recorded| *recorded == self.file_checksum())
    }

    /// The total size of the parts in bytes.
    pub fn parts_bytes(&self) -> u64 {
        self.parts.values().map(|p| p.bytes).sum()
    }

    /// The first `n` hex digits of the id (for display).
    pub fn short_id(&self, n: usize) -> &str {
        &self.id[..n.min(self.id.len())]
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `extra` without its [`DERIVED_EXTRA`] keys.
fn identity_extra(extra: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    match extra {
        serde_json::Value::Object(map) if DERIVED_EXTRA.iter().any(|k| map.contains_key(*k)) => {
            let mut map = map.clone();
            for k in DERIVED_EXTRA {
                map.remove(k);
            }
            std::borrow::Cow::Owned(serde_json::Value::Object(map))
        }
        _ => std::borrow::Cow::Borrowed(extra),
    }
}

/// A copy of `value` whose object keys are sorted at every level, so its serialization does
/// not depend on insertion order (relevant when serde_json's `preserve_order` is enabled
/// somewhere in the build).
fn canonical_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical_json(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Manifest {
        UnhashedManifest {
            run: "r".into(),
            mode: "stateful".into(),
            window: 2,
            parent: Some(CheckpointId("a".repeat(64))),
            relation: Relation::FineTuned,
            replaces: Some(CheckpointId("a".repeat(64))),
            samples_trained: 100,
            samples_skipped: 0,
            retained: Retained::default(),
            metrics: Metrics {
                prequential: Some(BTreeMap::from([("accuracy".into(), 0.1 + 0.2)])),
                train_loss: Some(1.0 / 3.0),
            },
            train_seconds: 0.5,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            config_fingerprint: "cfg".into(),
            trained_on: TrainedOn {
                windows: vec![2],
                samples: 100,
            },
            extra: json!({"b": 1, "a": [1, {"z": 2, "y": 3}]}),
            parts: BTreeMap::from([(
                "model".into(),
                PartRef {
                    object: "b".repeat(64),
                    bytes: 3,
                },
            )]),
        }
        .into_manifest()
    }

    #[test]
    fn an_unhashed_manifest_becomes_one_with_its_id_and_checksum() {
        let m = sample();
        assert_eq!(m.id, m.compute_id());
        assert_eq!(m.checksum, Some(m.file_checksum()));
        assert!(m.tags.is_empty());
    }

    #[test]
    fn relation_serializes_as_spec_names() {
        assert_eq!(
            serde_json::to_string(&Relation::FineTuned).unwrap(),
            "\"fine-tuned\""
        );
        assert_eq!(
            serde_json::to_string(&Relation::Retrained).unwrap(),
            "\"retrained\""
        );
        assert_eq!(
            serde_json::to_string(&Relation::Initial).unwrap(),
            "\"initial\""
        );
        assert_eq!(Relation::FineTuned.to_string(), "fine-tuned");
        assert_eq!(
            serde_json::to_string(&Relation::Imported).unwrap(),
            "\"imported\""
        );
        assert!(Relation::Imported.is_root() && Relation::Initial.is_root());
        assert!(!Relation::FineTuned.is_root());
    }

    #[test]
    fn id_ignores_times_tags_and_id() {
        let a = sample();
        let mut b = sample();
        b.created_at = "2030-01-01T00:00:00.000Z".into();
        b.train_seconds = 99.0;
        b.tags = vec!["t".into()];
        b.id = CheckpointId("x".into());
        assert_eq!(a.compute_id(), b.compute_id());
        assert_eq!(a.compute_id().len(), 64);
    }

    #[test]
    fn id_survives_json_round_trip() {
        let m = sample();
        let back: Manifest = serde_json::from_str(&m.to_file_json()).unwrap();
        assert_eq!(back.compute_id(), m.id);
        assert_eq!(back.checksum.as_deref(), Some(m.file_checksum().as_str()));
        assert_eq!(back, m);
    }

    #[test]
    fn checksum_covers_the_fields_the_id_leaves_out() {
        let m = sample();
        let text = m.to_file_json();
        let intact: Manifest = serde_json::from_str(&text).unwrap();
        assert!(intact.checksum_matches());
        for (from, to) in [("2026-01-01", "9026-01-01"), ("0.5", "0.6")] {
            let edited: Manifest = serde_json::from_str(&text.replacen(from, to, 1)).unwrap();
            assert_eq!(edited.compute_id(), m.id, "the id leaves {from} out");
            assert!(!edited.checksum_matches(), "editing {from} is noticed");
        }
        let legacy: Manifest = serde_json::from_value({
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v.as_object_mut().unwrap().remove("checksum");
            v
        })
        .unwrap();
        assert!(
            legacy.checksum_matches(),
            "a manifest without checksum is not refused"
        );
    }

    #[test]
    fn file_json_has_no_tags_and_output_json_has_them() {
        let mut m = sample();
        m.tags = vec!["best".into()];
        let file: serde_json::Value = serde_json::from_str(&m.to_file_json()).unwrap();
        assert!(file.get("tags").is_none());
        let out = serde_json::to_value(&m).unwrap();
        assert_eq!(out["tags"], json!(["best"]));
        assert_eq!(out["relation"], json!("fine-tuned"));
        assert_eq!(out["retained"], json!({"samples": 0, "bytes": 0}));
    }

    #[test]
    fn extra_key_order_does_not_matter() {
        let a = sample();
        let mut b = sample();
        let mut map = serde_json::Map::new();
        map.insert("a".into(), json!([1, {"y": 3, "z": 2}]));
        map.insert("b".into(), json!(1));
        b.extra = serde_json::Value::Object(map);
        assert_eq!(a.compute_id(), b.compute_id());
    }

    #[test]
    fn derived_extra_keys_are_not_part_of_the_id_and_others_are() {
        let a = sample();
        let mut b = sample();
        b.extra["out_of_range"] = json!([{"column": "flag", "rows": 17, "max_std": 3500.0}]);
        assert_eq!(a.compute_id(), b.compute_id());
        b.extra["something_else"] = json!(1);
        assert_ne!(a.compute_id(), b.compute_id());
    }
}
