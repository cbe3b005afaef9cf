//! The per-request encoder and the per-request parts of the decoder and evaluator.

use super::*;

/// Fewest items for which the encoder splits its rows over two threads
/// (below it the hand-off costs more than the half it saves).
const SPLIT_ROWS: usize = 24;

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
        let h1 = self.m.cfg.eval_h1;
        self.m.gen.shared_row(
            self.be(),
            &self.m.cfg,
            self.req.items,
            self.req.user,
            grow(&mut s.enc.mean, dx),
            grow(&mut s.enc.ux, du + dx),
            grow(&mut s.enc.c1, h),
        )?;
        let c1 = &s.enc.c1[..h];
        let rows = EncRows {
            e1: grow(&mut s.enc.e1, n * h),
            h0pre: grow(&mut s.enc.h0pre, n * h),
            h0: grow(&mut s.enc.h0, n * h),
            keys0: grow(&mut s.enc.keys0, n * h),
            ek0: grow(&mut s.enc.ek0, n * h),
            px: grow(&mut s.ev.px, n * h1),
            pm: grow(&mut s.ev.pm, n * h1),
        };
        s.enc.ek0_ok = match pool {
            Some(p) if n >= SPLIT_ROWS => {
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
            let h0p = grow(&mut s.enc.h0p, pack::packed_len(n, h));
            pack::pack_f32(&s.enc.h0[..n * h], n, h, h0p)?;
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
        let (cfg, be) = (&self.m.cfg, self.be());
        let m = r.e1.len() / cfg.hidden;
        let it = self.req.items;
        let items = MatRef::with_stride(&it.data()[lo * it.stride()..], m, cfg.d_x, it.stride())?;
        let g = &self.m.gen;
        g.encode_rows(be, cfg, items, c1, r.e1, r.h0pre, r.h0, r.keys0)?;
        let ok = be.pointer_exp(r.keys0, r.ek0)?;
        // The evaluator's first layer, item blocks.
        self.m.eval.item_parts(be, cfg, items, r.px, r.pm)?;
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
        s.enc.hw_ok = shared * l.saturating_sub(1) > n;
        if s.enc.hw_ok {
            self.be().dense(
                MatRef::new(&s.enc.h0[..n * h], n, h)?,
                self.m.gen.ws.packed().columns(h, 2 * h)?,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.enc.hw, n * h), n, h)?,
            )?;
            s.flops += mm(n, h, h);
        }
        Ok(())
    }

    /// Fills the per-request rows of [`EvalParts`] (`cu`, `cpos`; the item
    /// projections come from [`Self::encode_rows`]). Returns the matrix
    /// FLOPs.
    pub(super) fn eval_parts(&self, ev: &mut EvalParts) -> Result<u64, ServeError> {
        let (m, l) = (self.m, self.req.len);
        Ok(m.eval
            .request_parts(self.be(), &m.cfg, self.req.user, l, ev)?)
    }
}
