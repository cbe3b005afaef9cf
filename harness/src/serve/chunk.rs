//! One chunk of candidates: encoder outputs, batched decoding, batched evaluation.

use super::*;

impl Ctx<'_, '_> {
    /// One chunk of candidates: encoder output per candidate, batched
    /// decoding, batched evaluation. Writes `buf.lists` and `buf.out_scores`.
    pub(super) fn chunk(
        &self,
        cands: &[Cand],
        b: &mut ChunkBufs,
        sh: &Shared<'_>,
    ) -> Result<(), ServeError> {
        let be = self.be();
        let g = &self.m.gen;
        let (n, h, du, l) = (self.n, self.h(), self.m.cfg.d_u, self.req.len);
        let c = cands.len();
        let nh = n * h;
        b.flops = 0;
        grow(&mut b.h, c * nh);
        grow(&mut b.keys, c * nh);
        let target = match self.req.variant {
            Variant::Parallel { target, .. } => target,
            _ => Target::W2,
        };
        let w2 = g.w2.packed();
        let e1 = MatRef::new(&sh.e1[..nh], n, h)?;
        let h0 = MatRef::new(&sh.h0[..nh], n, h)?;
        // Unperturbed h / keys are read from the shared buffers, not copied.
        grow(&mut b.own_h, c).fill(true);
        grow(&mut b.own_k, c).fill(true);
        for (j, cand) in cands.iter().enumerate() {
            let (hs, ks) = (j * nh, (j + 1) * nh);
            // h_j
            let perturb_w2 = target == Target::W2;
            match cand {
                Cand::Noise(nz, sigma) if perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed(
                        e1,
                        w2,
                        nz,
                        *sigma,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::LowRank(nz, r, sigma) if perturb_w2 => {
                    let lr = low_rank(
                        be,
                        &mut b.lr_u,
                        &mut b.lr_up,
                        &mut b.lr_vt,
                        nz,
                        *r,
                        *sigma,
                        h,
                        h,
                    )?;
                    be.dense_low_rank(
                        e1,
                        w2,
                        lr,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        grow(&mut b.lr_t, n * r),
                    )?;
                    b.flops += mm(n, h, h) + mm(n, *r, h) + mm(n, h, *r);
                }
                Cand::Table(cand, sigma) if perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed_table(
                        e1,
                        w2,
                        self.m.noise_table().slice(self.req.seed, *cand),
                        *sigma,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::Serial(q, sg) => {
                    let eq = &sh.ser_e[*q as usize * nh..(*q as usize + 1) * nh];
                    let hj = &mut b.h[hs..ks];
                    for (((o, p), r), e) in hj
                        .iter_mut()
                        .zip(&sh.h0pre[..nh])
                        .zip(&sh.ser_r[..nh])
                        .zip(eq)
                    {
                        *o = (p + r + sg * e).max(0.0);
                    }
                }
                Cand::Ladder(k) => {
                    let hj = &mut b.h[hs..ks];
                    for ((o, p), q) in hj.iter_mut().zip(&sh.h0pre[..nh]).zip(&sh.gq[..nh]) {
                        *o = (p + k * q).max(0.0);
                    }
                }
                _ => b.own_h[j] = false,
            }
            // keys_j
            match cand {
                Cand::Noise(nz, sigma) if !perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed(
                        h0,
                        g.a.packed(),
                        nz,
                        *sigma,
                        Some(g.a.bias()),
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::Table(cand, sigma) if !perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed_table(
                        h0,
                        g.a.packed(),
                        self.m.noise_table().slice(self.req.seed, *cand),
                        *sigma,
                        Some(g.a.bias()),
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::LowRank(nz, r, sigma) if !perturb_w2 => {
                    // keys' = h·(A + σ'·U·Vᵀ)ᵀ + b = keys0 + σ'·(h·V)·Uᵀ: the shared
                    // keys plus a rank-r correction (N·H·r work instead of N·H·H).
                    // Same draws as `low_rank`; the sum is rounded in a different
                    // order than the fused low-rank kernel would (deterministic).
                    let r = *r;
                    let sig = *sigma / (r as f32).sqrt();
                    be.noise_fill(nz, 0, grow(&mut b.lr_u, h * r));
                    be.noise_fill(nz, (h * r) as u32, grow(&mut b.lr_vt, r * h));
                    // Tᵀ = Vᵀ·h0ᵀ (r × N) against the request's packed h0: an
                    // r-row product, no packing per candidate.
                    let h0p =
                        pack::PackedF32::from_packed(&sh.h0p[..pack::packed_len(n, h)], n, h)?;
                    let t = grow(&mut b.lr_t, r * n);
                    be.dense(
                        MatRef::new(&b.lr_vt[..r * h], r, h)?,
                        h0p,
                        None,
                        Activation::Identity,
                        MatMut::new(t, r, n)?,
                    )?;
                    b.flops += 2 * mm(n, h, r);
                    let u = &b.lr_u[..h * r];
                    for i in 0..n {
                        let (k0, kr) = (
                            &sh.keys0[i * h..(i + 1) * h],
                            &mut b.keys[hs + i * h..hs + (i + 1) * h],
                        );
                        kr.copy_from_slice(k0);
                        for rr in 0..r {
                            let a = sig * b.lr_t[rr * n + i];
                            if r == 1 {
                                for (kv, uv) in kr.iter_mut().zip(u) {
                                    *kv += a * uv;
                                }
                            } else {
                                for (jj, kv) in kr.iter_mut().enumerate() {
                                    *kv += a * u[jj * r + rr];
                                }
                            }
                        }
                    }
                }
                Cand::Plain | Cand::Sample(_) => b.own_k[j] = false,
                _ if !perturb_w2 => b.own_k[j] = false,
                _ => {
                    g.a.forward(
                        be,
                        MatRef::new(&b.h[hs..ks], n, h)?,
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                    )?;
                    b.flops += mm(n, h, h);
                }
            }
        }
        // e^{2·keys} of the candidates' own keys (the exponential form of the
        // pointer scores, see `Backend::pointer_scores_exp`); shared keys use
        // the request's `ek0`. Keys outside the form's range fall back to the
        // rational-tanh kernel for that candidate (a deterministic choice).
        grow(&mut b.ek, c * nh);
        grow(&mut b.ek_ok, c);
        for j in 0..c {
            b.ek_ok[j] = if b.own_k[j] {
                be.pointer_exp(
                    &b.keys[j * nh..(j + 1) * nh],
                    &mut b.ek[j * nh..(j + 1) * nh],
                )?
            } else {
                sh.ek0_ok
            };
        }
        // Decoder states live in *slots*. A candidate that reads the shared
        // h0 has a state that depends only on h0, u and its picks so far, so
        // such candidates with the same picks share one slot and its state,
        // query and e^{2q} are computed once; a candidate with its own h
        // always has its own slot. Every dense product is row-independent
        // (each output row is the same sum in the same order whatever the
        // other rows), so sharing changes no value, only the work.
        let w0in = h + du;
        let (slot, rep) = (grow(&mut b.slot, c), grow(&mut b.rep, c));
        let mut u = 0;
        let mut shared_slot = None;
        for (j, sj) in slot.iter_mut().enumerate() {
            *sj = match shared_slot {
                Some(sl) if !b.own_h[j] => sl,
                _ => {
                    rep[u] = j;
                    if !b.own_h[j] {
                        shared_slot = Some(u);
                    }
                    u += 1;
                    u - 1
                }
            };
        }
        grow(&mut b.nslot, c);
        grow(&mut b.nrep, c);
        // s_0 = tanh(W0 [mean h; u]) per slot.
        let s_in = grow(&mut b.s_in, c * 2 * h);
        for sl in 0..u {
            let j = b.rep[sl];
            let hj = if b.own_h[j] {
                &b.h[j * nh..(j + 1) * nh]
            } else {
                &sh.h0[..nh]
            };
            let row = &mut s_in[sl * w0in..(sl + 1) * w0in];
            row[..h].fill(0.0);
            for i in 0..n {
                for (m, v) in row[..h].iter_mut().zip(&hj[i * h..(i + 1) * h]) {
                    *m += v;
                }
            }
            row[..h].iter_mut().for_each(|m| *m /= n as f32);
            row[h..].copy_from_slice(self.req.user);
        }
        grow(&mut b.s, c * h);
        g.w0.forward(
            be,
            MatRef::new(&b.s_in[..u * w0in], u, w0in)?,
            Activation::Tanh,
            MatMut::new(&mut b.s[..u * h], u, h)?,
        )?;
        b.flops += mm(u, h, w0in);
        // With the request's `Ws_h·h0` (see `Ctx::decoder_parts`), chunks
        // whose candidates all share h0 halve the state update; the
        // baseline (a lone `Plain`) always takes the full product, so it is
        // the same list whatever the variant.
        let split_ws = sh.hw.is_some()
            && cands.iter().all(|c| !matches!(c, Cand::Plain))
            && !b.own_h[..c].iter().any(|&o| o);
        // Decode L steps, all slots of the chunk batched.
        let taken = grow(&mut b.taken, c * n);
        taken.fill(false);
        grow(&mut b.q, c * h);
        grow(&mut b.sg, c * h);
        grow(&mut b.eq, c * h);
        grow(&mut b.eq_ok, c);
        grow(&mut b.scores, n);
        grow(&mut b.lists, c * l);
        for t in 0..l {
            g.b.forward(
                be,
                MatRef::new(&b.s[..u * h], u, h)?,
                Activation::Identity,
                MatMut::new(&mut b.q[..u * h], u, h)?,
            )?;
            for sl in 0..u {
                let r = sl * h..(sl + 1) * h;
                b.eq_ok[sl] = be.pointer_exp(&b.q[r.clone()], &mut b.eq[r])?;
            }
            // B·s per slot, and one H-wide score per untaken item and candidate.
            b.flops += mm(u, h, h) + mm(c, n - t, h);
            for (j, cand) in cands.iter().enumerate() {
                let tk = &mut b.taken[j * n..(j + 1) * n];
                let sl = b.slot[j];
                if b.ek_ok[j] && b.eq_ok[sl] {
                    be.pointer_scores_exp(
                        MatRef::new(
                            if b.own_k[j] {
                                &b.ek[j * nh..(j + 1) * nh]
                            } else {
                                &sh.ek0[..nh]
                            },
                            n,
                            h,
                        )?,
                        &b.eq[sl * h..(sl + 1) * h],
                        &g.v,
                        Some(tk),
                        &mut b.scores[..n],
                    )?;
                } else {
                    be.pointer_scores(
                        MatRef::new(
                            if b.own_k[j] {
                                &b.keys[j * nh..(j + 1) * nh]
                            } else {
                                &sh.keys0[..nh]
                            },
                            n,
                            h,
                        )?,
                        &b.q[sl * h..(sl + 1) * h],
                        &g.v,
                        Some(tk),
                        &mut b.scores[..n],
                    )?;
                }
                let pick = match cand {
                    Cand::Sample(stream) => {
                        // Vectorised noise, the same draws as `gumbel_argmax`.
                        let g = grow(&mut b.gumbel, n);
                        be.gumbel_noise(self.req.seed, (stream << 8) | t as u64, g);
                        gumbel_argmax_with(&b.scores[..n], Some(tk), g)?
                    }
                    _ => argmax_masked(&b.scores[..n], tk)?,
                };
                let pick = pick.ok_or(ServeError::BadLength {
                    len: l,
                    n,
                    max_len: self.m.cfg.max_len,
                })?;
                tk[pick] = true;
                b.lists[j * l + t] = pick;
            }
            if t + 1 == l {
                break;
            }
            // The next step's slots: a shared-h0 candidate joins the first
            // earlier one with the same slot and pick.
            let mut nu = 0;
            for j in 0..c {
                let same = |i: &usize| {
                    !b.own_h[*i]
                        && b.slot[*i] == b.slot[j]
                        && b.lists[*i * l + t] == b.lists[j * l + t]
                };
                b.nslot[j] = match (0..j).find(same).filter(|_| !b.own_h[j]) {
                    Some(i) => b.nslot[i],
                    None => {
                        b.nrep[nu] = j;
                        nu += 1;
                        nu - 1
                    }
                };
            }
            if split_ws {
                // s' = tanh(Ws_s·s + b + [Ws_h·h0]_pick): the gathered
                // per-request rows go in first, the product is added on top.
                let hw = sh.hw.unwrap_or(&[]);
                for ns in 0..nu {
                    let j = b.nrep[ns];
                    let (p, pick) = (b.slot[j], b.lists[j * l + t]);
                    b.q[ns * h..(ns + 1) * h].copy_from_slice(&hw[pick * h..(pick + 1) * h]);
                    b.sg[ns * h..(ns + 1) * h].copy_from_slice(&b.s[p * h..(p + 1) * h]);
                }
                be.dense_add(
                    MatRef::new(&b.sg[..nu * h], nu, h)?,
                    g.ws.packed().columns(0, h)?,
                    Some(g.ws.bias()),
                    Activation::Tanh,
                    MatMut::new(&mut b.q[..nu * h], nu, h)?,
                )?;
                b.flops += mm(nu, h, h);
                std::mem::swap(&mut b.s, &mut b.q);
            } else {
                // s' = tanh(Ws [s; h_pick]).
                let s_in = &mut b.s_in[..c * 2 * h];
                for ns in 0..nu {
                    let j = b.nrep[ns];
                    let (p, pick) = (b.slot[j], b.lists[j * l + t]);
                    let row = &mut s_in[ns * 2 * h..(ns + 1) * 2 * h];
                    row[..h].copy_from_slice(&b.s[p * h..(p + 1) * h]);
                    row[h..].copy_from_slice(if b.own_h[j] {
                        &b.h[j * nh + pick * h..j * nh + (pick + 1) * h]
                    } else {
                        &sh.h0[pick * h..(pick + 1) * h]
                    });
                }
                g.ws.forward(
                    be,
                    MatRef::new(&b.s_in[..nu * 2 * h], nu, 2 * h)?,
                    Activation::Tanh,
                    MatMut::new(&mut b.s[..nu * h], nu, h)?,
                )?;
                b.flops += mm(nu, h, 2 * h);
            }
            std::mem::swap(&mut b.slot, &mut b.nslot);
            std::mem::swap(&mut b.rep, &mut b.nrep);
            u = nu;
        }
        let lists = std::mem::take(&mut b.lists);
        let r = self.evaluate(&lists[..c * l], c, b, sh.ev);
        b.lists = lists;
        b.flops += r?;
        Ok(())
    }
}
