//! Classes first seen mid-stream: the output layer (and its Adam moments) grows by the new
//! classes' outputs while every weight the model had stays as it was.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relearn_model::MlpWeights;

use crate::optim::AdamMoments;

/// Appends `added` outputs to the last layer of `weights`: new weights drawn uniformly from
/// `±1/sqrt(d_input)` (the bound of Burn's and PyTorch's default `Linear` init) by a
/// generator seeded with `seed`, new biases 0.
pub fn grow_outputs(weights: &mut MlpWeights, added: usize, seed: u64) {
    let Some(last) = weights.layers.last() else {
        return;
    };
    let bound = 1.0 / (last.d_input.max(1) as f32).sqrt();
    let mut rng = StdRng::seed_from_u64(seed);
    grow_last_layer(weights, added, || rng.random_range(-bound..bound));
}

/// Appends `added` outputs to the last layer of `values`: new weights from `new_weight`,
/// row by row, new biases 0.
fn grow_last_layer(values: &mut MlpWeights, added: usize, mut new_weight: impl FnMut() -> f32) {
    let Some(last) = values.layers.last_mut() else {
        return;
    };
    let d_out = last.d_output;
    last.weight = widen_rows(&last.weight, d_out, added, &mut new_weight);
    last.bias.extend(std::iter::repeat_n(0.0, added));
    last.d_output = d_out + added;
}

/// `values` (rows of `width`) with `added` values from `new` after each row.
fn widen_rows(
    values: &[f32],
    width: usize,
    added: usize,
    new: &mut impl FnMut() -> f32,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len() / width.max(1) * (width + added));
    for row in values.chunks_exact(width) {
        out.extend_from_slice(row);
        out.extend((0..added).map(|_| new()));
    }
    out
}

/// Appends `added` zero outputs to the last layer of `values` (a Fisher: no pull on the new
/// classes' outputs).
pub fn grow_zeros(values: &mut MlpWeights, added: usize) {
    grow_last_layer(values, added, || 0.0);
}

/// Extends the last layer's Adam moments for [`grow_outputs`]: zero moments for the new
/// outputs, the old ones unchanged. `d_in`/`d_out`: the last layer's shape before growing.
pub fn grow_moments(moments: &mut AdamMoments, d_in: usize, d_out: usize, added: usize) {
    if let Some(Some(m)) = moments.weights.last_mut() {
        for v in [&mut m.m1, &mut m.m2] {
            if v.len() == d_in * d_out {
                *v = widen_rows(v, d_out, added, &mut || 0.0);
            }
        }
    }
    if let Some(Some(m)) = moments.biases.last_mut() {
        m.m1.extend(std::iter::repeat_n(0.0, added));
        m.m2.extend(std::iter::repeat_n(0.0, added));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Moment;
    use relearn_model::LayerWeights;

    /// One 2-in, 2-out layer.
    fn two_by_two() -> MlpWeights {
        MlpWeights {
            layers: vec![LayerWeights {
                d_input: 2,
                d_output: 2,
                weight: vec![1.0, 2.0, 3.0, 4.0],
                bias: vec![0.5, -0.5],
            }],
        }
    }

    #[test]
    fn growing_keeps_old_outputs_and_adds_new_ones() {
        let mut w = two_by_two();
        grow_outputs(&mut w, 1, 7);
        let l = &w.layers[0];
        assert_eq!(l.d_output, 3);
        assert_eq!(
            (l.weight[0], l.weight[1], l.weight[3], l.weight[4]),
            (1.0, 2.0, 3.0, 4.0)
        );
        assert!(l.weight[2].abs() <= 1.0 / 2f32.sqrt() && l.weight[5].abs() <= 1.0 / 2f32.sqrt());
        assert_eq!(l.bias, vec![0.5, -0.5, 0.0]);
        let mut again = two_by_two();
        grow_outputs(&mut again, 1, 7);
        assert_eq!(w, again, "seeded");

        let moment = |n: usize| Moment {
            time: 3,
            m1: (0..n).map(|i| i as f32 + 1.0).collect(),
            m2: vec![1.0; n],
        };
        let mut m = AdamMoments {
            weights: vec![Some(moment(4))],
            biases: vec![Some(moment(2))],
        };
        grow_moments(&mut m, 2, 2, 1);
        let wm = m.weights[0].as_ref().unwrap();
        assert_eq!(wm.m1, vec![1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
        assert_eq!(wm.time, 3);
        assert_eq!(m.biases[0].as_ref().unwrap().m1, vec![1.0, 2.0, 0.0]);
    }
}
