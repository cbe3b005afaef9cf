//! The list-wise evaluator (docs/DESIGN.md §5) and its one forward pass.
//!
//! Position `t` of a list π has the input
//! `z_t = [x_{π_t}; u; mean of x above t; P_t]` → 128 ReLU → 64 ReLU →
//! 1 sigmoid (the click probability `c_t`); the list's score is
//! `Σ_t w_t·c_t`. The first layer is linear in each block of `z_t`, so
//!
//! `W·z_t + b = Wx·x_{π_t} + (1/t)·Σ_{s<t} Wm·x_{π_s} + (Wu·u + Wp·P_t + b)`:
//!
//! the item blocks `Wx·x_i`, `Wm·x_i` are computed once per item
//! ([`Evaluator::item_parts`]), the user and position blocks once per request
//! ([`Evaluator::request_parts`]), and each position of each list only adds
//! three rows ([`Evaluator::first_layer`]) instead of a 176-wide product per
//! output. Position `t` depends only on the list's first `t + 1` items, so
//! lists sharing a prefix share those rows; the dense layers are
//! row-independent, so sharing changes no value. Serving and training both
//! run this forward pass; training's backward is in `crate::train`.

use super::{Config, Layer};
use last_kernels::{Activation, Backend, KernelError, MatMut, MatRef};

/// Evaluator parameters.
#[derive(Debug, Clone)]
pub struct Evaluator {
    /// First layer.
    pub l1: Layer,
    /// Second layer.
    pub l2: Layer,
    /// Click-probability head.
    pub l3: Layer,
    /// Position embeddings, max_len × pos_dim.
    pub pos: Vec<f32>,
}

/// The first layer split by input block for one request (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct EvalParts {
    /// `Wx·x_i`, one row of `eval_h1` per item.
    pub px: Vec<f32>,
    /// `Wm·x_i`, one row per item.
    pub pm: Vec<f32>,
    /// `Wu·u + b`.
    pub cu: Vec<f32>,
    /// `Wp·P_t + Wu·u + b`, one row per position.
    pub cpos: Vec<f32>,
}

/// The rows of one batched forward pass over lists.
#[derive(Debug, Default, Clone)]
pub struct EvalRows {
    /// Row of each (list, position): lists sharing a prefix share rows.
    pub node: Vec<usize>,
    /// First-layer activations, one row per distinct row.
    pub e1: Vec<f32>,
    /// Second-layer activations.
    pub e2: Vec<f32>,
    /// Click probability per distinct row.
    pub c: Vec<f32>,
    /// Running sum of the "items above" block of one list.
    above: Vec<f32>,
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

impl Evaluator {
    /// The item blocks `Wx·x_i` and `Wm·x_i` of the first layer for the
    /// rows of `items` (into `px`, `pm`: `items.rows() × eval_h1` each).
    pub fn item_parts(
        &self,
        be: Backend,
        cfg: &Config,
        items: MatRef<'_>,
        px: &mut [f32],
        pm: &mut [f32],
    ) -> Result<(), KernelError> {
        let (dx, du, h1, m) = (cfg.d_x, cfg.d_u, cfg.eval_h1, items.rows());
        let l1 = self.l1.packed();
        let id = Activation::Identity;
        be.dense(items, l1.columns(0, dx)?, None, id, MatMut::new(px, m, h1)?)?;
        let wm = l1.columns(dx + du, 2 * dx + du)?;
        be.dense(items, wm, None, id, MatMut::new(pm, m, h1)?)
    }

    /// The per-request rows of [`EvalParts`] (`cu`, `cpos` for positions
    /// `0..len`); the item rows come from [`Self::item_parts`]. Returns the
    /// matrix FLOPs.
    pub fn request_parts(
        &self,
        be: Backend,
        cfg: &Config,
        user: &[f32],
        len: usize,
        parts: &mut EvalParts,
    ) -> Result<u64, KernelError> {
        let (dx, du, pd, h1) = (cfg.d_x, cfg.d_u, cfg.pos_dim, cfg.eval_h1);
        let w = self.l1.packed();
        let id = Activation::Identity;
        let cu = grow(&mut parts.cu, h1);
        be.dense(
            MatRef::new(user, 1, du)?,
            w.columns(dx, dx + du)?,
            Some(self.l1.bias()),
            id,
            MatMut::new(cu, 1, h1)?,
        )?;
        let cpos = grow(&mut parts.cpos, len * h1);
        be.dense(
            MatRef::new(&self.pos[..len * pd], len, pd)?,
            w.columns(2 * dx + du, 2 * dx + du + pd)?,
            None,
            id,
            MatMut::new(cpos, len, h1)?,
        )?;
        for row in cpos.chunks_exact_mut(h1) {
            row.iter_mut()
                .zip(&parts.cu[..h1])
                .for_each(|(p, c)| *p += c);
        }
        Ok(2 * (h1 * du + len * h1 * pd) as u64)
    }

    /// The first layer's rows for `lists` (row-major, each `len` long, item
    /// indices into the rows of `parts`): writes `rows.node` for every
    /// (list, position) and `rows.e1` for each distinct row, and returns the
    /// number of distinct rows. A list's prefix is looked up among the
    /// previous `window` lists (0: no sharing).
    pub fn first_layer(
        &self,
        cfg: &Config,
        parts: &EvalParts,
        lists: &[usize],
        len: usize,
        window: usize,
        rows: &mut EvalRows,
    ) -> usize {
        let h1 = cfg.eval_h1;
        let count = lists.len() / len;
        let node = grow(&mut rows.node, count * len);
        // Sized for every row, not just the distinct ones, so a request with
        // fewer shared prefixes never reallocates.
        let e1 = grow(&mut rows.e1, count * len * h1);
        let acc = grow(&mut rows.above, h1);
        let mut u = 0;
        for (j, list) in lists.chunks_exact(len).enumerate() {
            acc.fill(0.0);
            for (t, &item) in list.iter().enumerate() {
                let shared = (j.saturating_sub(window)..j).rev().find(|&i| {
                    lists[i * len + t] == item
                        && (t == 0 || node[i * len + t - 1] == node[j * len + t - 1])
                });
                if let Some(i) = shared {
                    node[j * len + t] = node[i * len + t];
                } else {
                    node[j * len + t] = u;
                    let row = &mut e1[u * h1..(u + 1) * h1];
                    let inv = if t > 0 { 1.0 / t as f32 } else { 0.0 };
                    let px = &parts.px[item * h1..(item + 1) * h1];
                    let cp = &parts.cpos[t * h1..(t + 1) * h1];
                    for (((o, x), c), a) in row.iter_mut().zip(px).zip(cp).zip(acc.iter()) {
                        *o = (x + c + a * inv).max(0.0);
                    }
                    u += 1;
                }
                let pm = &parts.pm[item * h1..(item + 1) * h1];
                acc.iter_mut().zip(pm).for_each(|(a, m)| *a += m);
            }
        }
        u
    }

    /// The second layer and the head over the first `u` rows of `rows.e1`
    /// (into `rows.e2`, `rows.c`). Returns the matrix FLOPs.
    pub fn head(
        &self,
        be: Backend,
        cfg: &Config,
        u: usize,
        rows: &mut EvalRows,
    ) -> Result<u64, KernelError> {
        let (h1, h2) = (cfg.eval_h1, cfg.eval_h2);
        // Sized like `e1` (see `first_layer`).
        let cap = rows.e1.len() / h1;
        grow(&mut rows.e2, cap * h2);
        grow(&mut rows.c, cap);
        self.l2.forward(
            be,
            MatRef::new(&rows.e1[..u * h1], u, h1)?,
            Activation::Relu,
            MatMut::new(&mut rows.e2[..u * h2], u, h2)?,
        )?;
        self.l3.forward(
            be,
            MatRef::new(&rows.e2[..u * h2], u, h2)?,
            Activation::Sigmoid,
            MatMut::new(&mut rows.c[..u], u, 1)?,
        )?;
        Ok(2 * (u * h2 * h1 + u * h2) as u64)
    }

    /// List scores `Σ_t w_t·c_t` of `out.len()` lists from a forward pass's rows.
    pub fn list_scores(cfg: &Config, rows: &EvalRows, len: usize, out: &mut [f32]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = (0..len)
                .map(|t| cfg.position_weight(t) * rows.c[rows.node[j * len + t]])
                .sum();
        }
    }
}
