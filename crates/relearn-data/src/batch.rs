//! Blocks of samples: [`Batch`] and [`Window`].

/// A block of samples: numeric features in row-major `f32`, categorical cells as strings,
/// one target per row.
///
/// For classification a target is the class index as `f32` (`0.0`, `1.0`, ...); for
/// regression it is the value itself. A raw batch read from a CSV marks a missing numeric
/// cell as NaN and a missing categorical one as `""`; model inputs (see
/// [`crate::Preprocessor::transform`]) are numeric only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// Row-major numeric features, `len() * n_features` values.
    pub features: Vec<f32>,
    /// One target per row.
    pub targets: Vec<f32>,
    /// Numeric features per row.
    pub n_features: usize,
    /// Row-major categorical cells, `len() * n_categorical` strings (`""`: missing).
    pub categories: Vec<String>,
    /// Categorical cells per row.
    pub n_categorical: usize,
}

impl Batch {
    /// An empty batch whose rows will have `n_features` features.
    pub fn new(n_features: usize) -> Self {
        Batch::mixed(n_features, 0)
    }

    /// An empty batch whose rows will have `n_features` numeric and `n_categorical`
    /// categorical cells.
    pub fn mixed(n_features: usize, n_categorical: usize) -> Self {
        Batch {
            n_features,
            n_categorical,
            ..Batch::default()
        }
    }

    /// An empty batch with room for `rows` rows.
    pub fn with_capacity(n_features: usize, rows: usize) -> Self {
        Batch {
            features: Vec::with_capacity(rows * n_features),
            targets: Vec::with_capacity(rows),
            n_features,
            ..Batch::default()
        }
    }

    /// An empty batch shaped like `self`, with room for `rows` rows.
    pub fn like(&self, rows: usize) -> Self {
        Batch {
            features: Vec::with_capacity(rows * self.n_features),
            targets: Vec::with_capacity(rows),
            n_features: self.n_features,
            categories: Vec::with_capacity(rows * self.n_categorical),
            n_categorical: self.n_categorical,
        }
    }

    /// Number of rows (samples).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The features of row `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(
            i < self.len(),
            "row {i} out of range for a batch of {}",
            self.len()
        );
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The categorical cells of row `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn categories_of(&self, i: usize) -> &[String] {
        assert!(
            i < self.len(),
            "row {i} out of range for a batch of {}",
            self.len()
        );
        &self.categories[i * self.n_categorical..(i + 1) * self.n_categorical]
    }

    /// Appends one row.
    ///
    /// # Panics
    /// If `row.len() != self.n_features`.
    pub fn push(&mut self, row: &[f32], target: f32) {
        assert_eq!(
            self.n_categorical, 0,
            "a batch with categorical cells needs push_mixed"
        );
        self.push_mixed(row, &[], target);
    }

    /// Appends one row with its categorical cells.
    ///
    /// # Panics
    /// If `row.len() != self.n_features` or `categories.len() != self.n_categorical`.
    pub fn push_mixed(&mut self, row: &[f32], categories: &[String], target: f32) {
        assert_eq!(
            row.len(),
            self.n_features,
            "row has {} features, batch has {}",
            row.len(),
            self.n_features
        );
        assert_eq!(
            categories.len(),
            self.n_categorical,
            "row has {} categorical cells, batch has {}",
            categories.len(),
            self.n_categorical
        );
        self.features.extend_from_slice(row);
        self.categories.extend_from_slice(categories);
        self.targets.push(target);
    }

    /// Appends every row of `other`. An empty `Batch::default()` takes `other`'s width.
    ///
    /// # Panics
    /// If the batches have different `n_features` (and `self` is not an empty default).
    pub fn extend(&mut self, other: &Batch) {
        if self.is_empty() && self.n_features == 0 && self.n_categorical == 0 {
            self.n_features = other.n_features;
            self.n_categorical = other.n_categorical;
        }
        assert_eq!(
            (self.n_features, self.n_categorical),
            (other.n_features, other.n_categorical),
            "cannot extend a batch of (numeric, categorical) widths {:?} with one of {:?}",
            (self.n_features, self.n_categorical),
            (other.n_features, other.n_categorical)
        );
        self.features.extend_from_slice(&other.features);
        self.categories.extend_from_slice(&other.categories);
        self.targets.extend_from_slice(&other.targets);
    }

    /// Appends row `i` of `other` (features, categorical cells, target).
    ///
    /// # Panics
    /// If `i` is out of range or the batches' widths differ.
    pub fn push_row_of(&mut self, other: &Batch, i: usize) {
        assert_eq!(
            (self.n_features, self.n_categorical),
            (other.n_features, other.n_categorical),
            "cannot push a row of a batch of (numeric, categorical) widths {:?} onto one of {:?}",
            (other.n_features, other.n_categorical),
            (self.n_features, self.n_categorical)
        );
        self.features.extend_from_slice(other.row(i));
        if other.n_categorical > 0 {
            self.categories.extend_from_slice(other.categories_of(i));
        }
        self.targets.push(other.targets[i]);
    }

    /// A new batch of the rows at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Batch {
        let mut out = self.like(indices.len());
        for &i in indices {
            out.push_row_of(self, i);
        }
        out
    }

    /// The memory a kept copy of these samples costs: `4 * (n_features + 1) * len` bytes,
    /// plus the bytes of the categorical cells' text and 4 bytes a cell.
    pub fn bytes(&self) -> u64 {
        let text: u64 = self.categories.iter().map(|c| 4 + c.len() as u64).sum();
        4 * (self.n_features as u64 + 1) * self.len() as u64 + text
    }
}

/// One window of the stream: `window_size` consecutive samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Position in the stream, from 0. Windows `0..initial` are the initial training set.
    pub index: usize,
    /// The stream's samples it holds, as its source cut them ([`crate::Windowing::span`]):
    /// 0-based positions among the stream's samples (rows skipped for a missing target are
    /// not samples).
    pub span: std::ops::Range<usize>,
    /// The samples, unscaled.
    pub batch: Batch,
    /// Rows read for this window whose target was missing (a CSV's blank or `NA` cells,
    /// see [`crate::CsvSource::missing`]): skipped, not trained on nor scored.
    pub skipped: usize,
    /// Windows by time (`window.every`): the label of its period (`2026-12-01`); `None` for
    /// windows of `window.size` rows.
    pub period: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_row_select_extend_bytes() {
        let mut b = Batch::new(2);
        assert!(b.is_empty());
        b.push(&[1.0, 2.0], 0.0);
        b.push(&[3.0, 4.0], 1.0);
        b.push(&[5.0, 6.0], 0.0);
        assert_eq!(b.len(), 3);
        assert_eq!(b.row(1), &[3.0, 4.0]);
        let s = b.select(&[2, 0, 2]);
        assert_eq!(s.features, vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        assert_eq!(s.targets, vec![0.0, 0.0, 0.0]);
        let mut d = Batch::default();
        d.extend(&b);
        d.extend(&s);
        assert_eq!(d.len(), 6);
        assert_eq!(d.n_features, 2);
        assert_eq!(d.bytes(), 4 * 3 * 6);
    }

    #[test]
    #[should_panic(expected = "row has 3 features")]
    fn push_wrong_width_panics() {
        Batch::new(2).push(&[1.0, 2.0, 3.0], 0.0);
    }
}
