//! What a CSV run records of the rows it trained on, so that a resumed run notices data that
//! changed under it.
//!
//! The config fingerprint covers the settings, not the file's content, and appending rows is
//! the normal way to feed a run new windows. So every checkpoint of a CSV run records, in
//! `extra.data`, the sha256 of its own window (`window_sha256`) and a hash chained over every
//! window from 0 to its own (`through_sha256`). On resume the run hashes the windows again as
//! it streams past them and compares the chain at the head's window: a changed, reordered or
//! removed row anywhere before the head is noticed, and the per-window hashes of the run's
//! stored checkpoints name the first window that changed. When `data.path` is a folder or a
//! glob, each checkpoint also records the files its window's rows came from (`files`), so
//! that the message names the file that changed, went away or was added before it. Built-in generators need none of
//! this (their samples are a function of the fingerprinted config), so their manifests, and
//! ids, are as they were.

use crate::checkpoint::{CheckpointExtra, DataRecord};
use relearn_data::{Batch, StreamFile};
use relearn_store::Manifest;
use sha2::{Digest, Sha256};

/// The hashes of the windows a run has streamed past, in order.
#[derive(Debug, Clone, Default)]
pub struct DataTrail {
    /// `windows[t]`: the sha256 of window `t`.
    windows: Vec<[u8; 32]>,
    /// `through[t]`: the chain over windows `0..=t`.
    through: Vec<[u8; 32]>,
    /// A folder stream's files, in order, with their samples (empty for one file).
    files: Vec<StreamFile>,
}

/// The first difference [`DataTrail::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChange {
    /// The first window whose rows differ from what a stored checkpoint trained on, when a
    /// stored checkpoint of that window tells; `None` when only the chain tells (the
    /// checkpoints that recorded the windows before the head were removed by `gc`).
    pub first_changed: Option<usize>,
    /// The head's window: the change is at or before it.
    pub head_window: usize,
    /// The files the first changed window's checkpoint recorded (folder streams).
    pub recorded_files: Vec<String>,
}

impl DataTrail {
    /// A trail for a stream read from `files` (empty when `data.path` is one file).
    pub fn new(files: Vec<StreamFile>) -> Self {
        DataTrail {
            files,
            ..DataTrail::default()
        }
    }

    /// The files of a folder stream, in order (empty for one file).
    pub fn files(&self) -> &[StreamFile] {
        &self.files
    }

    /// The files (of a folder stream) that hold the samples of `span`.
    pub fn files_of(&self, span: std::ops::Range<usize>) -> Vec<String> {
        StreamFile::names_in(&self.files, span)
    }

    /// Hashes the next window (windows must come in order, from 0).
    pub fn push(&mut self, batch: &Batch) {
        let window = window_digest(batch);
        let previous = self.through.last().copied().unwrap_or([0; 32]);
        let mut chain = Sha256::new();
        chain.update(previous);
        chain.update(window);
        self.windows.push(window);
        self.through.push(chain.finalize().into());
    }

    /// How many windows were hashed.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no window was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// What a checkpoint of `window`, whose samples are `span`, records under
    /// `extra.data`.
    ///
    /// # Panics
    /// If `window` was not hashed yet.
    pub fn record(&self, window: usize, span: std::ops::Range<usize>) -> DataRecord {
        DataRecord {
            window_sha256: hex::encode(self.windows[window]),
            through_sha256: hex::encode(self.through[window]),
            files: self.files_of(span),
        }
    }

    /// Checks that the windows hashed so far are those `head` (the run's latest checkpoint,
    /// whose window must have been hashed) trained on: `None` if so, else what changed.
    /// `chain` gives every stored checkpoint of the run, to name the first changed window;
    /// it is called only when something changed. A head without `extra.data` (written
    /// before these hashes existed) is taken as it is.
    pub fn check<E>(
        &self,
        head: &Manifest,
        chain: impl FnOnce() -> Result<Vec<Manifest>, E>,
    ) -> Result<Option<DataChange>, E> {
        let head_window = head.window as usize;
        let Some(through) = recorded(head).map(|r| r.through_sha256) else {
            return Ok(None);
        };
        if through == hex::encode(self.through[head_window]) {
            return Ok(None);
        }
        let first_changed = chain()?
            .iter()
            .filter(|m| (m.window as usize) <= head_window)
            .filter_map(|m| {
                let r = recorded(m)?;
                (r.window_sha256 != hex::encode(self.windows[m.window as usize]))
                    .then_some((m.window as usize, r.files))
            })
            .min_by_key(|(w, _)| *w);
        let (first_changed, recorded_files) = match first_changed {
            Some((w, files)) => (Some(w), files),
            None => (None, Vec::new()),
        };
        Ok(Some(DataChange {
            first_changed,
            head_window,
            recorded_files,
        }))
    }
}

/// `extra.data` of a checkpoint (`None` for one written before these hashes existed).
fn recorded(m: &Manifest) -> Option<DataRecord> {
    CheckpointExtra::of(m).ok()?.data
}

/// The sha256 of a window's samples as the model sees them before scaling: its shape, then
/// every feature and target as little-endian `f32`s, row by row.
fn window_digest(batch: &Batch) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"relearn-window-v1");
    hash.update((batch.n_features as u64).to_le_bytes());
    hash.update((batch.len() as u64).to_le_bytes());
    for v in &batch.features {
        hash.update(v.to_le_bytes());
    }
    for v in &batch.targets {
        hash.update(v.to_le_bytes());
    }
    // Categorical cells (none in a numeric table, whose hashes stay as they were): each
    // cell's length and bytes.
    for c in &batch.categories {
        hash.update((c.len() as u64).to_le_bytes());
        hash.update(c.as_bytes());
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(values: &[f32]) -> Batch {
        let mut b = Batch::new(1);
        for (i, v) in values.iter().enumerate() {
            b.push(&[*v], (i % 2) as f32);
        }
        b
    }

    fn manifest(window: u64, data: Option<DataRecord>) -> Manifest {
        let extra = crate::checkpoint::CheckpointExtra {
            model: crate::checkpoint::ModelInfo {
                widths: vec![1, 2],
                activation: "relu".into(),
                dropout: 0.0,
                task: relearn_data::Task::Classification,
                backend: "flex".into(),
                kind: relearn_spec::ModelKind::Mlp,
                trees: None,
            },
            source: "csv:t.csv".into(),
            target: "y".into(),
            scaling: relearn_data::Scaling::Running,
            window_size: 2,
            period: None,
            time_column: None,
            id_column: None,
            seed: 0,
            data,
            gate: None,
            new_classes: Vec::new(),
            out_of_range: Vec::new(),
            scored_by: None,
            import: None,
            policy: Default::default(),
        };
        serde_json::from_value(serde_json::json!({
            "id": "0".repeat(64), "run": "r", "mode": "stateful", "window": window,
            "parent": null, "relation": "initial", "replaces": null, "samples_trained": 2,
            "retained": {"samples": 0, "bytes": 0},
            "metrics": {"prequential": null, "train_loss": null}, "train_seconds": 0.0,
            "created_at": "2026-01-01T00:00:00.000Z", "config_fingerprint": "f",
            "trained_on": {"windows": [window], "samples": 2},
            "extra": extra.to_value(), "parts": {}
        }))
        .unwrap()
    }

    /// [`DataTrail::check`] against a chain given in full.
    fn check(t: &DataTrail, head: &Manifest, chain: &[Manifest]) -> Option<DataChange> {
        t.check(head, || Ok::<_, ()>(chain.to_vec())).unwrap()
    }

    fn trail(windows: &[&[f32]]) -> DataTrail {
        let mut t = DataTrail::default();
        for w in windows {
            t.push(&batch(w));
        }
        t
    }

    #[test]
    fn the_first_changed_window_is_named() {
        let before = trail(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        let stored: Vec<Manifest> = (0..3)
            .map(|w| manifest(w, Some(before.record(w as usize, 0..0))))
            .collect();
        assert_eq!(check(&before, &stored[2], &stored), None);

        let after = trail(&[&[1.0, 2.0], &[3.0, 4.5], &[5.0, 6.0]]);
        let change = check(&after, &stored[2], &stored).unwrap();
        assert_eq!(change.first_changed, Some(1));
        assert_eq!(change.head_window, 2);
        // Only the head left (gc): the chain still tells, without naming the window.
        let change = check(&after, &stored[2], &stored[2..]).unwrap();
        assert_eq!(change.first_changed, None);
    }

    #[test]
    fn appended_windows_and_legacy_heads_pass() {
        let before = trail(&[&[1.0, 2.0], &[3.0, 4.0]]);
        let head = manifest(1, Some(before.record(1, 0..0)));
        let appended = trail(&[&[1.0, 2.0], &[3.0, 4.0], &[7.0, 8.0]]);
        assert_eq!(check(&appended, &head, &[]), None);
        let legacy = manifest(1, None);
        assert_eq!(
            check(&trail(&[&[9.0, 9.0], &[9.0, 9.0]]), &legacy, &[]),
            None
        );
    }

    #[test]
    fn reordered_rows_change_the_hash() {
        assert_ne!(
            window_digest(&batch(&[1.0, 2.0])),
            window_digest(&batch(&[2.0, 1.0]))
        );
    }
}
