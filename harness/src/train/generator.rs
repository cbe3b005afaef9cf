//! The generator's training pass: rollout with stored activations and its backward.

use super::*;

// ---------------------------------------------------------------- generator

/// How a rollout picks each item.
pub enum Pick<'a> {
    /// Arg-max of the scores.
    Greedy,
    /// Sample from the softmax (Gumbel-max with this stream).
    Sample(&'a mut Rng),
    /// Teacher forcing: this list.
    Forced(&'a [usize]),
}

/// A generator rollout with every activation the backward pass needs.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The list produced (or forced).
    pub list: Vec<usize>,
    /// `log p(list_t)` per step.
    pub logp: Vec<f32>,
    n: usize,
    enc_in: Vec<f32>,
    e1: Vec<f32>,
    h: Vec<f32>,
    keys: Vec<f32>,
    s_in: Vec<Vec<f32>>,
    s: Vec<f32>,
    q: Vec<f32>,
    p: Vec<f32>,
}

/// Runs the generator on one instance.
pub fn rollout(
    m: &Model,
    inst: &Instance,
    len: usize,
    mut pick: Pick<'_>,
) -> Result<Rollout, TrainError> {
    let (be, cfg, g) = (m.backend, &m.cfg, &m.gen);
    let (n, dx, du, h) = (inst.n, cfg.d_x, cfg.d_u, cfg.hidden);
    if len == 0 || len > n || inst.user.len() != du || inst.items.len() != n * dx {
        return Err(TrainError::Data(format!(
            "instance {} does not fit the model",
            inst.key
        )));
    }
    let kin = 2 * dx + du;
    let mut enc_in = vec![0f32; n * kin];
    let mut mean = vec![0f32; dx];
    for i in 0..n {
        for (a, x) in mean.iter_mut().zip(&inst.items[i * dx..(i + 1) * dx]) {
            *a += x / n as f32;
        }
    }
    for i in 0..n {
        let row = &mut enc_in[i * kin..(i + 1) * kin];
        row[..dx].copy_from_slice(&inst.items[i * dx..(i + 1) * dx]);
        row[dx..dx + du].copy_from_slice(&inst.user);
        row[dx + du..].copy_from_slice(&mean);
    }
    let mut e1 = vec![0f32; n * h];
    let mut hh = vec![0f32; n * h];
    let mut keys = vec![0f32; n * h];
    g.w1.forward(
        be,
        MatRef::new(&enc_in, n, kin)?,
        Activation::Relu,
        MatMut::new(&mut e1, n, h)?,
    )?;
    g.w2.forward(
        be,
        MatRef::new(&e1, n, h)?,
        Activation::Relu,
        MatMut::new(&mut hh, n, h)?,
    )?;
    g.a.forward(
        be,
        MatRef::new(&hh, n, h)?,
        Activation::Identity,
        MatMut::new(&mut keys, n, h)?,
    )?;
    let mut s0_in = vec![0f32; h + du];
    for i in 0..n {
        for (a, x) in s0_in[..h].iter_mut().zip(&hh[i * h..(i + 1) * h]) {
            *a += x / n as f32;
        }
    }
    s0_in[h..].copy_from_slice(&inst.user);
    let mut s = vec![0f32; len * h];
    g.w0.forward(
        be,
        MatRef::new(&s0_in, 1, h + du)?,
        Activation::Tanh,
        MatMut::new(&mut s[..h], 1, h)?,
    )?;
    let mut s_in = vec![s0_in];
    let mut q = vec![0f32; len * h];
    let mut p = vec![0f32; len * n];
    let mut taken = vec![false; n];
    let mut scores = vec![0f32; n];
    let mut logp_all = vec![0f32; n];
    let mut list = Vec::with_capacity(len);
    let mut logp = Vec::with_capacity(len);
    for t in 0..len {
        g.b.forward(
            be,
            MatRef::new(&s[t * h..(t + 1) * h], 1, h)?,
            Activation::Identity,
            MatMut::new(&mut q[t * h..(t + 1) * h], 1, h)?,
        )?;
        be.pointer_scores(
            MatRef::new(&keys, n, h)?,
            &q[t * h..(t + 1) * h],
            &g.v,
            Some(&taken),
            &mut scores,
        )?;
        last_kernels::select::log_softmax(&scores, &mut logp_all)?;
        let choice = match &mut pick {
            Pick::Greedy => last_kernels::select::argmax_masked(&scores, &taken)?,
            Pick::Sample(rng) => {
                let mut best: Option<(usize, f64)> = None;
                for i in (0..n).filter(|&i| !taken[i]) {
                    let key = logp_all[i] as f64 + rng.gumbel();
                    if best.is_none_or(|(_, b)| key > b) {
                        best = Some((i, key));
                    }
                }
                best.map(|b| b.0)
            }
            Pick::Forced(l) => l.get(t).copied().filter(|&i| i < n && !taken[i]),
        };
        let c = choice.ok_or_else(|| {
            TrainError::Data(format!("no valid pick at step {t} for {}", inst.key))
        })?;
        for i in 0..n {
            p[t * n + i] = if taken[i] {
                0.0
            } else {
                last_kernels::math::exp(logp_all[i])
            };
        }
        logp.push(logp_all[c]);
        list.push(c);
        taken[c] = true;
        if t + 1 < len {
            let mut si = vec![0f32; 2 * h];
            si[..h].copy_from_slice(&s[t * h..(t + 1) * h]);
            si[h..].copy_from_slice(&hh[c * h..(c + 1) * h]);
            let (_, next) = s.split_at_mut((t + 1) * h);
            g.ws.forward(
                be,
                MatRef::new(&si, 1, 2 * h)?,
                Activation::Tanh,
                MatMut::new(&mut next[..h], 1, h)?,
            )?;
            s_in.push(si);
        }
    }
    Ok(Rollout {
        list,
        logp,
        n,
        enc_in,
        e1,
        h: hh,
        keys,
        s_in,
        s,
        q,
        p,
    })
}

/// Accumulates into `grad` ([`gen_params`] order) the gradient of
/// `Σ_t coef[t] · (−log p(list_t))` for a rollout.
pub fn gen_backward(
    m: &Model,
    ro: &Rollout,
    coef: &[f32],
    grad: &mut [Vec<f32>],
) -> Result<(), TrainError> {
    let (be, cfg, g) = (m.backend, &m.cfg, &m.gen);
    let (n, dx, du, h) = (ro.n, cfg.d_x, cfg.d_u, cfg.hidden);
    let len = ro.list.len();
    let kin = 2 * dx + du;
    let mut dk = vec![0f32; n * h];
    let mut dh = vec![0f32; n * h];
    let mut ds = vec![0f32; h];
    let mut dq = vec![0f32; h];
    let mut dz = vec![0f32; h];
    let mut taken = vec![false; n];
    for t in (0..len).rev() {
        taken.fill(false);
        for &i in &ro.list[..t] {
            taken[i] = true;
        }
        let q = &ro.q[t * h..(t + 1) * h];
        dq.fill(0.0);
        for i in (0..n).filter(|&i| !taken[i]) {
            let gi = coef[t] * (ro.p[t * n + i] - if i == ro.list[t] { 1.0 } else { 0.0 });
            if gi == 0.0 {
                continue;
            }
            let kr = &ro.keys[i * h..(i + 1) * h];
            for j in 0..h {
                let a = last_kernels::math::tanh_fast(kr[j] + q[j]);
                grad[12][j] += gi * a;
                let d = gi * g.v[j] * (1.0 - a * a);
                dk[i * h + j] += d;
                dq[j] += d;
            }
        }
        // q_t = B s_t + b_b
        let dqr = MatRef::new(&dq, 1, h)?;
        be.matmul_tn(
            dqr,
            MatRef::new(&ro.s[t * h..(t + 1) * h], 1, h)?,
            MatMut::new(&mut grad[8], h, h)?,
            true,
        )?;
        be.bias_grad(dqr, &mut grad[9])?;
        be.matmul(
            dqr,
            MatRef::new(g.b.weight(), h, h)?,
            MatMut::new(&mut ds, 1, h)?,
            true,
        )?;
        // s_t = tanh(z_t)
        for ((d, v), sv) in dz.iter_mut().zip(&ds).zip(&ro.s[t * h..(t + 1) * h]) {
            *d = v * (1.0 - sv * sv);
        }
        let dzr = MatRef::new(&dz, 1, h)?;
        let sin = &ro.s_in[t];
        let (layer, gw, gb) = if t > 0 {
            (&g.ws, 10, 11)
        } else {
            (&g.w0, 6, 7)
        };
        let k = sin.len();
        be.matmul_tn(
            dzr,
            MatRef::new(sin, 1, k)?,
            MatMut::new(&mut grad[gw], h, k)?,
            true,
        )?;
        be.bias_grad(dzr, &mut grad[gb])?;
        let mut din = vec![0f32; k];
        be.matmul(
            dzr,
            MatRef::new(layer.weight(), h, k)?,
            MatMut::new(&mut din, 1, k)?,
            false,
        )?;
        if t > 0 {
            ds.copy_from_slice(&din[..h]);
            let p = ro.list[t - 1];
            for (d, v) in dh[p * h..(p + 1) * h].iter_mut().zip(&din[h..]) {
                *d += v;
            }
        } else {
            for i in 0..n {
                for (d, v) in dh[i * h..(i + 1) * h].iter_mut().zip(&din[..h]) {
                    *d += v / n as f32;
                }
            }
        }
    }
    // keys = h Aᵀ + b_a
    let dkr = MatRef::new(&dk, n, h)?;
    be.matmul_tn(
        dkr,
        MatRef::new(&ro.h, n, h)?,
        MatMut::new(&mut grad[4], h, h)?,
        true,
    )?;
    be.bias_grad(dkr, &mut grad[5])?;
    be.matmul(
        dkr,
        MatRef::new(g.a.weight(), h, h)?,
        MatMut::new(&mut dh, n, h)?,
        true,
    )?;
    // h = ReLU(W2 e1 + b2)
    be.activation_backward(
        Activation::Relu,
        MatRef::new(&ro.h, n, h)?,
        MatMut::new(&mut dh, n, h)?,
    )?;
    let dhr = MatRef::new(&dh, n, h)?;
    be.matmul_tn(
        dhr,
        MatRef::new(&ro.e1, n, h)?,
        MatMut::new(&mut grad[2], h, h)?,
        true,
    )?;
    be.bias_grad(dhr, &mut grad[3])?;
    let mut de1 = vec![0f32; n * h];
    be.matmul(
        dhr,
        MatRef::new(g.w2.weight(), h, h)?,
        MatMut::new(&mut de1, n, h)?,
        false,
    )?;
    // e1 = ReLU(W1 [x; u; mean x] + b1)
    be.activation_backward(
        Activation::Relu,
        MatRef::new(&ro.e1, n, h)?,
        MatMut::new(&mut de1, n, h)?,
    )?;
    let de1r = MatRef::new(&de1, n, h)?;
    be.matmul_tn(
        de1r,
        MatRef::new(&ro.enc_in, n, kin)?,
        MatMut::new(&mut grad[0], h, kin)?,
        true,
    )?;
    be.bias_grad(de1r, &mut grad[1])?;
    Ok(())
}
