//! The replay policy's memory: a bounded reservoir of past samples, stored with each
//! checkpoint as its `replay` part. Either uniform over everything seen (Vitter's Algorithm
//! R) or biased towards recent samples (Aggarwal's biased reservoir: every new sample enters,
//! replacing a random one, so a sample survives `k` later ones with probability
//! `(1 - 1/capacity)^k`).

use rand::Rng;
use rand::rngs::StdRng;
use relearn_data::Batch;
use relearn_model::bytes::ByteReader;
use relearn_spec::Sampling;

/// Up to `capacity` raw (unscaled) samples of those offered so far, chosen by its
/// [`Sampling`], with the window each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservoir {
    sampling: Sampling,
    capacity: usize,
    /// Samples offered so far.
    seen: u64,
    samples: Batch,
    windows: Vec<u32>,
}

const MAGIC: &[u8; 8] = b"RLREPLY1";

impl Reservoir {
    /// An empty reservoir for rows of `n_features` numeric and `n_categorical` categorical
    /// cells.
    pub fn new(
        capacity: usize,
        n_features: usize,
        n_categorical: usize,
        sampling: Sampling,
    ) -> Reservoir {
        Reservoir {
            sampling,
            capacity,
            seen: 0,
            samples: Batch::mixed(n_features, n_categorical).like(capacity.min(1 << 16)),
            windows: Vec::new(),
        }
    }

    /// The kept samples.
    pub fn samples(&self) -> &Batch {
        &self.samples
    }

    /// The distinct windows the kept samples come from, ascending.
    pub fn windows(&self) -> Vec<u64> {
        let mut w: Vec<u64> = self.windows.iter().map(|&w| u64::from(w)).collect();
        w.sort_unstable();
        w.dedup();
        w
    }

    /// Offers every row of `batch` (from window `window`). Until the reservoir is full every
    /// row is kept; then a row replaces a uniformly chosen kept one always ([`Sampling::Recent`])
    /// or with probability `capacity / seen` ([`Sampling::Uniform`]).
    pub fn offer(&mut self, batch: &Batch, window: usize, rng: &mut StdRng) {
        let nf = self.samples.n_features;
        let nc = self.samples.n_categorical;
        for i in 0..batch.len() {
            self.seen += 1;
            if self.samples.len() < self.capacity {
                self.samples.push_row_of(batch, i);
                self.windows.push(window as u32);
                continue;
            }
            let j = match self.sampling {
                Sampling::Recent => rng.random_range(0..self.capacity as u64),
                Sampling::Uniform => rng.random_range(0..self.seen),
            };
            if (j as usize) < self.capacity {
                let j = j as usize;
                self.samples.features[j * nf..(j + 1) * nf].copy_from_slice(batch.row(i));
                self.samples.targets[j] = batch.targets[i];
                if nc > 0 {
                    self.samples.categories[j * nc..(j + 1) * nc]
                        .clone_from_slice(batch.categories_of(i));
                }
                self.windows[j] = window as u32;
            }
        }
    }

    /// The reservoir as bytes: magic, sampling (0 recent, 1 uniform), capacity, seen,
    /// features per row, rows (u64 LE each), then the features, targets (f32 LE) and windows
    /// (u32 LE); with categorical cells, then their count per row (u64 LE) and each cell
    /// row by row as its length (u32 LE) and UTF-8 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rows = self.samples.len();
        let mut out = Vec::with_capacity(48 + rows * 4 * (self.samples.n_features + 2));
        out.extend_from_slice(MAGIC);
        for v in [
            match self.sampling {
                Sampling::Recent => 0,
                Sampling::Uniform => 1,
            },
            self.capacity as u64,
            self.seen,
            self.samples.n_features as u64,
            rows as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in self.samples.features.iter().chain(&self.samples.targets) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in &self.windows {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if self.samples.n_categorical > 0 {
            out.extend_from_slice(&(self.samples.n_categorical as u64).to_le_bytes());
            for c in &self.samples.categories {
                out.extend_from_slice(&(c.len() as u32).to_le_bytes());
                out.extend_from_slice(c.as_bytes());
            }
        }
        out
    }

    /// Reads [`Reservoir::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Reservoir, crate::PartError> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("not a reservoir (bad magic)"))?;
        let mut header = ByteReader::new(body);
        let mut word = || header.u64().map_err(|_| malformed("truncated header"));
        let (sampling, capacity, seen) = (word()?, word()?, word()?);
        let (nf, rows) = (word()? as usize, word()? as usize);
        let sampling = match sampling {
            0 => Sampling::Recent,
            1 => Sampling::Uniform,
            other => return Err(malformed(&format!("unknown sampling {other}"))),
        };
        let floats = rows
            .checked_mul(nf + 1)
            .ok_or_else(|| malformed("size overflows"))?;
        let data = header.rest();
        let numeric_len = floats
            .checked_add(rows)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| malformed("size overflows"))?;
        if data.len() < numeric_len || rows as u64 > capacity || rows as u64 > seen {
            return Err(malformed("length does not match its header"));
        }
        let (data, tail) = data.split_at(numeric_len);
        let (n_categorical, categories) = if tail.is_empty() {
            (0, Vec::new())
        } else {
            categorical_cells(tail, rows)?
        };
        let mut numeric = ByteReader::new(data);
        let f32s = numeric.f32s(floats).expect("length checked above");
        let windows = numeric.u32s(rows).expect("length checked above");
        let (features, targets) = f32s.split_at(rows * nf);
        Ok(Reservoir {
            sampling,
            capacity: capacity as usize,
            seen,
            samples: Batch {
                features: features.to_vec(),
                targets: targets.to_vec(),
                n_features: nf,
                categories,
                n_categorical,
            },
            windows,
        })
    }
}

/// The error for a `replay` part that is not a reservoir's bytes: `what` is wrong.
fn malformed(what: &str) -> crate::PartError {
    crate::PartError::Malformed {
        part: crate::checkpoint::parts::REPLAY,
        reason: what.to_string(),
    }
}

/// Reads the categorical cells of [`Reservoir::to_bytes`] (`tail`, after the numeric data):
/// their count per row, then `rows` times that many cells; returns both. Refuses a count of
/// 0, cells cut short or not UTF-8, and bytes left over.
fn categorical_cells(tail: &[u8], rows: usize) -> Result<(usize, Vec<String>), crate::PartError> {
    let cut_short = |_| malformed("truncated categorical cells");
    let mut r = ByteReader::new(tail);
    let n_categorical = r.u64().map_err(cut_short)? as usize;
    let cells = rows
        .checked_mul(n_categorical)
        .ok_or_else(|| malformed("size overflows"))?;
    let mut categories = Vec::new();
    for _ in 0..cells {
        let n = r.u32().map_err(cut_short)? as usize;
        let text = r.take(n).map_err(cut_short)?;
        categories.push(
            String::from_utf8(text.to_vec())
                .map_err(|_| malformed("a categorical cell is not UTF-8"))?,
        );
    }
    if !r.rest().is_empty() || n_categorical == 0 {
        return Err(malformed("length does not match its header"));
    }
    Ok((n_categorical, categories))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn window(start: f32, rows: usize) -> Batch {
        let mut b = Batch::new(2);
        for i in 0..rows {
            let x = start + i as f32;
            b.push(&[x, -x], x % 2.0);
        }
        b
    }

    #[test]
    fn keeps_everything_until_full_then_samples_uniformly() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut r = Reservoir::new(100, 2, 0, Sampling::Uniform);
        r.offer(&window(0.0, 60), 0, &mut rng);
        assert_eq!(r.samples().len(), 60);
        r.offer(&window(60.0, 40), 1, &mut rng);
        assert_eq!(r.samples(), &window(0.0, 100));
        assert_eq!(r.windows(), vec![0, 1]);
        // After 10 000 more, each of the 100 windows of 100 should hold about 1 % of it.
        for w in 2..102 {
            r.offer(&window(w as f32 * 100.0, 100), w, &mut rng);
        }
        assert_eq!(r.samples().len(), 100);
        let old = r.windows.iter().filter(|&&w| w < 51).count();
        assert!((30..=70).contains(&old), "{old} of 100 from the older half");
        // Rows stay whole: features and target move together.
        for i in 0..100 {
            let row = r.samples().row(i);
            assert_eq!(row[0], -row[1]);
            assert_eq!(r.samples().targets[i], row[0] % 2.0);
        }
    }

    #[test]
    fn recent_sampling_keeps_mostly_the_last_windows() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut r = Reservoir::new(100, 2, 0, Sampling::Recent);
        for w in 0..50 {
            r.offer(&window(w as f32 * 100.0, 100), w, &mut rng);
        }
        assert_eq!(r.samples().len(), 100);
        // A sample survives the last 100 offers with probability (1 - 1/100)^100 ≈ 0.37: about
        // 63 of the 100 from window 49, 23 from window 48, 9 from 47, ...
        let last = r.windows.iter().filter(|&&w| w == 49).count();
        let older = r.windows.iter().filter(|&&w| w < 46).count();
        assert!((50..=75).contains(&last), "{last} from the last window");
        assert!(older <= 5, "{older} from before window 46");
    }

    #[test]
    fn bytes_round_trip_and_reject_damage() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut r = Reservoir::new(50, 2, 0, Sampling::Recent);
        r.offer(&window(0.0, 80), 4, &mut rng);
        let bytes = r.to_bytes();
        assert_eq!(Reservoir::from_bytes(&bytes).unwrap(), r);
        assert!(Reservoir::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Reservoir::from_bytes(b"RLREPLY0").is_err());
    }
}
