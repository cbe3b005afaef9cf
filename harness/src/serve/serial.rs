//! Serial LAST: antithetic evolution-strategies rounds on Δθ.

use super::*;

impl Ctx<'_, '_> {
    /// Serial LAST: antithetic ES rounds on Δθ (W2), normalised steps in a
    /// trust region. Returns (lists scored, rounds, budget exhausted).
    ///
    /// The encoder never forms `W2 + Δθ ± σε`: with `P = e1·W2ᵀ + b`
    /// (shared), `R = e1·Δθᵀ` and `E_q = e1·ε_qᵀ`, candidate `±` of pair
    /// `q` has `h = ReLU(P + R ± σ·E_q)`, so a pair costs one N×H×H product
    /// instead of two, and the step `Δθ ← f·(Δθ + k·Σ d_q ε_q)` updates
    /// `R ← f·(R + k·Σ d_q E_q)` without another. Δθ itself is kept in the
    /// packed weight layout for the step's norm and the trust region.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn serial(
        &self,
        rounds: usize,
        pairs: usize,
        sigma: f32,
        step: f32,
        trust: f32,
        patience: usize,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
    ) -> Result<(usize, usize, bool), ServeError> {
        let be = self.be();
        let w2 = &self.m.gen.w2;
        let (n, h) = (self.n, self.h());
        let nh = n * h;
        let len = pack::packed_len(h, h);
        let norm_w = w2.rms() * ((h * h) as f32).sqrt();
        let scale = sigma * w2.rms();
        grow(&mut s.ser.delta, len).fill(0.0);
        grow(&mut s.ser.grad, len);
        grow(&mut s.ser.eps, len);
        grow(&mut s.ser.r, nh).fill(0.0);
        grow(&mut s.ser.e, pairs * nh);
        // Never written: stays all-zero once grown.
        let mut zeros_blocks = std::mem::take(&mut s.ser.zeros);
        grow(&mut zeros_blocks, len.div_ceil(16));
        let zeros =
            pack::PackedF32::from_packed(&bytemuck::cast_slice(&zeros_blocks)[..len], h, h)?;
        let zeros = zeros.as_weights();
        let mut cands = std::mem::take(&mut s.cands);
        let mut scores = std::mem::take(&mut s.scores);
        let mut done = 0;
        let mut stale = 0;
        let mut r = 0;
        let mut exhausted = false;
        let mut result = Ok(());
        while r < rounds {
            if self.deadline.passed() {
                exhausted = true;
                break;
            }
            // E_q = e1·ε_qᵀ (the zero matrix perturbed by ε_q at σ = 1).
            let e1 = MatRef::new(&s.enc.e1[..nh], n, h)?;
            let panel = grow(&mut s.panel, perturbed_scratch_len(h));
            for q in 0..pairs {
                let eq = MatMut::new(&mut s.ser.e[q * nh..(q + 1) * nh], n, h)?;
                be.dense_perturbed(
                    e1,
                    zeros,
                    &self.serial_noise(r, pairs, q),
                    1.0,
                    None,
                    Activation::Identity,
                    eq,
                    panel,
                )?;
                s.flops += mm(n, h, h);
            }
            cands.clear();
            cands.extend((0..2 * pairs).map(|i| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                Cand::Serial((i / 2) as u32, sign * scale)
            }));
            let before = best.score;
            match self.run_all(&cands, 1 + done, Lead::Before, s, pool, best, &mut scores) {
                Ok(skipped) => {
                    done += scores.iter().filter(|v| !v.is_nan()).count();
                    r += 1;
                    if skipped {
                        exhausted = true;
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            stale = if best.score > before { 0 } else { stale + 1 };
            if stale >= patience {
                break;
            }
            self.es_step(
                r - 1,
                pairs,
                step * norm_w,
                trust * norm_w,
                &scores,
                zeros,
                s,
            )?;
        }
        s.cands = cands;
        s.scores = scores;
        s.ser.zeros = zeros_blocks;
        result.map(|()| (done, r, exhausted))
    }

    /// The noise of pair `q` in round `round` (antithetic Gaussian).
    fn serial_noise(&self, round: usize, pairs: usize, q: usize) -> Noise {
        Noise {
            seed: self.req.seed,
            candidate: (round * 2 * pairs + 2 * q) as u32,
            kind: NoiseKind::Gaussian,
            antithetic: true,
        }
    }

    /// One normalised ES step after round `round`: `g = Σ_q (R⁺_q − R⁻_q) ε_q`,
    /// `Δθ ← f·(Δθ + step·g/‖g‖)` with `f` keeping `‖Δθ‖ ≤ trust`, and the
    /// same step on `R = e1·Δθᵀ` from the round's `E_q` (`step` and `trust`
    /// absolute). A round without a usable difference takes no step.
    #[allow(clippy::too_many_arguments)]
    fn es_step(
        &self,
        round: usize,
        pairs: usize,
        step: f32,
        trust: f32,
        scores: &[f32],
        zeros: last_kernels::Weights<'_>,
        s: &mut Scratch,
    ) -> Result<(), ServeError> {
        let be = self.be();
        let (nh, len) = (self.n * self.h(), pack::packed_len(self.h(), self.h()));
        // g = Σ_q (R⁺_q − R⁻_q) ε_q ; step along g/‖g‖.
        let grad = &mut s.ser.grad[..len];
        grad.fill(0.0);
        let mut any = false;
        for q in 0..pairs {
            let d = scores[2 * q] - scores[2 * q + 1];
            if d == 0.0 || !d.is_finite() {
                continue;
            }
            any = true;
            be.perturb_weights(
                zeros,
                &self.serial_noise(round, pairs, q),
                1.0,
                &mut s.ser.eps[..len],
            )?;
            for (gv, e) in grad.iter_mut().zip(&s.ser.eps[..len]) {
                *gv += d * e;
            }
        }
        if !any {
            return Ok(());
        }
        let gn = grad.iter().map(|v| v * v).sum::<f32>().sqrt();
        if gn == 0.0 || !gn.is_finite() {
            return Ok(());
        }
        let k = step / gn;
        let delta = &mut s.ser.delta[..len];
        for (dv, gv) in delta.iter_mut().zip(grad.iter()) {
            *dv += k * gv;
        }
        let dn = delta.iter().map(|v| v * v).sum::<f32>().sqrt();
        let f = if dn > trust && dn > 0.0 {
            trust / dn
        } else {
            1.0
        };
        if f != 1.0 {
            delta.iter_mut().for_each(|v| *v *= f);
        }
        // The same step on R = e1·Δθᵀ.
        let rr = &mut s.ser.r[..nh];
        for q in 0..pairs {
            let d = scores[2 * q] - scores[2 * q + 1];
            if d == 0.0 || !d.is_finite() {
                continue;
            }
            let c = k * d;
            for (rv, ev) in rr.iter_mut().zip(&s.ser.e[q * nh..(q + 1) * nh]) {
                *rv += c * ev;
            }
        }
        if f != 1.0 {
            rr.iter_mut().for_each(|v| *v *= f);
        }
        Ok(())
    }
}
