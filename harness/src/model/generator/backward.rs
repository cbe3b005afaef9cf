//! The generator's one backward pass (see the parent module).

use super::{grow, EncoderTape, GenBackwardBufs, Generator, GradTarget};
use crate::model::DenseParams;
use last_kernels::{math, Activation, Backend, KernelError, MatMut, MatRef};

/// One item's share of a decoder step: with `gi = ∂loss/∂score_i`, adds
/// `gi·v·tanh'(k + q)` to `dk` and `dq` and, when given, `gi·tanh(k + q)` to
/// `dv`. `exp = (e^{2k}, e^{2q})` selects the exponential form (see
/// [`Generator::backward`]); the loops are elementwise so they vectorise.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn score_row_grads(
    gi: f32,
    v: &[f32],
    k: &[f32],
    q: &[f32],
    exp: Option<(&[f32], &[f32])>,
    dk: &mut [f32],
    dq: &mut [f32],
    dv: Option<&mut [f32]>,
) {
    match (exp, dv) {
        (Some((ek, eq)), None) => {
            for ((((dk, dq), e), f), v) in dk.iter_mut().zip(dq).zip(ek).zip(eq).zip(v) {
                let y = e * f;
                let r = 1.0 / (1.0 + y);
                let d = gi * v * (4.0 * y * r * r);
                *dk += d;
                *dq += d;
            }
        }
        (Some((ek, eq)), Some(dv)) => {
            for (((((dk, dq), e), f), v), dv) in
                dk.iter_mut().zip(dq).zip(ek).zip(eq).zip(v).zip(dv)
            {
                let y = e * f;
                let r = 1.0 / (1.0 + y);
                *dv += gi * (y - 1.0) * r;
                let d = gi * v * (4.0 * y * r * r);
                *dk += d;
                *dq += d;
            }
        }
        (None, mut dv) => {
            for j in 0..k.len() {
                let a = math::tanh_fast(k[j] + q[j]);
                if let Some(dv) = dv.as_deref_mut() {
                    dv[j] += gi * a;
                }
                let d = gi * v[j] * (1.0 - a * a);
                dk[j] += d;
                dq[j] += d;
            }
        }
    }
}

/// `dW += dYᵀ·X` and `db += Σ dY` for a layer `Y = W·X + b` (rows of `dy`, `x`).
fn dense_grads(
    be: Backend,
    dy: MatRef<'_>,
    x: MatRef<'_>,
    g: &mut DenseParams,
) -> Result<(), KernelError> {
    be.matmul_tn(dy, x, MatMut::new(&mut g.w, dy.cols(), x.cols())?, true)?;
    be.bias_grad(dy, &mut g.b)
}

impl Generator {
    /// The gradient of `Σ_t coef[t]·(−log p(π_t))` for the decode recorded
    /// in `tape` (over the encoder outputs in `enc`), back-propagated through
    /// the pointer scores, the keys, the decoder states (`s_0` via mean h,
    /// `s_{t+1}` via `h_{π_t}`) and the encoder; written as `target` says.
    pub fn backward(
        &self,
        be: Backend,
        enc: &EncoderTape<'_>,
        tape: &super::DecodeTape,
        coef: &[f32],
        mut target: GradTarget<'_>,
        bufs: &mut GenBackwardBufs,
    ) -> Result<(), KernelError> {
        let (n, h, du) = (tape.n, self.b.n, enc.user.len());
        let (nh, sdim, len) = (n * h, h + du, tape.list.len());
        let list = &tape.list;
        grow(&mut bufs.dk, nh).fill(0.0);
        grow(&mut bufs.dh, nh).fill(0.0);
        grow(&mut bufs.ds, h).fill(0.0);
        grow(&mut bufs.dq, h);
        grow(&mut bufs.dz, h);
        grow(&mut bufs.din, 2 * h + du);
        grow(&mut bufs.enc_in, (2 * h).max(sdim));
        grow(&mut bufs.taken, n);
        for t in (0..len).rev() {
            // The mask as it was at step t: the first t picks.
            let taken = &mut bufs.taken[..n];
            taken.fill(false);
            list[..t].iter().for_each(|&i| taken[i] = true);
            let q = &tape.q[t * h..(t + 1) * h];
            let dq = &mut bufs.dq[..h];
            dq.fill(0.0);
            // tanh'(k + q) = 1 − tanh² = 4y/(1 + y)² with y = e^{2k}·e^{2q}
            // (the exponential form of the forward scores; no overflow for
            // |k|, |q| ≤ EXP_FORM_LIMIT, and y → ∞ gives 0); the rational
            // tanh where the form's range check fails.
            let eq = grow(&mut bufs.eq, h);
            let ek = match enc.ek {
                Some(ek) if be.pointer_exp(q, eq)? => Some(ek),
                _ => None,
            };
            let mut dv = match &mut target {
                GradTarget::All(g) => Some(&mut g.v[..h]),
                GradTarget::W2(_) => None,
            };
            for i in (0..n).filter(|&i| !taken[i]) {
                let gi = coef[t] * (tape.p[t * n + i] - if i == list[t] { 1.0 } else { 0.0 });
                if gi == 0.0 {
                    continue;
                }
                let dkr = &mut bufs.dk[i * h..(i + 1) * h];
                let kr = &enc.keys[i * h..(i + 1) * h];
                score_row_grads(
                    gi,
                    &self.v,
                    kr,
                    q,
                    ek.map(|e| (&e[i * h..(i + 1) * h], &eq[..h])),
                    dkr,
                    dq,
                    dv.as_deref_mut(),
                );
            }
            // q_t = B s_t + b_b: ds_t += dq·B.
            let st = &tape.s[t * h..(t + 1) * h];
            let dqr = MatRef::new(&bufs.dq[..h], 1, h)?;
            if let GradTarget::All(g) = &mut target {
                dense_grads(be, dqr, MatRef::new(st, 1, h)?, &mut g.b)?;
            }
            be.matmul(
                dqr,
                MatRef::new(self.b.weight(), h, h)?,
                MatMut::new(&mut bufs.ds[..h], 1, h)?,
                true,
            )?;
            // s_t = tanh(z_t).
            for ((dz, d), sv) in bufs.dz[..h].iter_mut().zip(&bufs.ds[..h]).zip(st) {
                *dz = d * (1.0 - sv * sv);
            }
            let dzr = MatRef::new(&bufs.dz[..h], 1, h)?;
            if t > 0 {
                // z_t = Ws [s_{t−1}; h_{π_{t−1}}] + b.
                let p = list[t - 1];
                if let GradTarget::All(g) = &mut target {
                    let sin = &mut bufs.enc_in[..2 * h];
                    sin[..h].copy_from_slice(&tape.s[(t - 1) * h..t * h]);
                    sin[h..].copy_from_slice(&enc.h[p * h..(p + 1) * h]);
                    dense_grads(
                        be,
                        dzr,
                        MatRef::new(&bufs.enc_in[..2 * h], 1, 2 * h)?,
                        &mut g.ws,
                    )?;
                }
                let din = MatMut::new(&mut bufs.din[..2 * h], 1, 2 * h)?;
                be.matmul(dzr, MatRef::new(self.ws.weight(), h, 2 * h)?, din, false)?;
                bufs.ds[..h].copy_from_slice(&bufs.din[..h]);
                let dhp = &mut bufs.dh[p * h..(p + 1) * h];
                dhp.iter_mut()
                    .zip(&bufs.din[h..2 * h])
                    .for_each(|(d, v)| *d += v);
            } else {
                // z_0 = W0 [mean h; u] + b0.
                if let GradTarget::All(g) = &mut target {
                    dense_grads(
                        be,
                        dzr,
                        MatRef::new(&tape.s0_in[..sdim], 1, sdim)?,
                        &mut g.w0,
                    )?;
                }
                let din = MatMut::new(&mut bufs.din[..sdim], 1, sdim)?;
                be.matmul(dzr, MatRef::new(self.w0.weight(), h, sdim)?, din, false)?;
                let inv = 1.0 / n as f32;
                for dhi in bufs.dh[..nh].chunks_exact_mut(h) {
                    dhi.iter_mut()
                        .zip(&bufs.din[..h])
                        .for_each(|(d, v)| *d += v * inv);
                }
            }
        }
        self.encoder_backward(be, enc, n, target, bufs)
    }

    /// The encoder's part of [`Self::backward`], from `dK` and the `dH`
    /// gathered by the decoder steps.
    fn encoder_backward(
        &self,
        be: Backend,
        enc: &EncoderTape<'_>,
        n: usize,
        mut target: GradTarget<'_>,
        bufs: &mut GenBackwardBufs,
    ) -> Result<(), KernelError> {
        let h = self.b.n;
        let nh = n * h;
        let relu = Activation::Relu;
        // keys = h·Aᵀ + b: dH += dK·A.
        let dkr = MatRef::new(&bufs.dk[..nh], n, h)?;
        let hr = MatRef::new(&enc.h[..nh], n, h)?;
        if let GradTarget::All(g) = &mut target {
            dense_grads(be, dkr, hr, &mut g.a)?;
        }
        let a = MatRef::new(self.a.weight(), h, h)?;
        be.matmul(dkr, a, MatMut::new(&mut bufs.dh[..nh], n, h)?, true)?;
        // h = ReLU(W2 e1 + b2).
        be.activation_backward(relu, hr, MatMut::new(&mut bufs.dh[..nh], n, h)?)?;
        let dhr = MatRef::new(&bufs.dh[..nh], n, h)?;
        let e1 = MatRef::new(&enc.e1[..nh], n, h)?;
        let g = match target {
            GradTarget::W2(gw2) => return be.matmul_tn(dhr, e1, MatMut::new(gw2, h, h)?, false),
            GradTarget::All(g) => g,
        };
        dense_grads(be, dhr, e1, &mut g.w2)?;
        let de1 = grow(&mut bufs.de1, nh);
        be.matmul(
            dhr,
            MatRef::new(self.w2.weight(), h, h)?,
            MatMut::new(de1, n, h)?,
            false,
        )?;
        // e1 = ReLU(W1 [x; u; mean x] + b1).
        be.activation_backward(relu, e1, MatMut::new(&mut bufs.de1[..nh], n, h)?)?;
        let (dx, du) = (enc.items.cols(), enc.user.len());
        let kin = 2 * dx + du;
        let zin = grow(&mut bufs.enc_in, n * kin.max(2 * h));
        for (i, row) in zin[..n * kin].chunks_exact_mut(kin).enumerate() {
            row[..dx].copy_from_slice(enc.items.row(i));
            row[dx..dx + du].copy_from_slice(enc.user);
            row[dx + du..].copy_from_slice(&enc.mean[..dx]);
        }
        let de1r = MatRef::new(&bufs.de1[..nh], n, h)?;
        dense_grads(
            be,
            de1r,
            MatRef::new(&bufs.enc_in[..n * kin], n, kin)?,
            &mut g.w1,
        )
    }
}
