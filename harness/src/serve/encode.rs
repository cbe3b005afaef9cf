//! The per-request encoder and the per-request parts of the decoder and evaluator.

use super::*;

impl Ctx<'_, '_> {
    /// The per-request encoder outputs (`e1`, `h0 = ReLU(P)` with its
    /// pre-activation `P = e1·W2ᵀ + b`, keys, `e^{2·keys}`, the evaluator's
    /// item projections) and the other per-request parts. Everything up to
    /// the item projections is row-wise, so with a pool the items are split
    /// in two halves that run on two threads (the products are
    /// row-independent: the same values either way).
    pub(super) fn encode_shared(
        &self,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<(), ServeError> {
        let (n, dx, du, h) = (self.n, self.m.cfg.d_x, self.m.cfg.d_u, self.h());
        let (w, h1) = (2 * dx + du, self.m.cfg.eval_h1);
        let mean = grow(&mut s.mean, dx);
        mean.fill(0.0);
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(self.req.items.row(i)) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f32);
        // W1 [x_i; u; mean x] + b = W1_x·x_i + c: the user and mean-item
        // blocks are the same for every item, so their product is one row.
        let ux = grow(&mut s.ux, du + dx);
        ux[..du].copy_from_slice(self.req.user);
        ux[du..].copy_from_slice(&s.mean[..dx]);
        let w1 = &self.m.gen.w1;
        self.be().dense(
            MatRef::new(&s.ux[..du + dx], 1, du + dx)?,
            w1.packed().columns(dx, w)?,
            Some(w1.bias()),
            Activation::Identity,
            MatMut::new(grow(&mut s.c1, h), 1, h)?,
        )?;
        let c1 = &s.c1[..h];
        let rows = EncRows {
            e1: grow(&mut s.e1, n * h),
            h0pre: grow(&mut s.h0pre, n * h),
            h0: grow(&mut s.h0, n * h),
            keys0: grow(&mut s.keys0, n * h),
            ek0: grow(&mut s.ek0, n * h),
            px: grow(&mut s.ev.px, n * h1),
            pm: grow(&mut s.ev.pm, n * h1),
        };
        s.ek0_ok = match pool {
            Some(p) if n >= 4 * last_kernels::TILE_ROWS => {
                let (a, b) = rows.split(n / 2, h, h1);
                let (ra, rb) = p.install(|| {
                    rayon::join(
                        || self.encode_rows(0, a, c1),
                        || self.encode_rows(n / 2, b, c1),
                    )
                });
                ra? && rb?
            }
            _ => self.encode_rows(0, rows, c1)?,
        };
        if let Variant::Parallel {
            target: Target::Keys,
            noise: NoiseSpec::LowRank(_),
            ..
        } = self.req.variant
        {
            let h0p = grow(&mut s.h0p, pack::packed_len(n, h));
            pack::pack_f32(&s.h0[..n * h], n, h, h0p)?;
        }
        s.flops += mm(1, h, du + dx) + mm(n, h, dx) + 2 * mm(n, h, h) + 2 * mm(n, h1, dx);
        self.decoder_parts(s)?;
        s.flops += self.eval_parts(&mut s.ev)?;
        Ok(())
    }

    /// The row-wise encoder for items `lo..lo + m` (`m` = the rows of `r`),
    /// given the items' shared first-layer row `c1`; returns whether every
    /// key is in the exponential form's range.
    pub(super) fn encode_rows(
        &self,
        lo: usize,
        r: EncRows<'_>,
        c1: &[f32],
    ) -> Result<bool, ServeError> {
        let (dx, du, h) = (self.m.cfg.d_x, self.m.cfg.d_u, self.h());
        let m = r.e1.len() / h;
        let (g, be) = (&self.m.gen, self.be());
        let it = self.req.items;
        let items = MatRef::with_stride(&it.data()[lo * it.stride()..], m, dx, it.stride())?;
        // e1 = ReLU(W1_x·x_i + c1).
        for row in r.e1.chunks_exact_mut(h) {
            row.copy_from_slice(c1);
        }
        let w1x = g.w1.packed().columns(0, dx)?;
        be.dense_add(items, w1x, None, Activation::Relu, MatMut::new(r.e1, m, h)?)?;
        let fwd = |l: &Layer, x: &[f32], act, y: &mut [f32]| -> Result<(), ServeError> {
            Ok(l.forward(be, MatRef::new(x, m, l.k)?, act, MatMut::new(y, m, l.n)?)?)
        };
        // h0 = ReLU(P), P kept for gradient exploration's steps (the same
        // values as the fused ReLU).
        fwd(&g.w2, r.e1, Activation::Identity, r.h0pre)?;
        for (o, p) in r.h0.iter_mut().zip(r.h0pre.iter()) {
            *o = p.max(0.0);
        }
        fwd(&g.a, r.h0, Activation::Identity, r.keys0)?;
        let ok = be.pointer_exp(r.keys0, r.ek0)?;
        // The evaluator's first layer, item blocks (see `EvalParts`).
        let l1 = self.m.eval.l1.packed();
        let h1 = self.m.cfg.eval_h1;
        let id = Activation::Identity;
        be.dense(
            items,
            l1.columns(0, dx)?,
            None,
            id,
            MatMut::new(r.px, m, h1)?,
        )?;
        let wm = l1.columns(dx + du, 2 * dx + du)?;
        be.dense(items, wm, None, id, MatMut::new(r.pm, m, h1)?)?;
        Ok(ok)
    }

    /// `Ws [s_t; h_pick] = Ws_s·s_t + Ws_h·h_pick`: for candidates that share
    /// the request's `h0`, the second term is a row of `h0·Ws_hᵀ`, computed
    /// once (N·H·H multiply-adds) instead of once per candidate and step
    /// ((L−1)·H·H each). Worth it when more than N/(L−1) candidates share
    /// h0 besides the baseline and their states diverge: best-of-K. (Key
    /// noise shares states by pick prefix instead, and with the baseline,
    /// whose states take the full product.)
    pub(super) fn decoder_parts(&self, s: &mut Scratch) -> Result<(), ServeError> {
        let (n, h, l) = (self.n, self.h(), self.req.len);
        let shared = match self.req.variant {
            Variant::BestOfK { k } => k.saturating_sub(1),
            _ => 0,
        };
        s.hw_ok = shared * l.saturating_sub(1) > n;
        if s.hw_ok {
            self.be().dense(
                MatRef::new(&s.h0[..n * h], n, h)?,
                self.m.gen.ws.packed().columns(h, 2 * h)?,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.hw, n * h), n, h)?,
            )?;
            s.flops += mm(n, h, h);
        }
        Ok(())
    }

    /// Fills the per-request rows of [`EvalParts`] (`cu`, `cpos`; the item
    /// projections come from [`Self::encode_rows`]). Returns the matrix
    /// FLOPs.
    pub(super) fn eval_parts(&self, ev: &mut EvalParts) -> Result<u64, ServeError> {
        let (be, cfg) = (self.be(), &self.m.cfg);
        let (l, dx, du, pd, h1) = (self.req.len, cfg.d_x, cfg.d_u, cfg.pos_dim, cfg.eval_h1);
        let l1 = &self.m.eval.l1;
        let w = l1.packed();
        let id = Activation::Identity;
        let cu = grow(&mut ev.cu, h1);
        be.dense(
            MatRef::new(self.req.user, 1, du)?,
            w.columns(dx, dx + du)?,
            Some(l1.bias()),
            id,
            MatMut::new(cu, 1, h1)?,
        )?;
        let cpos = grow(&mut ev.cpos, l * h1);
        be.dense(
            MatRef::new(&self.m.eval.pos[..l * pd], l, pd)?,
            w.columns(2 * dx + du, 2 * dx + du + pd)?,
            None,
            id,
            MatMut::new(cpos, l, h1)?,
        )?;
        for row in cpos.chunks_exact_mut(h1) {
            row.iter_mut().zip(&ev.cu[..h1]).for_each(|(p, c)| *p += c);
        }
        Ok(mm(1, h1, du) + mm(l, h1, pd))
    }
}
