//! Gradient exploration: the released code's policy-gradient direction and its ladder.

use super::*;
use crate::model::{EncoderTape, GradTarget};

impl Ctx<'_, '_> {
    /// Loss and `∂loss/∂W2` (row-major, into `s.pg.grad`) of the surrogate
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
        let (be, g, cfg) = (self.be(), &self.m.gen, &self.m.cfg);
        let (n, h, du, l) = (self.n, self.h(), cfg.d_u, self.req.len);
        let nh = n * h;
        // Advantages from the evaluator: [list; initial] in one pass.
        let buf = &mut grow(&mut s.chunks, 1)[0];
        let lists = grow(&mut buf.lists, 2 * l);
        lists[..l].copy_from_slice(list);
        for (t, v) in lists[l..].iter_mut().enumerate() {
            *v = t;
        }
        let lists = std::mem::take(&mut buf.lists);
        let r = self.evaluate(&lists[..2 * l], 2, buf, &s.ev);
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
        // r_t = w_t·(c_t(list) − c_t(initial)), reward-to-go with γ. The two
        // lists may share a prefix, hence the rows through `node`.
        let ev = &buf.ev;
        let c = |j: usize, t: usize| ev.c[ev.node[j * l + t]];
        let ret = grow(&mut s.pg.ret, l);
        let mut acc = 0f32;
        for t in (0..l).rev() {
            acc = cfg.position_weight(t) * (c(0, t) - c(1, t)) + gamma * acc;
            ret[t] = acc;
        }
        let (e1, h0, keys0) = (&s.enc.e1[..nh], &s.enc.h0[..nh], &s.enc.keys0[..nh]);
        let user = self.req.user;
        let tape = &mut s.pg.tape;
        g.decode(
            be,
            user,
            h0,
            keys0,
            n,
            l,
            |t, _, _, taken| match list[t] {
                i if !taken[i] => Ok(i),
                _ => Err(ServeError::BadKnob("the list repeats an item".into())),
            },
            tape,
        )?;
        let loss = -(0..l).map(|t| s.pg.ret[t] * tape.logp[t]).sum::<f32>();
        let enc = EncoderTape {
            items: self.req.items,
            user,
            mean: &s.enc.mean,
            e1,
            h: h0,
            keys: keys0,
            ek: s.enc.ek0_ok.then_some(&s.enc.ek0[..nh]),
        };
        let gw2 = GradTarget::W2(grow(&mut s.pg.grad, h * h));
        g.backward(be, &enc, tape, &s.pg.ret[..l], gw2, &mut s.pg.back)?;
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
        let mut list = std::mem::take(&mut s.pg.list);
        list.clear();
        list.extend_from_slice(&best.list);
        let mut done = 0;
        if self.deadline.passed() {
            s.pg.list = list;
            return Ok((0, true));
        }
        let r = self.policy_gradient(&list, gamma, s);
        s.pg.list = list;
        r?;
        let gn = s.pg.grad[..h * h].iter().map(|v| v * v).sum::<f32>().sqrt();
        let norm_w = w2.rms() * ((h * h) as f32).sqrt();
        let mut cands = std::mem::take(&mut s.cands);
        cands.clear();
        if gn > 0.0 && gn.is_finite() {
            // Q = e1·Gᵀ once: step m's encoder output is
            // ReLU(e1·(W2 + k_m·G)ᵀ + b) = ReLU(P + k_m·Q), so the whole
            // ladder costs one N×H×H product instead of one per step.
            let gp = grow(&mut s.pg.gpk, pack::blocks_f32(h, h));
            let gpk = pack::pack_f32(&s.pg.grad[..h * h], h, h, pack::as_f32_mut(gp))?;
            let n = self.n;
            self.be().dense(
                MatRef::new(&s.enc.e1[..n * h], n, h)?,
                gpk,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.pg.gq, n * h), n, h)?,
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
