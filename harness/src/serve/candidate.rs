//! Phase 1 of a chunk: each candidate's encoder output `h_j` and pointer
//! keys `keys_j` (with `e^{2·keys}` for the exponential score form).
//! Unperturbed ones are read from the request's shared buffers, not copied.

use super::bf16::{Bf16Bufs, Input};
use super::*;
use last_kernels::bf16::Perturbation;

/// Buffers of the candidate phase.
#[derive(Debug, Default, Clone)]
pub(super) struct CandBufs {
    /// `h_j`, N × H per candidate (valid where `own_h`).
    pub(super) h: Vec<f32>,
    /// `keys_j`, N × H per candidate (valid where `own_k`).
    pub(super) keys: Vec<f32>,
    pub(super) own_h: Vec<bool>,
    pub(super) own_k: Vec<bool>,
    /// `e^{2·keys_j}`, and whether each candidate's keys are in the form's range.
    pub(super) ek: Vec<f32>,
    pub(super) ek_ok: Vec<bool>,
    /// Panel scratch of the perturbed products.
    pub(super) panel: Vec<f32>,
    /// Low-rank factors `U`, packed `U`, `Vᵀ` and `T = X·V`.
    pub(super) lr_u: Vec<f32>,
    pub(super) lr_up: Vec<f32>,
    pub(super) lr_vt: Vec<f32>,
    pub(super) lr_t: Vec<f32>,
    /// The bf16 products' scratch (bf16 models).
    pub(super) bf16: Bf16Bufs,
}

impl CandBufs {
    /// Candidate `j`'s encoder output (its own or the request's `h0`).
    pub(super) fn h_of<'a>(&'a self, j: usize, nh: usize, sh: &Shared<'a>) -> &'a [f32] {
        if self.own_h[j] {
            &self.h[j * nh..(j + 1) * nh]
        } else {
            &sh.h0[..nh]
        }
    }
}

impl Ctx<'_, '_> {
    /// Fills `cb` for `cands`; returns the matrix FLOPs.
    pub(super) fn candidate_outputs(
        &self,
        cands: &[Cand],
        cb: &mut CandBufs,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let be = self.be();
        let (c, nh) = (cands.len(), self.n * self.h());
        grow(&mut cb.h, c * nh);
        grow(&mut cb.keys, c * nh);
        grow(&mut cb.own_h, c);
        grow(&mut cb.own_k, c);
        cb.bf16.new_chunk();
        let mut flops = 0;
        for (j, cand) in cands.iter().enumerate() {
            flops += self.own_h(j, cand, cb, sh)?;
            flops += self.own_keys(j, cand, cb, sh)?;
        }
        // e^{2·keys} of the candidates' own keys (the exponential form of the
        // pointer scores, see `Backend::pointer_scores_exp`); shared keys use
        // the request's `ek0`. Keys outside the form's range fall back to the
        // rational-tanh kernel for that candidate (a deterministic choice).
        grow(&mut cb.ek, c * nh);
        grow(&mut cb.ek_ok, c);
        for j in 0..c {
            cb.ek_ok[j] = if cb.own_k[j] {
                let r = j * nh..(j + 1) * nh;
                be.pointer_exp(&cb.keys[r.clone()], &mut cb.ek[r])?
            } else {
                sh.ek0_ok
            };
        }
        Ok(flops)
    }

    /// The full-rank perturbation of a noise or table candidate (what the
    /// bf16 path forms as `bf16(W + σE)`).
    fn full_rank_noise<'c>(&'c self, cand: &'c Cand) -> Option<(Perturbation<'c>, f32)> {
        match cand {
            Cand::Noise(nz, sigma) => Some((Perturbation::Noise(nz), *sigma)),
            Cand::Table(c, sigma) => {
                let table = self.m.noise_table().slice(self.req.seed, *c);
                Some((Perturbation::Table(table), *sigma))
            }
            _ => None,
        }
    }

    fn target(&self) -> Target {
        match self.req.variant {
            Variant::Parallel { target, .. } => target,
            _ => Target::W2,
        }
    }

    /// `h_j` when candidate `j` perturbs the encoder (sets `own_h[j]`);
    /// returns the matrix FLOPs.
    fn own_h(
        &self,
        j: usize,
        cand: &Cand,
        cb: &mut CandBufs,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (be, g) = (self.be(), &self.m.gen);
        let (n, h) = (self.n, self.h());
        let nh = n * h;
        let (w2, e1) = (g.w2.packed(), MatRef::new(&sh.e1[..nh], n, h)?);
        let out = &mut cb.h[j * nh..(j + 1) * nh];
        let (bias, relu) = (Some(g.w2.bias()), Activation::Relu);
        let perturb_w2 = self.target() == Target::W2;
        cb.own_h[j] = true;
        if let (Some(bb), true) = (self.bf16(), perturb_w2) {
            if let Some(noise) = self.full_rank_noise(cand) {
                let (y, x) = (MatMut::new(out, n, h)?, Input::Shared(e1));
                cb.bf16.product(be, bb, &g.w2, Some(noise), x, relu, y)?;
                return Ok(mm(n, h, h));
            }
        }
        match cand {
            Cand::Noise(nz, sigma) if perturb_w2 => {
                let panel = grow(&mut cb.panel, perturbed_scratch_len(h));
                let y = MatMut::new(out, n, h)?;
                be.dense_perturbed(e1, w2, nz, *sigma, bias, relu, y, panel)?;
                Ok(mm(n, h, h))
            }
            Cand::LowRank(nz, r, sigma) if perturb_w2 => {
                let (u, up, vt) = (&mut cb.lr_u, &mut cb.lr_up, &mut cb.lr_vt);
                let lr = low_rank(be, u, up, vt, nz, *r, *sigma, h, h)?;
                let (y, t) = (MatMut::new(out, n, h)?, grow(&mut cb.lr_t, n * r));
                be.dense_low_rank(e1, w2, lr, bias, relu, y, t)?;
                Ok(mm(n, h, h) + mm(n, *r, h) + mm(n, h, *r))
            }
            Cand::Table(cand, sigma) if perturb_w2 => {
                let panel = grow(&mut cb.panel, perturbed_scratch_len(h));
                let table = self.m.noise_table().slice(self.req.seed, *cand);
                let y = MatMut::new(out, n, h)?;
                be.dense_perturbed_table(e1, w2, table, *sigma, bias, relu, y, panel)?;
                Ok(mm(n, h, h))
            }
            Cand::Serial(q, sg) => {
                let eq = &sh.ser_e[*q as usize * nh..(*q as usize + 1) * nh];
                let parts = sh.h0pre[..nh].iter().zip(&sh.ser_r[..nh]).zip(eq);
                for (o, ((p, r), e)) in out.iter_mut().zip(parts) {
                    *o = (p + r + sg * e).max(0.0);
                }
                Ok(0)
            }
            Cand::Ladder(k) => {
                let parts = sh.h0pre[..nh].iter().zip(&sh.gq[..nh]);
                for (o, (p, q)) in out.iter_mut().zip(parts) {
                    *o = (p + k * q).max(0.0);
                }
                Ok(0)
            }
            _ => {
                cb.own_h[j] = false;
                Ok(0)
            }
        }
    }

    /// `keys_j` when candidate `j` has keys of its own (sets `own_k[j]`):
    /// key noise, or `A·h_j` for a candidate with its own `h_j`. Returns the
    /// matrix FLOPs.
    fn own_keys(
        &self,
        j: usize,
        cand: &Cand,
        cb: &mut CandBufs,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (be, g) = (self.be(), &self.m.gen);
        let (n, h) = (self.n, self.h());
        let nh = n * h;
        let h0 = MatRef::new(&sh.h0[..nh], n, h)?;
        let (a, bias, id) = (g.a.packed(), Some(g.a.bias()), Activation::Identity);
        let perturb_keys = self.target() == Target::Keys;
        cb.own_k[j] = true;
        if let (Some(bb), true) = (self.bf16(), perturb_keys) {
            if let Some(noise) = self.full_rank_noise(cand) {
                let y = MatMut::new(&mut cb.keys[j * nh..(j + 1) * nh], n, h)?;
                cb.bf16
                    .product(be, bb, &g.a, Some(noise), Input::Shared(h0), id, y)?;
                return Ok(mm(n, h, h));
            }
        }
        match cand {
            Cand::Noise(nz, sigma) if perturb_keys => {
                let panel = grow(&mut cb.panel, perturbed_scratch_len(h));
                let y = MatMut::new(&mut cb.keys[j * nh..(j + 1) * nh], n, h)?;
                be.dense_perturbed(h0, a, nz, *sigma, bias, id, y, panel)?;
                Ok(mm(n, h, h))
            }
            Cand::Table(cand, sigma) if perturb_keys => {
                let panel = grow(&mut cb.panel, perturbed_scratch_len(h));
                let table = self.m.noise_table().slice(self.req.seed, *cand);
                let y = MatMut::new(&mut cb.keys[j * nh..(j + 1) * nh], n, h)?;
                be.dense_perturbed_table(h0, a, table, *sigma, bias, id, y, panel)?;
                Ok(mm(n, h, h))
            }
            Cand::LowRank(nz, r, sigma) if perturb_keys => {
                self.low_rank_keys(j, nz, *r, *sigma, cb, sh)
            }
            Cand::Plain | Cand::Sample(_) => {
                cb.own_k[j] = false;
                Ok(0)
            }
            _ if perturb_keys => {
                cb.own_k[j] = false;
                Ok(0)
            }
            _ => {
                let r = j * nh..(j + 1) * nh;
                let x = MatRef::new(&cb.h[r.clone()], n, h)?;
                let y = MatMut::new(&mut cb.keys[r], n, h)?;
                match self.bf16() {
                    Some(bb) => cb.bf16.product(be, bb, &g.a, None, Input::Own(x), id, y)?,
                    None => g.a.forward(be, x, id, y)?,
                }
                Ok(mm(n, h, h))
            }
        }
    }

    /// Low-rank key noise: `keys' = h·(A + σ'·U·Vᵀ)ᵀ + b = keys0 + σ'·(h·V)·Uᵀ`,
    /// the shared keys plus a rank-r correction (N·H·r work instead of
    /// N·H·H). Same draws as `low_rank`; the sum is rounded in a different
    /// order than the fused low-rank kernel would (deterministic).
    #[allow(clippy::too_many_arguments)]
    fn low_rank_keys(
        &self,
        j: usize,
        nz: &Noise,
        r: usize,
        sigma: f32,
        cb: &mut CandBufs,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let be = self.be();
        let (n, h) = (self.n, self.h());
        let sig = sigma / (r as f32).sqrt();
        be.noise_fill(nz, 0, grow(&mut cb.lr_u, h * r));
        be.noise_fill(nz, (h * r) as u32, grow(&mut cb.lr_vt, r * h));
        // Tᵀ = Vᵀ·h0ᵀ (r × N) against the request's packed h0: an r-row
        // product, no packing per candidate.
        let h0p = pack::PackedF32::from_packed(&sh.h0p[..pack::packed_len(n, h)], n, h)?;
        let t = grow(&mut cb.lr_t, r * n);
        let vt = MatRef::new(&cb.lr_vt[..r * h], r, h)?;
        be.dense(vt, h0p, None, Activation::Identity, MatMut::new(t, r, n)?)?;
        let u = &cb.lr_u[..h * r];
        let keys = &mut cb.keys[j * n * h..(j + 1) * n * h];
        for (i, kr) in keys.chunks_exact_mut(h).enumerate() {
            kr.copy_from_slice(&sh.keys0[i * h..(i + 1) * h]);
            for rr in 0..r {
                let a = sig * cb.lr_t[rr * n + i];
                if r == 1 {
                    kr.iter_mut().zip(u).for_each(|(kv, uv)| *kv += a * uv);
                } else {
                    for (jj, kv) in kr.iter_mut().enumerate() {
                        *kv += a * u[jj * r + rr];
                    }
                }
            }
        }
        Ok(2 * mm(n, h, r))
    }
}
