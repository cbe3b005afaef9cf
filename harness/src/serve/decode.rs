//! Phase 2 of a chunk: greedy or sampled decoding of every candidate,
//! batched over decoder *slots*.
//!
//! A candidate that reads the shared `h0` has a state that depends only on
//! `h0`, `u` and its picks so far, so such candidates with the same picks
//! share one slot and its state, query and `e^{2q}` are computed once; a
//! candidate with its own `h` always has its own slot. Every dense product
//! is row-independent (each output row is the same sum in the same order
//! whatever the other rows), so sharing changes no value, only the work.

use super::candidate::CandBufs;
use super::*;

/// Buffers of the decode phase.
#[derive(Debug, Default, Clone)]
pub(super) struct DecodeBufs {
    /// States `s`, one row of H per slot.
    pub(super) s: Vec<f32>,
    /// Inputs of the state products (`[mean h; u]`, `[s; h_pick]`).
    pub(super) s_in: Vec<f32>,
    /// Queries `B·s` per slot (also the next states in the split update).
    pub(super) q: Vec<f32>,
    /// Parent states gathered for the split state update.
    pub(super) sg: Vec<f32>,
    /// `e^{2q}` per slot, and whether it is in the exponential form's range.
    pub(super) eq: Vec<f32>,
    pub(super) eq_ok: Vec<bool>,
    /// One candidate's scores, and every candidate's taken items.
    pub(super) scores: Vec<f32>,
    pub(super) taken: Vec<bool>,
    /// Gumbel noise of one sampling step.
    pub(super) gumbel: Vec<f32>,
    /// Slot of each candidate and the first candidate of each slot, this
    /// step's and the next step's.
    pub(super) slot: Vec<usize>,
    pub(super) rep: Vec<usize>,
    pub(super) nslot: Vec<usize>,
    pub(super) nrep: Vec<usize>,
}

impl Ctx<'_, '_> {
    /// Decodes `cands` (their outputs in `cb`) into `lists` (L per
    /// candidate); returns the matrix FLOPs.
    pub(super) fn decode(
        &self,
        cands: &[Cand],
        cb: &CandBufs,
        d: &mut DecodeBufs,
        lists: &mut Vec<usize>,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (n, h, l, c) = (self.n, self.h(), self.req.len, cands.len());
        let mut u = first_slots(cb, c, d);
        let mut flops = self.start_states(cb, c, u, d, sh)?;
        // With the request's `Ws_h·h0` (see `Ctx::decoder_parts`), chunks
        // whose candidates all share h0 halve the state update; the
        // baseline (a lone `Plain`) always takes the full product, so it is
        // the same list whatever the variant.
        let split_ws = sh.hw.is_some()
            && cands.iter().all(|c| !matches!(c, Cand::Plain))
            && !cb.own_h[..c].iter().any(|&o| o);
        grow(&mut d.taken, c * n).fill(false);
        grow(&mut d.q, c * h);
        grow(&mut d.sg, c * h);
        grow(&mut d.eq, c * h);
        grow(&mut d.eq_ok, c);
        grow(&mut d.scores, n);
        let lists = grow(lists, c * l);
        for t in 0..l {
            flops += self.step(t, cands, cb, u, d, lists, sh)?;
            if t + 1 == l {
                break;
            }
            let nu = next_slots(cb, c, t, l, d, lists);
            flops += if split_ws {
                self.split_state_update(t, nu, d, lists, sh)?
            } else {
                self.state_update(t, nu, cb, d, lists, sh)?
            };
            std::mem::swap(&mut d.slot, &mut d.nslot);
            std::mem::swap(&mut d.rep, &mut d.nrep);
            u = nu;
        }
        Ok(flops)
    }

    /// `s_0 = tanh(W0 [mean h; u])` for each of the `u` slots.
    fn start_states(
        &self,
        cb: &CandBufs,
        c: usize,
        u: usize,
        d: &mut DecodeBufs,
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (n, h, du) = (self.n, self.h(), self.m.cfg.d_u);
        let (nh, w0in) = (n * h, h + du);
        let s_in = grow(&mut d.s_in, c * 2 * h);
        for sl in 0..u {
            let hj = cb.h_of(d.rep[sl], nh, sh);
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
        grow(&mut d.s, c * h);
        self.m.gen.w0.forward(
            self.be(),
            MatRef::new(&d.s_in[..u * w0in], u, w0in)?,
            Activation::Tanh,
            MatMut::new(&mut d.s[..u * h], u, h)?,
        )?;
        Ok(mm(u, h, w0in))
    }

    /// Step `t`: each slot's query, each candidate's scores over its untaken
    /// items, and its pick (arg-max, or Gumbel-max for a sample).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        t: usize,
        cands: &[Cand],
        cb: &CandBufs,
        u: usize,
        d: &mut DecodeBufs,
        lists: &mut [usize],
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (be, g) = (self.be(), &self.m.gen);
        let (n, h, l) = (self.n, self.h(), self.req.len);
        let nh = n * h;
        let s = MatRef::new(&d.s[..u * h], u, h)?;
        g.b.forward(
            be,
            s,
            Activation::Identity,
            MatMut::new(&mut d.q[..u * h], u, h)?,
        )?;
        for sl in 0..u {
            let r = sl * h..(sl + 1) * h;
            d.eq_ok[sl] = be.pointer_exp(&d.q[r.clone()], &mut d.eq[r])?;
        }
        for (j, cand) in cands.iter().enumerate() {
            let tk = &mut d.taken[j * n..(j + 1) * n];
            let sl = d.slot[j];
            let scores = &mut d.scores[..n];
            if cb.ek_ok[j] && d.eq_ok[sl] {
                let ek = if cb.own_k[j] {
                    &cb.ek[j * nh..(j + 1) * nh]
                } else {
                    &sh.ek0[..nh]
                };
                let (ek, eq) = (MatRef::new(ek, n, h)?, &d.eq[sl * h..(sl + 1) * h]);
                be.pointer_scores_exp(ek, eq, &g.v, Some(tk), scores)?;
            } else {
                let k = if cb.own_k[j] {
                    &cb.keys[j * nh..(j + 1) * nh]
                } else {
                    &sh.keys0[..nh]
                };
                let (k, q) = (MatRef::new(k, n, h)?, &d.q[sl * h..(sl + 1) * h]);
                be.pointer_scores(k, q, &g.v, Some(tk), scores)?;
            }
            let pick = match cand {
                Cand::Sample(stream) => {
                    // Vectorised noise, the same draws as `gumbel_argmax`.
                    let g = grow(&mut d.gumbel, n);
                    be.gumbel_noise(self.req.seed, (stream << 8) | t as u64, g);
                    gumbel_argmax_with(scores, Some(tk), g)?
                }
                _ => argmax_masked(scores, tk)?,
            };
            let pick = pick.ok_or(ServeError::BadLength {
                len: l,
                n,
                max_len: self.m.cfg.max_len,
            })?;
            tk[pick] = true;
            lists[j * l + t] = pick;
        }
        // B·s per slot, and one H-wide score per untaken item and candidate.
        Ok(mm(u, h, h) + mm(cands.len(), n - t, h))
    }

    /// `s' = tanh(Ws [s; h_pick])` for the `nu` next slots.
    fn state_update(
        &self,
        t: usize,
        nu: usize,
        cb: &CandBufs,
        d: &mut DecodeBufs,
        lists: &[usize],
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (n, h, l) = (self.n, self.h(), self.req.len);
        let nh = n * h;
        for ns in 0..nu {
            let j = d.nrep[ns];
            let (p, pick) = (d.slot[j], lists[j * l + t]);
            let row = &mut d.s_in[ns * 2 * h..(ns + 1) * 2 * h];
            row[..h].copy_from_slice(&d.s[p * h..(p + 1) * h]);
            row[h..].copy_from_slice(&cb.h_of(j, nh, sh)[pick * h..(pick + 1) * h]);
        }
        self.m.gen.ws.forward(
            self.be(),
            MatRef::new(&d.s_in[..nu * 2 * h], nu, 2 * h)?,
            Activation::Tanh,
            MatMut::new(&mut d.s[..nu * h], nu, h)?,
        )?;
        Ok(mm(nu, h, 2 * h))
    }

    /// The split update `s' = tanh(Ws_s·s + b + [Ws_h·h0]_pick)`: the
    /// gathered per-request rows go in first, the product is added on top.
    fn split_state_update(
        &self,
        t: usize,
        nu: usize,
        d: &mut DecodeBufs,
        lists: &[usize],
        sh: &Shared<'_>,
    ) -> Result<u64, ServeError> {
        let (h, l, ws) = (self.h(), self.req.len, &self.m.gen.ws);
        let hw = sh.hw.unwrap_or(&[]);
        for ns in 0..nu {
            let j = d.nrep[ns];
            let (p, pick) = (d.slot[j], lists[j * l + t]);
            d.q[ns * h..(ns + 1) * h].copy_from_slice(&hw[pick * h..(pick + 1) * h]);
            d.sg[ns * h..(ns + 1) * h].copy_from_slice(&d.s[p * h..(p + 1) * h]);
        }
        self.be().dense_add(
            MatRef::new(&d.sg[..nu * h], nu, h)?,
            ws.packed().columns(0, h)?,
            Some(ws.bias()),
            Activation::Tanh,
            MatMut::new(&mut d.q[..nu * h], nu, h)?,
        )?;
        std::mem::swap(&mut d.s, &mut d.q);
        Ok(mm(nu, h, h))
    }
}

/// The first step's slots: candidates that read the shared `h0` share one;
/// each other candidate has its own. Returns the number of slots.
fn first_slots(cb: &CandBufs, c: usize, d: &mut DecodeBufs) -> usize {
    let (slot, rep) = (grow(&mut d.slot, c), grow(&mut d.rep, c));
    grow(&mut d.nslot, c);
    grow(&mut d.nrep, c);
    let mut u = 0;
    let mut shared_slot = None;
    for (j, sj) in slot.iter_mut().enumerate() {
        *sj = match shared_slot {
            Some(sl) if !cb.own_h[j] => sl,
            _ => {
                rep[u] = j;
                if !cb.own_h[j] {
                    shared_slot = Some(u);
                }
                u += 1;
                u - 1
            }
        };
    }
    u
}

/// The next step's slots after step `t`: a shared-h0 candidate joins the
/// first earlier one with the same slot and pick. Returns their number.
fn next_slots(
    cb: &CandBufs,
    c: usize,
    t: usize,
    l: usize,
    d: &mut DecodeBufs,
    lists: &[usize],
) -> usize {
    let mut nu = 0;
    for j in 0..c {
        let same = |i: &usize| {
            !cb.own_h[*i] && d.slot[*i] == d.slot[j] && lists[*i * l + t] == lists[j * l + t]
        };
        d.nslot[j] = match (0..j).find(same).filter(|_| !cb.own_h[j]) {
            Some(i) => d.nslot[i],
            None => {
                d.nrep[nu] = j;
                nu += 1;
                nu - 1
            }
        };
    }
    nu
}
