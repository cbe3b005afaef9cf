//! The evaluator over a batch of lists, sharing rows by prefix.

use super::*;

impl Ctx<'_, '_> {
    /// Scores `count` lists of length L (row-major in `lists`) with the
    /// evaluator, one batched forward pass over all their positions (the
    /// first layer from the request's [`EvalParts`]); writes
    /// `b.out_scores[..count]` and returns the matrix FLOPs.
    pub(super) fn evaluate(
        &self,
        lists: &[usize],
        count: usize,
        b: &mut ChunkBufs,
        parts: &EvalParts,
    ) -> Result<u64, ServeError> {
        let be = self.be();
        let cfg = &self.m.cfg;
        let ev = &self.m.eval;
        let l = self.req.len;
        let rows = count * l;
        let (h1, h2) = (cfg.eval_h1, cfg.eval_h2);
        // Position t of a list depends only on the list's first t + 1 items,
        // so lists sharing a prefix share those rows: each (list, position)
        // maps to a row of the prefix tree (`node`), and only distinct rows
        // go through the MLP. A list's prefix is looked up among the
        // previous `PREFIX_WINDOW` lists (candidates of one chunk; neighbours
        // in the exhaustive variant's lexicographic order). The dense layers
        // are row-independent, so this changes no value.
        const PREFIX_WINDOW: usize = 16;
        let node = grow(&mut b.node, rows);
        let e1 = grow(&mut b.e1, rows * h1);
        let acc = grow(&mut b.above, h1);
        let mut u = 0;
        for (j, list) in lists[..rows].chunks_exact(l).enumerate() {
            acc.fill(0.0);
            for (t, &item) in list.iter().enumerate() {
                let shared = (j.saturating_sub(PREFIX_WINDOW)..j).rev().find(|&i| {
                    lists[i * l + t] == item
                        && (t == 0 || node[i * l + t - 1] == node[j * l + t - 1])
                });
                if let Some(i) = shared {
                    node[j * l + t] = node[i * l + t];
                } else {
                    node[j * l + t] = u;
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
        // Sized for every row, not just the distinct ones, so a request
        // with fewer shared prefixes never reallocates.
        grow(&mut b.e2, rows * h2);
        grow(&mut b.c, rows);
        ev.l2.forward(
            be,
            MatRef::new(&b.e1[..u * h1], u, h1)?,
            Activation::Relu,
            MatMut::new(&mut b.e2[..u * h2], u, h2)?,
        )?;
        ev.l3.forward(
            be,
            MatRef::new(&b.e2[..u * h2], u, h2)?,
            Activation::Sigmoid,
            MatMut::new(&mut b.c[..u], u, 1)?,
        )?;

        let out = grow(&mut b.out_scores, count);
        for (j, o) in out.iter_mut().enumerate() {
            *o = (0..l)
                .map(|t| cfg.position_weight(t) * b.c[b.node[j * l + t]])
                .sum();
        }
        Ok(mm(u, h2, h1) + mm(u, 1, h2))
    }
}

impl ChunkBufs {
    /// The evaluator's click probability at position `t` of list `j` (lists
    /// of length `l`) of the last [`Ctx::evaluate`] call. `c` holds one value
    /// per distinct prefix-tree row, not one per (list, position): rows are
    /// shared between lists with a common prefix, and `c` past the distinct
    /// rows keeps whatever an earlier request left there, so every reader
    /// goes through `node`.
    pub(super) fn click(&self, l: usize, j: usize, t: usize) -> f32 {
        self.c[self.node[j * l + t]]
    }
}
