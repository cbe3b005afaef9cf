//! Gradient exploration: the released code's policy-gradient direction and its ladder.

use super::*;

impl Ctx<'_, '_> {
    /// Loss and `∂loss/∂W2` (row-major, into `s.grad`) of the surrogate
    /// `Σ_t R_t·(−log p(π_t))`, teacher-forced on `list`, back-propagated
    /// through the pointer scores, the keys, the decoder states (s_0 via
    /// mean h, s_{t+1} via h_{π_t}) and the encoder's ReLU. The advantage
    /// `r_t = w_t·(E_t(list) − E_t(initial list))` uses the evaluator's
    /// per-position click probabilities; the initial list is the request's
    /// first L candidates in the order given (the earlier stage's ranking).
    pub(super) fn policy_gradient(
        &self,
        list: &[usize],
        gamma: f32,
        s: &mut Scratch,
    ) -> Result<f32, ServeError> {
        let be = self.be();
        let g = &self.m.gen;
        let cfg = &self.m.cfg;
        let (n, h, du, l) = (self.n, self.h(), cfg.d_u, self.req.len);
        let nh = n * h;
        // Advantages from the evaluator: [list; initial] in one pass.
        let buf = &mut grow(&mut s.chunks, 1)[0];
        let ev = &s.ev;
        let lists = grow(&mut buf.lists, 2 * l);
        lists[..l].copy_from_slice(list);
        for (t, v) in lists[l..].iter_mut().enumerate() {
            *v = t;
        }
        let lists = std::mem::take(&mut buf.lists);
        let r = self.evaluate(&lists[..2 * l], 2, buf, ev);
        buf.lists = lists;
        let eval_flops = r?;
        // Forward and backward products of the teacher-forced decode: W0,
        // B, the scores and Ws per step, their transposes, and the two
        // N×H×H products at the end.
        let mut flops = eval_flops + 2 * (mm(1, h, h + du) + mm(h, h, n) + mm(n, h, h));
        for t in 0..l {
            flops += 2 * (mm(1, h, h) + mm(n - t, 1, h));
            if t + 1 < l {
                flops += 2 * mm(1, h, 2 * h);
            }
        }
        s.flops += flops;
        // Buffers taken out of the scratch for the call (put back at the end;
        // an early error return only costs a reallocation next time).
        let mut ret = std::mem::take(&mut s.pg.ret);
        let mut taken = std::mem::take(&mut s.pg.taken);
        let mut scores = std::mem::take(&mut s.pg.scores);
        ret.clear();
        ret.resize(l, 0.0);
        taken.clear();
        taken.resize(n, false);
        scores.clear();
        scores.resize(n, 0.0);
        let mut acc = 0f32;
        for t in (0..l).rev() {
            let adv = cfg.position_weight(t) * (buf.click(l, 0, t) - buf.click(l, 1, t));
            acc = adv + gamma * acc;
            ret[t] = acc;
        }
        let Scratch {
            e1,
            h0,
            keys0,
            pg,
            grad,
            ek0,
            ek0_ok,
            ..
        } = s;
        let (e1, h0, keys0) = (&e1[..nh], &h0[..nh], &keys0[..nh]);
        let (ek0, ek0_ok) = (&ek0[..nh], *ek0_ok);
        // Teacher-forced forward, keeping q_t, s_t and p_t.
        let sdim = h + du;
        let s_in = grow(&mut pg.s_in, 2 * h);
        s_in[..h].fill(0.0);
        for i in 0..n {
            for (m, v) in s_in[..h].iter_mut().zip(&h0[i * h..(i + 1) * h]) {
                *m += v;
            }
        }
        s_in[..h].iter_mut().for_each(|m| *m /= n as f32);
        s_in[h..sdim].copy_from_slice(self.req.user);
        grow(&mut pg.s, l * h);
        grow(&mut pg.q, l * h);
        grow(&mut pg.p, l * n);
        g.w0.forward(
            be,
            MatRef::new(&pg.s_in[..sdim], 1, sdim)?,
            Activation::Tanh,
            MatMut::new(&mut pg.s[..h], 1, h)?,
        )?;
        let mut loss = 0f32;
        for t in 0..l {
            let (sv, qv) = (&pg.s[t * h..(t + 1) * h], &mut pg.q[t * h..(t + 1) * h]);
            g.b.forward(
                be,
                MatRef::new(sv, 1, h)?,
                Activation::Identity,
                MatMut::new(qv, 1, h)?,
            )?;
            be.pointer_scores(
                MatRef::new(keys0, n, h)?,
                qv,
                &g.v,
                Some(&taken),
                &mut scores,
            )?;
            let p = &mut pg.p[t * n..(t + 1) * n];
            last_kernels::select::log_softmax(&scores, p)?;
            loss -= ret[t] * p[list[t]];
            for (pi, tk) in p.iter_mut().zip(&taken) {
                *pi = if *tk {
                    0.0
                } else {
                    last_kernels::math::exp(*pi)
                };
            }
            taken[list[t]] = true;
            if t + 1 < l {
                let s_in = &mut pg.s_in[..2 * h];
                s_in[..h].copy_from_slice(&pg.s[t * h..(t + 1) * h]);
                s_in[h..].copy_from_slice(&h0[list[t] * h..(list[t] + 1) * h]);
                let (_, next) = pg.s.split_at_mut((t + 1) * h);
                g.ws.forward(
                    be,
                    MatRef::new(&pg.s_in[..2 * h], 1, 2 * h)?,
                    Activation::Tanh,
                    MatMut::new(&mut next[..h], 1, h)?,
                )?;
            }
        }
        // Backward, last step first.
        let dk = grow(&mut pg.dk, nh);
        dk.fill(0.0);
        let dh = grow(&mut pg.dh, nh);
        dh.fill(0.0);
        grow(&mut pg.dq, h);
        grow(&mut pg.dz, h);
        grow(&mut pg.din, 2 * h + du);
        let ds = grow(&mut pg.ds, h);
        ds.fill(0.0);
        for t in (0..l).rev() {
            // Mask as it was at step t: the first t picks.
            taken.fill(false);
            for &i in &list[..t] {
                taken[i] = true;
            }
            let q = &pg.q[t * h..(t + 1) * h];
            let dq = &mut pg.dq[..h];
            dq.fill(0.0);
            // tanh'(k + q) = 1 − tanh² = 4y/(1 + y)² with y = e^{2k}·e^{2q}
            // (the exponential form of the forward scores; no overflow for
            // |k|, |q| ≤ EXP_FORM_LIMIT, and the limit y → ∞ gives 0). An
            // elementwise loop the compiler vectorises; the rational tanh
            // where the form's range check fails.
            let eq = grow(&mut pg.eq, h);
            let exp_form = ek0_ok && be.pointer_exp(q, eq)?;
            for i in 0..n {
                if taken[i] {
                    continue;
                }
                let gi = ret[t] * (pg.p[t * n + i] - if i == list[t] { 1.0 } else { 0.0 });
                if gi == 0.0 {
                    continue;
                }
                let dkr = &mut pg.dk[i * h..(i + 1) * h];
                if exp_form {
                    let er = &ek0[i * h..(i + 1) * h];
                    for ((((dk, dqv), e), f), v) in dkr
                        .iter_mut()
                        .zip(dq.iter_mut())
                        .zip(er)
                        .zip(&eq[..h])
                        .zip(&g.v)
                    {
                        let y = e * f;
                        let r = 1.0 / (1.0 + y);
                        let d = gi * v * (4.0 * y * r * r);
                        *dk += d;
                        *dqv += d;
                    }
                } else {
                    let kr = &keys0[i * h..(i + 1) * h];
                    for j in 0..h {
                        let a = last_kernels::math::tanh_fast(kr[j] + q[j]);
                        let d = gi * g.v[j] * (1.0 - a * a);
                        dkr[j] += d;
                        dq[j] += d;
                    }
                }
            }
            // ds_t += dq·B ; then through s_t = tanh(z_t).
            be.matmul(
                MatRef::new(&pg.dq[..h], 1, h)?,
                MatRef::new(g.b.weight(), h, h)?,
                MatMut::new(&mut pg.ds[..h], 1, h)?,
                true,
            )?;
            let st = &pg.s[t * h..(t + 1) * h];
            for ((dz, d), sv) in pg.dz[..h].iter_mut().zip(&pg.ds[..h]).zip(st) {
                *dz = d * (1.0 - sv * sv);
            }
            if t > 0 {
                // z_t = Ws [s_{t−1}; h_{π_{t−1}}] + b
                be.matmul(
                    MatRef::new(&pg.dz[..h], 1, h)?,
                    MatRef::new(g.ws.weight(), h, 2 * h)?,
                    MatMut::new(&mut pg.din[..2 * h], 1, 2 * h)?,
                    false,
                )?;
                pg.ds[..h].copy_from_slice(&pg.din[..h]);
                let p = list[t - 1];
                for (d, v) in pg.dh[p * h..(p + 1) * h].iter_mut().zip(&pg.din[h..2 * h]) {
                    *d += v;
                }
            } else {
                // z_0 = W0 [mean h; u] + b0
                be.matmul(
                    MatRef::new(&pg.dz[..h], 1, h)?,
                    MatRef::new(g.w0.weight(), h, sdim)?,
                    MatMut::new(&mut pg.din[..sdim], 1, sdim)?,
                    false,
                )?;
                let inv = 1.0 / n as f32;
                for i in 0..n {
                    for (d, v) in pg.dh[i * h..(i + 1) * h].iter_mut().zip(&pg.din[..h]) {
                        *d += v * inv;
                    }
                }
            }
        }
        // keys = h·Aᵀ + b → dH += dK·A ; h = ReLU(z) ; dW2 = dZᵀ·e1.
        be.matmul(
            MatRef::new(&pg.dk[..nh], n, h)?,
            MatRef::new(g.a.weight(), h, h)?,
            MatMut::new(&mut pg.dh[..nh], n, h)?,
            true,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(h0, n, h)?,
            MatMut::new(&mut pg.dh[..nh], n, h)?,
        )?;
        let gr = grow(grad, h * h);
        be.matmul_tn(
            MatRef::new(&pg.dh[..nh], n, h)?,
            MatRef::new(e1, n, h)?,
            MatMut::new(gr, h, h)?,
            false,
        )?;
        pg.ret = ret;
        pg.taken = taken;
        pg.scores = scores;
        Ok(loss)
    }

    /// The released gradient-exploration rule (see [`Variant::GradientExploration`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gradient_exploration(
        &self,
        ladder: usize,
        samples: usize,
        scale: f32,
        gamma: f32,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
    ) -> Result<(usize, bool), ServeError> {
        let h = self.h();
        let w2 = &self.m.gen.w2;
        let mut list = std::mem::take(&mut s.list);
        list.clear();
        list.extend_from_slice(&best.list);
        let mut done = 0;
        if self.deadline.passed() {
            s.list = list;
            return Ok((0, true));
        }
        let r = self.policy_gradient(&list, gamma, s);
        s.list = list;
        r?;
        let gn = s.grad[..h * h].iter().map(|v| v * v).sum::<f32>().sqrt();
        let norm_w = w2.rms() * ((h * h) as f32).sqrt();
        let mut cands = std::mem::take(&mut s.cands);
        cands.clear();
        if gn > 0.0 && gn.is_finite() {
            // Q = e1·Gᵀ once: step m's encoder output is
            // ReLU(e1·(W2 + k_m·G)ᵀ + b) = ReLU(P + k_m·Q), so the whole
            // ladder costs one N×H×H product instead of one per step.
            let gp = grow(&mut s.pg.gpk, pack::blocks_f32(h, h));
            let gpk = pack::pack_f32(&s.grad[..h * h], h, h, pack::as_f32_mut(gp))?;
            let n = self.n;
            self.be().dense(
                MatRef::new(&s.e1[..n * h], n, h)?,
                gpk,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.gq, n * h), n, h)?,
            )?;
            s.flops += mm(n, h, h);
            // Descend the surrogate loss: W2 − m·scale·‖W2‖·g/‖g‖.
            cands.extend(
                (0..ladder).map(|step| Cand::Ladder(-((6 + step) as f32) * scale * norm_w / gn)),
            );
        }
        let steps = cands.len();
        cands.extend((0..samples).map(|c| Cand::Sample(1 + c as u64)));
        // Ladder steps and samples in one batch (numbered as before: steps
        // 1..=ladder, samples after).
        let (skipped, n) = self.run_batch(&cands, 1 + ladder - steps, Lead::Before, s, pool, best);
        s.cands = cands;
        done += n;
        Ok((done, skipped?))
    }
}
