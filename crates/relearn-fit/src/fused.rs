//! The fused MLP trainer: forward, loss, backward and Adam for an [`Mlp`] on flat `f32`
//! buffers, with every matrix product done by `gemm` (the kernel library Burn's Flex
//! backend uses for its own matmul) and every element-wise step fused into one pass.
//!
//! It computes what the Burn autodiff path computes (same layers, losses, activation
//! derivatives, dropout scaling and Adam arithmetic), without the per-operation costs of a
//! general tensor library: no graph, no per-op allocation, no gradient map, no tensor built
//! per batch. Buffers are sized once per fit; a batch is gathered straight into the input
//! buffer.
//!
//! Determinism: every reduction runs in a fixed order on one thread; a matrix product split
//! over threads is split by rows or columns of its output, never along the summed dimension.
//! So the same inputs give bit-identical weights and moments, on this machine, run after run.

use std::ops::Range;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relearn_data::{Batch, Task};
use relearn_model::{Activation, MlpWeights};

use crate::anchor::Anchor;
use crate::optim::{AdamMoments, LayerOptions, adam_update};
use crate::pool;

/// A strided, read-only matrix view.
#[derive(Clone, Copy)]
struct MatRef {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

/// A strided, writable matrix view.
#[derive(Clone, Copy)]
struct MatMut {
    ptr: *mut f32,
    rs: isize,
    cs: isize,
}

// SAFETY: the views are only shared with pool tasks that write disjoint blocks of `MatMut`
// and read `MatRef`s nobody writes meanwhile; `Product::run` waits for all of them.
unsafe impl Send for MatRef {}
unsafe impl Sync for MatRef {}
unsafe impl Send for MatMut {}
unsafe impl Sync for MatMut {}

impl MatRef {
    /// The view moved by `offset` elements (the caller keeps it in bounds).
    fn shifted(self, offset: isize) -> MatRef {
        MatRef {
            ptr: self.ptr.wrapping_offset(offset),
            ..self
        }
    }
}

impl MatMut {
    /// The view moved by `offset` elements (the caller keeps it in bounds).
    fn shifted(self, offset: isize) -> MatMut {
        MatMut {
            ptr: self.ptr.wrapping_offset(offset),
            ..self
        }
    }
}

/// Products smaller than this (m * n * k multiply-adds) stay on one thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;
/// Rows (or columns) of output per parallel block, at least.
const MIN_BLOCK: usize = 16;

/// Element-wise work on rows `rows` of a product's output (before or after the product).
/// It must touch those rows only, so that blocks of rows can run on different threads.
type RowPass<'a> = &'a (dyn Fn(Range<usize>) + Sync);

/// Element-wise passes over at least this many elements run in parallel row blocks.
const PARALLEL_MIN_ELEMS: usize = 1 << 15;

/// Runs `pass` over rows `0..m` of a `[m, row_len]` buffer: in row blocks over the pool
/// when the buffer is large, else at once.
fn par_rows(m: usize, row_len: usize, pass: RowPass) {
    let threads = pool::threads();
    if threads <= 1 || m < 2 || m.saturating_mul(row_len) < PARALLEL_MIN_ELEMS {
        pass(0..m);
        return;
    }
    let per = m.div_ceil(threads);
    pool::run(m.div_ceil(per), &|b| {
        let start = b * per;
        pass(start..(start + per).min(m));
    });
}

/// One matrix product: `dst (m x n) = lhs (m x k) . rhs (k x n)`, plus `dst` when
/// `accumulate`.
#[derive(Clone, Copy)]
struct Product {
    m: usize,
    n: usize,
    k: usize,
    dst: MatMut,
    lhs: MatRef,
    rhs: MatRef,
    accumulate: bool,
}

impl Product {
    /// Computes the product; `before` runs on rows of `dst` before the product writes them,
    /// `after` once it has.
    ///
    /// A large product is split over the pool by rows (or columns) of `dst`. Split by rows,
    /// each task runs `before`, its block of the product and `after` on its own rows, while
    /// they are in its cache and with no serial pass between; otherwise the passes run as
    /// parallel row blocks of their own around the product.
    ///
    /// # Safety
    /// The views must cover the shapes given and `dst` must not overlap `lhs` or `rhs`; the
    /// passes must not touch `lhs` or `rhs`, nor rows of `dst` outside the range they are
    /// given.
    unsafe fn run(self, before: Option<RowPass>, after: Option<RowPass>) {
        let Product { m, n, k, .. } = self;
        if m == 0 || n == 0 {
            return;
        }
        let threads = pool::threads();
        let macs = m.saturating_mul(n).saturating_mul(k);
        let by_rows = m >= n;
        let span = if by_rows { m } else { n };
        let blocks = if threads > 1 && macs >= PARALLEL_MIN_MACS {
            threads.min(span / MIN_BLOCK).max(1)
        } else {
            1
        };
        let passes_in_tasks = blocks > 1 && by_rows;
        if !passes_in_tasks && let Some(pass) = before {
            par_rows(m, n, pass);
        }
        if blocks <= 1 {
            // SAFETY: forwarded from the caller.
            unsafe { self.gemm() };
        } else {
            // Blocks of whole 8-row (8-column) groups, so the kernel's tiles line up.
            let per = span.div_ceil(blocks).next_multiple_of(8);
            pool::run(blocks, &|b| {
                let start = b * per;
                if start >= span {
                    return;
                }
                let rows = start..start + per.min(span - start);
                // SAFETY: block `b` writes rows (or columns) `rows` of `dst` only, and
                // runs the passes on those rows.
                unsafe {
                    if by_rows {
                        if let Some(pass) = before {
                            pass(rows.clone());
                        }
                        self.rows(rows.clone()).gemm();
                        if let Some(pass) = after {
                            pass(rows);
                        }
                    } else {
                        self.columns(rows).gemm();
                    }
                }
            });
        }
        if !passes_in_tasks && let Some(pass) = after {
            par_rows(m, n, pass);
        }
    }

    /// The part of the product that computes rows `rows` of `dst`.
    fn rows(self, rows: Range<usize>) -> Product {
        let s = rows.start as isize;
        Product {
            m: rows.len(),
            dst: self.dst.shifted(s * self.dst.rs),
            lhs: self.lhs.shifted(s * self.lhs.rs),
            ..self
        }
    }

    /// The part of the product that computes columns `columns` of `dst`.
    fn columns(self, columns: Range<usize>) -> Product {
        let s = columns.start as isize;
        Product {
            n: columns.len(),
            dst: self.dst.shifted(s * self.dst.cs),
            rhs: self.rhs.shifted(s * self.rhs.cs),
            ..self
        }
    }

    /// The whole product in one `gemm` call on this thread.
    ///
    /// # Safety
    /// As [`Product::run`].
    unsafe fn gemm(self) {
        let Product {
            m,
            n,
            k,
            dst,
            lhs,
            rhs,
            accumulate,
        } = self;
        // SAFETY: forwarded from the caller.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.ptr,
                dst.cs,
                dst.rs,
                accumulate,
                lhs.ptr,
                lhs.cs,
                lhs.rs,
                rhs.ptr,
                rhs.cs,
                rhs.rs,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Element-wise passes over parameter arrays longer than this run in parallel blocks.
const PARALLEL_MIN_PARAMS: usize = 1 << 16;

/// The trainer's state: parameters, moments and every scratch buffer, sized once.
pub(crate) struct Fused {
    widths: Vec<usize>,
    activation: Activation,
    /// Probability of keeping a hidden unit (1.0: no dropout).
    keep: f32,
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
    grad_w: Vec<Vec<f32>>,
    grad_b: Vec<Vec<f32>>,
    /// Per hidden layer: pre-activations, then activations (after dropout), `[batch, width]`.
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
    /// Per hidden layer: dropout multipliers (0 or 1/keep), when dropout is on.
    masks: Vec<Vec<f32>>,
    /// The batch's first `sparse_from` inputs per sample, `[batch, sparse_from]`.
    input: Vec<f32>,
    /// Inputs from this one on are mostly zeros (missing indicators, one-hot and hashed
    /// categories): the first layer takes them as the non-zero `(input, value)` pairs of
    /// each sample and adds `value * weight row` instead of multiplying the zeros. The input
    /// width when every input is dense.
    sparse_from: usize,
    /// Those pairs for every row of the data being trained on, found once per fit rather
    /// than once per step (see [`Fused::index_sparse`]).
    sparse: Option<SparseIndex>,
    /// The data rows of the batch, in batch order.
    batch_rows: Vec<usize>,
    output: Vec<f32>,
    /// Gradients flowing backwards, ping-ponged between layers.
    delta: [Vec<f32>; 2],
    rng: StdRng,
    /// `stateful.anchor`'s penalty, whose gradient joins the loss's before each Adam step.
    anchor: Option<Anchor>,
}

impl Fused {
    /// A trainer for `weights`, with batches of up to `batch` rows.
    pub(crate) fn new(
        weights: &MlpWeights,
        activation: Activation,
        dropout: f64,
        batch: usize,
        dropout_seed: u64,
    ) -> Fused {
        let widths = weights.widths();
        let layers = weights.layers.len();
        let hidden = layers.saturating_sub(1);
        let widest = widths.iter().copied().max().unwrap_or(0);
        let keep = (1.0 - dropout) as f32;
        Fused {
            activation,
            keep,
            weights: weights.layers.iter().map(|l| l.weight.clone()).collect(),
            biases: weights.layers.iter().map(|l| l.bias.clone()).collect(),
            grad_w: weights
                .layers
                .iter()
                .map(|l| vec![0.0; l.weight.len()])
                .collect(),
            grad_b: weights
                .layers
                .iter()
                .map(|l| vec![0.0; l.bias.len()])
                .collect(),
            pre: (0..hidden)
                .map(|l| vec![0.0; batch * widths[l + 1]])
                .collect(),
            post: (0..hidden)
                .map(|l| vec![0.0; batch * widths[l + 1]])
                .collect(),
            masks: if keep < 1.0 {
                (0..hidden)
                    .map(|l| vec![0.0; batch * widths[l + 1]])
                    .collect()
            } else {
                Vec::new()
            },
            input: vec![0.0; batch * widths[0]],
            sparse_from: widths[0],
            sparse: None,
            batch_rows: Vec::new(),
            output: vec![0.0; batch * widths[layers]],
            delta: [vec![0.0; batch * widest], vec![0.0; batch * widest]],
            rng: StdRng::seed_from_u64(dropout_seed),
            widths,
            anchor: None,
        }
    }

    /// Takes inputs `from..` as sparse (see `sparse_from`); `None` or `from` past the input
    /// width: every input dense.
    pub(crate) fn set_sparse_from(&mut self, from: Option<usize>) {
        self.sparse_from = from.map_or(self.widths[0], |f| f.min(self.widths[0]));
    }

    /// Adds (or removes) the anchor penalty of every later step.
    pub(crate) fn set_anchor(&mut self, anchor: Option<Anchor>) {
        self.anchor = anchor;
    }

    /// The trained weights.
    pub(crate) fn weights(&self) -> MlpWeights {
        let mut out = MlpWeights {
            layers: Vec::with_capacity(self.weights.len()),
        };
        for (l, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            out.layers.push(relearn_model::LayerWeights {
                d_input: self.widths[l],
                d_output: self.widths[l + 1],
                weight: w.clone(),
                bias: b.clone(),
            });
        }
        out
    }

    /// One optimisation step on rows `rows` of `data`; returns the batch's summed loss.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        data: &Batch,
        rows: &[usize],
        task: Task,
        moments: &mut AdamMoments,
        lr: f64,
        weight_decay: f32,
        layers: &[LayerOptions],
    ) -> f64 {
        let b = rows.len();
        self.gather(data, rows);
        self.forward(b);
        let loss = self.loss_and_output_grad(b, rows, &data.targets, task);
        self.backward(b);
        self.adam(moments, lr, weight_decay, layers);
        loss
    }

    /// Loads rows `rows` of `data` as the batch: the dense inputs into `input`; the sparse
    /// ones are read from the fit's index by row.
    fn gather(&mut self, data: &Batch, rows: &[usize]) {
        let (d, p) = (self.widths[0], self.sparse_from);
        assert!(
            p == d || self.sparse.is_some(),
            "sparse inputs are indexed by `train` before any step"
        );
        for (r, &i) in rows.iter().enumerate() {
            self.input[r * p..(r + 1) * p].copy_from_slice(&data.features[i * d..i * d + p]);
        }
        self.batch_rows.clear();
        self.batch_rows.extend_from_slice(rows);
    }

    /// Finds the sparse inputs of every row of `data` (the data of the next steps) once.
    fn index_sparse(&mut self, data: &Batch) {
        let (d, p) = (self.widths[0], self.sparse_from);
        self.sparse = (p < d).then(|| {
            let mut index = SparseIndex {
                entries: Vec::new(),
                starts: vec![0],
            };
            for row in data.features.chunks_exact(d) {
                for (j, &x) in row.iter().enumerate().skip(p) {
                    if x != 0.0 {
                        index.entries.push((j, x));
                    }
                }
                index.starts.push(index.entries.len());
            }
            index
        });
    }

    fn forward(&mut self, b: usize) {
        let layers = self.weights.len();
        let activation = self.activation;
        for l in 0..layers {
            let (din, dout) = (self.widths[l], self.widths[l + 1]);
            let last = l + 1 == layers;
            // The product's inputs: the first layer's dense ones, every input of the others.
            let (input, k) = if l == 0 {
                (self.input.as_ptr(), self.sparse_from)
            } else {
                (self.post[l - 1].as_ptr(), din)
            };
            // Pre-activations of a hidden layer, or the output; then the activations.
            let out = SendPtr(if last {
                self.output.as_mut_ptr()
            } else {
                self.pre[l].as_mut_ptr()
            });
            let post = SendPtr(if last {
                std::ptr::null_mut()
            } else {
                self.post[l].as_mut_ptr()
            });
            let bias = &self.biases[l];
            let weights = &self.weights[l];
            let this = &*self;
            // The bias, plus (first layer) the sparse inputs' weight rows times their values.
            let fill_bias = |rows: Range<usize>| {
                let first = rows.start;
                // SAFETY: `out` is [b, dout]; `Product::run` hands each pass rows of its own.
                let out = unsafe { rows_of(out, rows, dout) };
                for (r, row) in out.chunks_exact_mut(dout).enumerate() {
                    row.copy_from_slice(bias);
                    if l == 0 {
                        for &(j, x) in sparse_of(&this.sparse, &this.batch_rows, first + r) {
                            add_scaled(row, x, &weights[j * dout..(j + 1) * dout]);
                        }
                    }
                }
            };
            let activate = |rows: Range<usize>| {
                // SAFETY: as above; `post` is [b, dout] too (a hidden layer's).
                let (pre, post) =
                    unsafe { (rows_of(out, rows.clone(), dout), rows_of(post, rows, dout)) };
                activate(activation, post, pre);
            };
            let dst = MatMut {
                ptr: out.get(),
                rs: dout as isize,
                cs: 1,
            };
            let lhs = MatRef {
                ptr: input,
                rs: k as isize,
                cs: 1,
            };
            let rhs = MatRef {
                ptr: weights.as_ptr(),
                rs: dout as isize,
                cs: 1,
            };
            let after: Option<RowPass> = if last { None } else { Some(&activate) };
            let product = Product {
                m: b,
                n: dout,
                k,
                dst,
                lhs,
                rhs,
                accumulate: true,
            };
            // SAFETY: `out` is [b, dout], `input` [b, k] (another buffer), weights
            // [din, dout] of which the product reads the first k rows; the passes touch only
            // their rows of `out` and `post`.
            unsafe { product.run(Some(&fill_bias), after) };
            if !last && self.keep < 1.0 {
                self.drop_out(l, b * dout);
            }
        }
    }

    /// Dropout on the first `len` activations of hidden layer `l`, in order (one random
    /// draw per element, on this thread, so the masks never depend on the thread count).
    fn drop_out(&mut self, l: usize, len: usize) {
        let (keep, scale) = (self.keep, 1.0 / self.keep);
        let post = &mut self.post[l][..len];
        let mask = &mut self.masks[l][..len];
        for (m, y) in mask.iter_mut().zip(post.iter_mut()) {
            let kept = self.rng.random::<f32>() < keep;
            *m = if kept { scale } else { 0.0 };
            *y = (*y * f32::from(u8::from(kept))) * scale;
        }
    }

    /// Writes d(mean loss)/d(output) into `delta[0]`; returns the summed loss of the batch.
    fn loss_and_output_grad(
        &mut self,
        b: usize,
        rows: &[usize],
        targets: &[f32],
        task: Task,
    ) -> f64 {
        let k = *self.widths.last().expect("an MLP has an output layer");
        let out = &self.output[..b * k];
        let grad = &mut self.delta[0][..b * k];
        let mut total = 0.0f64;
        match task {
            Task::Classification => {
                let inv_b = 1.0 / b as f32;
                for ((row, g), &i) in out.chunks_exact(k).zip(grad.chunks_exact_mut(k)).zip(rows) {
                    let t = targets[i] as usize;
                    assert!(t < k, "class {t} out of range for {k} outputs");
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0f32;
                    for (gj, &v) in g.iter_mut().zip(row) {
                        let e = (v - max).exp();
                        *gj = e;
                        sum += e;
                    }
                    total += f64::from(max + sum.ln() - row[t]);
                    let inv_sum = 1.0 / sum;
                    for gj in g.iter_mut() {
                        *gj *= inv_sum * inv_b;
                    }
                    g[t] -= inv_b;
                }
            }
            Task::Regression => {
                let scale = 2.0 / (b * k) as f32;
                for ((row, g), &i) in out.chunks_exact(k).zip(grad.chunks_exact_mut(k)).zip(rows) {
                    let t = targets[i];
                    for (gj, &y) in g.iter_mut().zip(row) {
                        let e = y - t;
                        total += f64::from(e * e) / k as f64;
                        *gj = e * scale;
                    }
                }
            }
        }
        total
    }

    fn backward(&mut self, b: usize) {
        let layers = self.weights.len();
        let mut cur = 0;
        for l in (0..layers).rev() {
            let (din, dout) = (self.widths[l], self.widths[l + 1]);
            let (input, k) = if l == 0 {
                (self.input.as_ptr(), self.sparse_from)
            } else {
                (self.post[l - 1].as_ptr(), din)
            };
            let dz = self.delta[cur].as_ptr();
            // grad_w = input^T . dz   ([k, b] . [b, dout]) for the dense inputs' rows
            let dst = MatMut {
                ptr: self.grad_w[l].as_mut_ptr(),
                rs: dout as isize,
                cs: 1,
            };
            let lhs = MatRef {
                ptr: input,
                rs: 1,
                cs: k as isize,
            };
            let rhs = MatRef {
                ptr: dz,
                rs: dout as isize,
                cs: 1,
            };
            let product = Product {
                m: k,
                n: dout,
                k: b,
                dst,
                lhs,
                rhs,
                accumulate: false,
            };
            // SAFETY: grad_w is [din, dout], of which the product writes the first k rows;
            // input [b, k] and dz [b, dout] are other buffers.
            unsafe { product.run(None, None) };
            if k < din {
                // The sparse inputs' rows: value times the sample's dz, batch row by row.
                let grad = &mut self.grad_w[l][k * dout..];
                grad.fill(0.0);
                let dz = &self.delta[cur][..b * dout];
                for (r, dz) in dz.chunks_exact(dout).enumerate() {
                    for &(j, x) in sparse_of(&self.sparse, &self.batch_rows, r) {
                        let at = (j - k) * dout;
                        add_scaled(&mut grad[at..at + dout], x, dz);
                    }
                }
            }
            // grad_b = column sums of dz, row by row.
            column_sums(&mut self.grad_b[l], &self.delta[cur][..b * dout]);
            if l == 0 {
                break;
            }
            // d(input) = dz . W^T   ([b, dout] . [dout, din]), into the other delta buffer.
            let next = 1 - cur;
            let (lo, hi) = self.delta.split_at_mut(1);
            let (src, dst_buf) = if cur == 0 {
                (&lo[0], &mut hi[0])
            } else {
                (&hi[0], &mut lo[0])
            };
            let dst = MatMut {
                ptr: dst_buf.as_mut_ptr(),
                rs: din as isize,
                cs: 1,
            };
            let lhs = MatRef {
                ptr: src.as_ptr(),
                rs: dout as isize,
                cs: 1,
            };
            let rhs = MatRef {
                ptr: self.weights[l].as_ptr(),
                rs: 1,
                cs: dout as isize,
            };
            // Through the activation of hidden layer l - 1, then its dropout.
            let grads = SendPtr(dst.ptr);
            let pre = &self.pre[l - 1];
            let masks = if self.keep < 1.0 {
                Some(&self.masks[l - 1])
            } else {
                None
            };
            let activation = self.activation;
            let through = |rows: Range<usize>| {
                let span = rows.start * din..rows.end * din;
                // SAFETY: `grads` is [b, din]; `Product::run` hands each pass rows of its own.
                let grad = unsafe { rows_of(grads, rows, din) };
                activation_backward(
                    activation,
                    grad,
                    &pre[span.clone()],
                    masks.map(|m| &m[span]),
                );
            };
            let product = Product {
                m: b,
                n: din,
                k: dout,
                dst,
                lhs,
                rhs,
                accumulate: false,
            };
            // SAFETY: dst is [b, din] in one delta buffer, src [b, dout] in the other; the
            // pass touches only its rows of dst.
            unsafe { product.run(None, Some(&through)) };
            cur = next;
        }
    }

    fn adam(
        &mut self,
        moments: &mut AdamMoments,
        lr: f64,
        weight_decay: f32,
        options: &[LayerOptions],
    ) {
        let layers = self.weights.len();
        moments.ensure_layers(layers);
        if let Some(anchor) = &self.anchor {
            for l in 0..layers {
                anchor.add_gradient(l, false, &self.weights[l], &mut self.grad_w[l]);
                anchor.add_gradient(l, true, &self.biases[l], &mut self.grad_b[l]);
            }
        }
        for l in 0..layers {
            // A frozen layer keeps its parameters and its moments (see `LayerOptions`).
            let layer = LayerOptions::of(options, l);
            if layer.frozen {
                continue;
            }
            let lr = layer.lr(lr);
            update(
                &mut self.weights[l],
                &self.grad_w[l],
                &mut moments.weights[l],
                lr,
                weight_decay,
            );
            update(
                &mut self.biases[l],
                &self.grad_b[l],
                &mut moments.biases[l],
                lr,
                weight_decay,
            );
        }
    }
}

/// Every row's sparse inputs: row `i`'s are `entries[starts[i]..starts[i + 1]]`.
struct SparseIndex {
    entries: Vec<(usize, f32)>,
    starts: Vec<usize>,
}

/// The sparse inputs of batch row `r` (data row `batch_rows[r]`); none when every input is
/// dense.
fn sparse_of<'a>(
    index: &'a Option<SparseIndex>,
    batch_rows: &[usize],
    r: usize,
) -> &'a [(usize, f32)] {
    match index {
        Some(index) => {
            let i = batch_rows[r];
            &index.entries[index.starts[i]..index.starts[i + 1]]
        }
        None => &[],
    }
}

/// Adam on one parameter array, in parallel blocks when it is large. Element-wise, so the
/// split does not change any value.
fn update(
    param: &mut [f32],
    grad: &[f32],
    moment: &mut Option<crate::optim::Moment>,
    lr: f64,
    wd: f32,
) {
    let n = param.len();
    let threads = pool::threads();
    if threads <= 1 || n < PARALLEL_MIN_PARAMS {
        adam_update(param, grad, moment, lr, wd);
        return;
    }
    let step = crate::optim::Moment::begin_step(moment, n, grad.len());
    let (time, first) = (step.time, step.first);
    let per = n.div_ceil(threads).next_multiple_of(16);
    let (p, g) = (
        SendPtr(param.as_mut_ptr()),
        SendPtr(grad.as_ptr().cast_mut()),
    );
    let (m1, m2) = (SendPtr(step.m1.as_mut_ptr()), SendPtr(step.m2.as_mut_ptr()));
    pool::run(n.div_ceil(per), &|b| {
        let block = b * per..(b * per + per).min(n);
        // SAFETY: block `b` owns elements `block` of each array; `g` is only read.
        let (p, g, m1, m2) = unsafe {
            (
                rows_of(p, block.clone(), 1),
                std::slice::from_raw_parts(g.get().add(block.start), block.len()),
                rows_of(m1, block.clone(), 1),
                rows_of(m2, block, 1),
            )
        };
        crate::optim::adam_update_slices(p, g, m1, m2, time, first, lr, wd);
    });
}

/// Rows `rows` of the `[_, width]` buffer at `buf`.
///
/// # Safety
/// The rows must lie in the buffer, and nothing else may use them while the slice lives.
unsafe fn rows_of<'a>(buf: SendPtr, rows: Range<usize>, width: usize) -> &'a mut [f32] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts_mut(buf.get().add(rows.start * width), rows.len() * width) }
}

/// `post = act(pre)`, element by element.
fn activate(activation: Activation, post: &mut [f32], pre: &[f32]) {
    match activation {
        Activation::Relu => relu(post, pre),
        Activation::Tanh => post.iter_mut().zip(pre).for_each(|(y, &x)| *y = x.tanh()),
        Activation::Gelu => post.iter_mut().zip(pre).for_each(|(y, &x)| *y = gelu(x)),
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint blocks of one array to pool tasks.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

with_avx2! {
    fn relu(post: &mut [f32], pre: &[f32]) {
        post.iter_mut().zip(pre).for_each(|(y, &x)| *y = if x > 0.0 { x } else { 0.0 });
    }
}

with_avx2! {
    fn relu_backward(grad: &mut [f32], pre: &[f32]) {
        grad.iter_mut().zip(pre).for_each(|(g, &x)| *g = if x > 0.0 { *g } else { 0.0 });
    }
}

with_avx2! {
    fn scale_by(grad: &mut [f32], by: &[f32]) {
        grad.iter_mut().zip(by).for_each(|(g, &m)| *g *= m);
    }
}

with_avx2! {
    /// `y += a * x`, element by element.
    fn add_scaled(y: &mut [f32], a: f32, x: &[f32]) {
        y.iter_mut().zip(x).for_each(|(y, &x)| *y += a * x);
    }
}

with_avx2! {
    fn column_sums(sums: &mut [f32], rows: &[f32]) {
        sums.fill(0.0);
        let n = sums.len();
        for row in rows.chunks_exact(n) {
            sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
        }
    }
}

/// `grad *= act'(pre)` (then the dropout multipliers), in place.
fn activation_backward(
    activation: Activation,
    grad: &mut [f32],
    pre: &[f32],
    masks: Option<&[f32]>,
) {
    match activation {
        Activation::Relu => relu_backward(grad, pre),
        Activation::Tanh => grad.iter_mut().zip(pre).for_each(|(g, &x)| {
            let y = x.tanh();
            *g *= 1.0 - y * y;
        }),
        Activation::Gelu => grad
            .iter_mut()
            .zip(pre)
            .for_each(|(g, &x)| *g *= gelu_grad(x)),
    }
    if let Some(masks) = masks {
        scale_by(grad, masks);
    }
}

/// Exact (erf) GELU, as Burn computes it: `x * 0.5 * (1 + erf(x / sqrt 2))`.
fn gelu(x: f32) -> f32 {
    x * 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// d GELU / dx = `0.5 (1 + erf(x / sqrt 2)) + x phi(x)`.
fn gelu_grad(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
        + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Trains `fused` for `epochs` over `data`; returns the last epoch's mean loss, or the first
/// epoch whose mean loss is not finite.
pub(crate) fn train(
    fused: &mut Fused,
    moments: &mut AdamMoments,
    data: &Batch,
    task: Task,
    settings: crate::FitSettings,
    weight_decay: f32,
    layers: &[LayerOptions],
) -> Result<f64, usize> {
    let n = data.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(settings.shuffle_seed);
    let mut last = f64::NAN;
    fused.index_sparse(data);
    for epoch in 0..settings.epochs {
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut rng);
        let mut sum = 0.0f64;
        for chunk in order.chunks(settings.batch_size.max(1)) {
            sum += fused.step(
                data,
                chunk,
                task,
                moments,
                settings.lr,
                weight_decay,
                layers,
            );
        }
        last = if n == 0 { 0.0 } else { sum / n as f64 };
        if !last.is_finite() {
            return Err(epoch);
        }
    }
    Ok(last)
}

/// The diagonal empirical Fisher of `weights` on `data`: per parameter, the mean over the
/// samples of the squared gradient of each sample's own loss (a backward pass per sample,
/// no dropout), in f64 sums. Zeros for an empty `data`.
pub(crate) fn fisher(
    weights: &MlpWeights,
    activation: Activation,
    data: &Batch,
    task: Task,
) -> MlpWeights {
    let mut fused = Fused::new(weights, activation, 0.0, 1, 0);
    let layers = fused.weights.len();
    let mut sum_w: Vec<Vec<f64>> = fused.grad_w.iter().map(|g| vec![0.0; g.len()]).collect();
    let mut sum_b: Vec<Vec<f64>> = fused.grad_b.iter().map(|g| vec![0.0; g.len()]).collect();
    for i in 0..data.len() {
        fused.gather(data, &[i]);
        fused.forward(1);
        fused.loss_and_output_grad(1, &[i], &data.targets, task);
        fused.backward(1);
        for l in 0..layers {
            for (s, &g) in sum_w[l].iter_mut().zip(&fused.grad_w[l]) {
                *s += f64::from(g) * f64::from(g);
            }
            for (s, &g) in sum_b[l].iter_mut().zip(&fused.grad_b[l]) {
                *s += f64::from(g) * f64::from(g);
            }
        }
    }
    let n = data.len().max(1) as f64;
    let mut out = fused.weights();
    for (l, layer) in out.layers.iter_mut().enumerate() {
        for (v, s) in layer.weight.iter_mut().zip(&sum_w[l]) {
            *v = (s / n) as f32;
        }
        for (v, s) in layer.bias.iter_mut().zip(&sum_b[l]) {
            *v = (s / n) as f32;
        }
    }
    out
}
