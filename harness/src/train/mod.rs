//! Offline training on the kernels (DESIGN §1, §4): the **evaluator** by
//! per-position log-loss on logged clicks, the **generator** by a supervised
//! warm start (imitating the initial ranker) followed by policy gradient
//! against the evaluator (per-position advantage over the initial list,
//! reward-to-go with γ). Adam, seeded, early stopping on the validation
//! split; the best validation checkpoint is kept.
//!
//! Forward passes run on the packed dense kernels; backward passes on the
//! kernels' `matmul`, `matmul_tn`, `bias_grad` and `activation_backward`.
//! After each optimiser step the touched layers are re-packed (a few
//! microseconds at these sizes).

use crate::data::dataset::{Dataset, Instance, Log};
use crate::model::{Layer, Model, ModelError};
use crate::progress::Progress;
use crate::rng::Rng;
use last_kernels::{Activation, KernelError, MatMut, MatRef};

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A kernel refused its shapes (a bug if it happens).
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
    /// Rebuilding a layer failed (e.g. the optimiser diverged to non-finite weights).
    #[error("model: {0}")]
    Model(#[from] ModelError),
    /// The dataset cannot be trained on.
    #[error("data: {0}")]
    Data(String),
}

/// A model's trainable tensors, flattened, in a fixed order.
pub type Tensors = Vec<Vec<f32>>;

/// Evaluator tensors: `l1.w, l1.b, l2.w, l2.b, l3.w, l3.b, pos`.
pub fn eval_params(m: &Model) -> Tensors {
    let e = &m.eval;
    let mut v = Vec::new();
    for l in [&e.l1, &e.l2, &e.l3] {
        v.push(l.weight().to_vec());
        v.push(l.bias().to_vec());
    }
    v.push(e.pos.clone());
    v
}

/// Generator tensors: `w1, w2, a, w0, b, ws` (weight then bias), then `v`.
pub fn gen_params(m: &Model) -> Tensors {
    let g = &m.gen;
    let mut v = Vec::new();
    for l in [&g.w1, &g.w2, &g.a, &g.w0, &g.b, &g.ws] {
        v.push(l.weight().to_vec());
        v.push(l.bias().to_vec());
    }
    v.push(g.v.clone());
    v
}

fn relayer(l: &Layer, w: &[f32], b: &[f32], m: &Model) -> Result<Layer, ModelError> {
    Layer::new(l.n, l.k, w.to_vec(), b.to_vec(), m.cfg.dtype)
}

/// Writes evaluator tensors (as from [`eval_params`]) into the model.
pub fn set_eval_params(m: &mut Model, p: &[Vec<f32>]) -> Result<(), ModelError> {
    let e = &m.eval;
    let l1 = relayer(&e.l1, &p[0], &p[1], m)?;
    let l2 = relayer(&e.l2, &p[2], &p[3], m)?;
    let l3 = relayer(&e.l3, &p[4], &p[5], m)?;
    m.eval.l1 = l1;
    m.eval.l2 = l2;
    m.eval.l3 = l3;
    m.eval.pos.copy_from_slice(&p[6]);
    Ok(())
}

/// Writes generator tensors (as from [`gen_params`]) into the model.
pub fn set_gen_params(m: &mut Model, p: &[Vec<f32>]) -> Result<(), ModelError> {
    let g = &m.gen;
    let w1 = relayer(&g.w1, &p[0], &p[1], m)?;
    let w2 = relayer(&g.w2, &p[2], &p[3], m)?;
    let a = relayer(&g.a, &p[4], &p[5], m)?;
    let w0 = relayer(&g.w0, &p[6], &p[7], m)?;
    let b = relayer(&g.b, &p[8], &p[9], m)?;
    let ws = relayer(&g.ws, &p[10], &p[11], m)?;
    let g = &mut m.gen;
    (g.w1, g.w2, g.a, g.w0, g.b, g.ws) = (w1, w2, a, w0, b, ws);
    g.v.copy_from_slice(&p[12]);
    Ok(())
}

fn zeros_like(p: &[Vec<f32>]) -> Tensors {
    p.iter().map(|t| vec![0.0; t.len()]).collect()
}

/// Adam (Kingma & Ba) with bias correction.
#[derive(Debug, Clone)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    t: i32,
    m: Tensors,
    v: Tensors,
}

impl Adam {
    /// State for tensors shaped like `p`.
    pub fn new(p: &[Vec<f32>], lr: f32) -> Self {
        Adam {
            lr,
            t: 0,
            m: zeros_like(p),
            v: zeros_like(p),
        }
    }
    /// One step `p −= lr · m̂ / (√v̂ + 1e-8)` (β = 0.9, 0.999).
    pub fn step(&mut self, p: &mut [Vec<f32>], g: &[Vec<f32>]) {
        let (b1, b2) = (0.9f32, 0.999f32);
        self.t += 1;
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for (((pt, gt), mt), vt) in p.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            for (((x, &gr), m), v) in pt.iter_mut().zip(gt).zip(mt.iter_mut()).zip(vt.iter_mut()) {
                let gr = if gr.is_finite() { gr } else { 0.0 };
                *m = b1 * *m + (1.0 - b1) * gr;
                *v = b2 * *v + (1.0 - b2) * gr * gr;
                *x -= self.lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            }
        }
    }
}

// ---------------------------------------------------------------- evaluator

/// Activations of one batched evaluator forward pass (kept for backward).
#[derive(Debug, Clone, Default)]
pub struct EvalPass {
    rows: usize,
    len: usize,
    z: Vec<f32>,
    e1: Vec<f32>,
    e2: Vec<f32>,
    /// Click probability per row (list-major, `len` rows per list).
    pub c: Vec<f32>,
}

impl EvalPass {
    /// Runs the evaluator on `(instance, list)` pairs, each list `len` long.
    pub fn forward(
        m: &Model,
        pairs: &[(&Instance, &[usize])],
        len: usize,
    ) -> Result<Self, TrainError> {
        let cfg = &m.cfg;
        let zin = cfg.eval_in();
        let rows = pairs.len() * len;
        let mut z = vec![0f32; rows * zin];
        let mut above = vec![0f32; cfg.d_x];
        for (j, (inst, list)) in pairs.iter().enumerate() {
            if list.len() != len || list.iter().any(|&i| i >= inst.n) {
                return Err(TrainError::Data(format!(
                    "list {list:?} invalid for N = {}",
                    inst.n
                )));
            }
            m.eval_input(
                inst.items(),
                &inst.user,
                list,
                len,
                &mut z[j * len * zin..(j + 1) * len * zin],
                &mut above,
            );
        }
        Self::from_input(m, z, rows, len)
    }

    fn from_input(m: &Model, z: Vec<f32>, rows: usize, len: usize) -> Result<Self, TrainError> {
        let (be, cfg, ev) = (m.backend, &m.cfg, &m.eval);
        let (zin, h1, h2) = (cfg.eval_in(), cfg.eval_h1, cfg.eval_h2);
        let mut p = EvalPass {
            rows,
            len,
            e1: vec![0.0; rows * h1],
            e2: vec![0.0; rows * h2],
            c: vec![0.0; rows],
            z,
        };
        if rows == 0 {
            return Ok(p);
        }
        ev.l1.forward(
            be,
            MatRef::new(&p.z, rows, zin)?,
            Activation::Relu,
            MatMut::new(&mut p.e1, rows, h1)?,
        )?;
        ev.l2.forward(
            be,
            MatRef::new(&p.e1, rows, h1)?,
            Activation::Relu,
            MatMut::new(&mut p.e2, rows, h2)?,
        )?;
        ev.l3.forward(
            be,
            MatRef::new(&p.e2, rows, h2)?,
            Activation::Sigmoid,
            MatMut::new(&mut p.c, rows, 1)?,
        )?;
        Ok(p)
    }

    /// List scores `Σ_t w_t · c_t`, one per list.
    pub fn list_scores(&self, m: &Model) -> Vec<f32> {
        self.c
            .chunks_exact(self.len.max(1))
            .map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(t, v)| m.cfg.position_weight(t) * v)
                    .sum()
            })
            .collect()
    }

    /// Gradients of `Σ_rows dlogit_r · logit_r` (pass `c − y` scaled for
    /// log-loss) with respect to the evaluator tensors ([`eval_params`] order).
    pub fn backward(&self, m: &Model, dlogit: &[f32]) -> Result<Tensors, TrainError> {
        let (be, cfg, ev) = (m.backend, &m.cfg, &m.eval);
        let (rows, zin, h1, h2, pd) = (
            self.rows,
            cfg.eval_in(),
            cfg.eval_h1,
            cfg.eval_h2,
            cfg.pos_dim,
        );
        let mut g = zeros_like(&eval_params(m));
        if rows == 0 {
            return Ok(g);
        }
        let dl = MatRef::new(dlogit, rows, 1)?;
        be.matmul_tn(
            dl,
            MatRef::new(&self.e2, rows, h2)?,
            MatMut::new(&mut g[4], 1, h2)?,
            true,
        )?;
        be.bias_grad(dl, &mut g[5])?;
        let mut de2 = vec![0f32; rows * h2];
        be.matmul(
            dl,
            MatRef::new(ev.l3.weight(), 1, h2)?,
            MatMut::new(&mut de2, rows, h2)?,
            false,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(&self.e2, rows, h2)?,
            MatMut::new(&mut de2, rows, h2)?,
        )?;
        let de2r = MatRef::new(&de2, rows, h2)?;
        be.matmul_tn(
            de2r,
            MatRef::new(&self.e1, rows, h1)?,
            MatMut::new(&mut g[2], h2, h1)?,
            true,
        )?;
        be.bias_grad(de2r, &mut g[3])?;
        let mut de1 = vec![0f32; rows * h1];
        be.matmul(
            de2r,
            MatRef::new(ev.l2.weight(), h2, h1)?,
            MatMut::new(&mut de1, rows, h1)?,
            false,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(&self.e1, rows, h1)?,
            MatMut::new(&mut de1, rows, h1)?,
        )?;
        let de1r = MatRef::new(&de1, rows, h1)?;
        be.matmul_tn(
            de1r,
            MatRef::new(&self.z, rows, zin)?,
            MatMut::new(&mut g[0], h1, zin)?,
            true,
        )?;
        be.bias_grad(de1r, &mut g[1])?;
        let mut dz = vec![0f32; rows * zin];
        be.matmul(
            de1r,
            MatRef::new(ev.l1.weight(), h1, zin)?,
            MatMut::new(&mut dz, rows, zin)?,
            false,
        )?;
        let off = zin - pd;
        for r in 0..rows {
            let t = r % self.len;
            for (d, v) in g[6][t * pd..(t + 1) * pd]
                .iter_mut()
                .zip(&dz[r * zin + off..(r + 1) * zin])
            {
                *d += v;
            }
        }
        Ok(g)
    }
}

/// Evaluator click probabilities and log-loss gradient for a batch of logs:
/// returns (summed log-loss, gradients of the mean log-loss).
pub fn eval_logloss_grad(
    m: &Model,
    split: &[Instance],
    logs: &[&Log],
    len: usize,
) -> Result<(f64, Tensors), TrainError> {
    let pairs: Vec<(&Instance, &[usize])> = logs
        .iter()
        .map(|l| (&split[l.instance], &l.list[..len]))
        .collect();
    let pass = EvalPass::forward(m, &pairs, len)?;
    let rows = pass.rows.max(1) as f32;
    let mut loss = 0f64;
    let mut dlogit = vec![0f32; pass.rows];
    for (j, log) in logs.iter().enumerate() {
        for t in 0..len {
            let r = j * len + t;
            let y = if log.clicks[t] { 1.0 } else { 0.0 };
            let c = pass.c[r].clamp(1e-7, 1.0 - 1e-7);
            loss -= y * (c as f64).ln() + (1.0 - y) * (1.0 - c as f64).ln();
            dlogit[r] = (pass.c[r] - y as f32) / rows;
        }
    }
    Ok((loss, pass.backward(m, &dlogit)?))
}

/// Predicted click probabilities for logged impressions (for log-loss / AUC).
pub fn predict_logs(
    m: &Model,
    split: &[Instance],
    logs: &[Log],
    len: usize,
) -> Result<(Vec<f32>, Vec<bool>), TrainError> {
    let mut p = Vec::new();
    let mut y = Vec::new();
    for chunk in logs.chunks(256) {
        let pairs: Vec<(&Instance, &[usize])> = chunk
            .iter()
            .map(|l| (&split[l.instance], &l.list[..len]))
            .collect();
        p.extend(EvalPass::forward(m, &pairs, len)?.c);
        y.extend(chunk.iter().flat_map(|l| l.clicks[..len].iter().copied()));
    }
    Ok((p, y))
}

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

// ---------------------------------------------------------------- loops

/// Training knobs (defaults suit the shared samples and the synthetic world).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainOptions {
    /// Seed of initialisation, shuffling and sampling.
    pub seed: u64,
    /// Evaluator: maximum epochs over the training logs.
    pub eval_epochs: usize,
    /// Evaluator: logs per mini-batch.
    pub eval_batch: usize,
    /// Evaluator learning rate.
    pub eval_lr: f32,
    /// Generator: supervised warm-start epochs (imitating the initial list).
    pub warm_epochs: usize,
    /// Generator: policy-gradient epochs.
    pub pg_epochs: usize,
    /// Generator: sampled lists per instance in policy gradient.
    pub pg_samples: usize,
    /// Generator: instances per mini-batch.
    pub gen_batch: usize,
    /// Generator learning rate.
    pub gen_lr: f32,
    /// Reward-to-go discount.
    pub gamma: f32,
    /// Stop after this many epochs without validation improvement.
    pub patience: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 7,
            eval_epochs: 30,
            eval_batch: 32,
            eval_lr: 2e-3,
            warm_epochs: 3,
            pg_epochs: 8,
            pg_samples: 4,
            gen_batch: 16,
            gen_lr: 1e-3,
            gamma: 0.3,
            patience: 3,
        }
    }
}

/// What evaluator training did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalTrainReport {
    /// Epochs run.
    pub epochs: usize,
    /// Mean training log-loss per epoch.
    pub train_loss: Vec<f64>,
    /// Validation log-loss per epoch.
    pub valid_loss: Vec<f64>,
    /// Best validation log-loss (the kept checkpoint).
    pub best_valid_loss: f64,
    /// Validation log-loss of the untrained evaluator.
    pub initial_valid_loss: f64,
}

fn mean_logloss(p: &[f32], y: &[bool]) -> f64 {
    crate::eval::metrics::log_loss(p, y).unwrap_or(f64::NAN)
}

/// Trains the evaluator on `data.train_logs`, early-stopping on
/// `data.valid_logs` log-loss.
pub fn train_evaluator(
    m: &mut Model,
    data: &Dataset,
    o: &TrainOptions,
) -> Result<EvalTrainReport, TrainError> {
    if data.train_logs.is_empty() {
        return Err(TrainError::Data("no training logs".into()));
    }
    let len = data.len;
    let valid_loss = |m: &Model| -> Result<f64, TrainError> {
        let (p, y) = predict_logs(m, &data.valid_log_instances, &data.valid_logs, len)?;
        Ok(mean_logloss(&p, &y))
    };
    let mut params = eval_params(m);
    let mut adam = Adam::new(&params, o.eval_lr);
    let mut rng = Rng::new(o.seed ^ 0xe7a1);
    let initial = valid_loss(m)?;
    let mut best = (initial, params.clone());
    let mut rep = EvalTrainReport {
        epochs: 0,
        train_loss: vec![],
        valid_loss: vec![],
        best_valid_loss: initial,
        initial_valid_loss: initial,
    };
    let mut order: Vec<usize> = (0..data.train_logs.len()).collect();
    let mut since = 0;
    let mut bar = Progress::new(
        "evaluator",
        o.eval_epochs * order.len().div_ceil(o.eval_batch),
    );
    for epoch in 0..o.eval_epochs {
        rng.shuffle(&mut order);
        let mut total = 0f64;
        for batch in order.chunks(o.eval_batch.max(1)) {
            let logs: Vec<&Log> = batch.iter().map(|&i| &data.train_logs[i]).collect();
            let (loss, g) = eval_logloss_grad(m, &data.train_log_instances, &logs, len)?;
            total += loss;
            adam.step(&mut params, &g);
            set_eval_params(m, &params)?;
            bar.inc(1);
        }
        let tl = total / (order.len() * len) as f64;
        let vl = valid_loss(m)?;
        rep.epochs = epoch + 1;
        rep.train_loss.push(tl);
        rep.valid_loss.push(vl);
        bar.note(&format!("epoch {} train {tl:.4} valid {vl:.4}", epoch + 1));
        if vl < best.0 {
            best = (vl, params.clone());
            since = 0;
        } else {
            since += 1;
            if since >= o.patience {
                break;
            }
        }
    }
    bar.finish();
    rep.best_valid_loss = best.0;
    set_eval_params(m, &best.1)?;
    Ok(rep)
}

/// What generator training did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenTrainReport {
    /// Mean validation evaluator score of greedy lists before training.
    pub initial_valid_score: f64,
    /// ... after each warm-start epoch.
    pub warm_valid_score: Vec<f64>,
    /// ... after each policy-gradient epoch.
    pub pg_valid_score: Vec<f64>,
    /// Score of the kept checkpoint.
    pub best_valid_score: f64,
}

/// Mean evaluator score of the generator's greedy lists on `split`.
pub fn greedy_score(m: &Model, split: &[Instance], len: usize) -> Result<f64, TrainError> {
    let mut lists = Vec::with_capacity(split.len());
    for inst in split {
        lists.push(rollout(m, inst, len, Pick::Greedy)?.list);
    }
    let pairs: Vec<(&Instance, &[usize])> =
        split.iter().zip(&lists).map(|(i, l)| (i, &l[..])).collect();
    let mut total = 0f64;
    for chunk in pairs.chunks(256) {
        total += EvalPass::forward(m, chunk, len)?
            .list_scores(m)
            .iter()
            .map(|v| *v as f64)
            .sum::<f64>();
    }
    Ok(total / split.len().max(1) as f64)
}

/// Trains the generator: warm start by imitating the initial ranker's
/// lists, then policy gradient against the (frozen) evaluator. The kept
/// checkpoint maximises the validation evaluator score of greedy lists.
pub fn train_generator(
    m: &mut Model,
    data: &Dataset,
    o: &TrainOptions,
) -> Result<GenTrainReport, TrainError> {
    let len = data.len;
    if data.train.is_empty() {
        return Err(TrainError::Data("no training instances".into()));
    }
    let mut params = gen_params(m);
    let mut adam = Adam::new(&params, o.gen_lr);
    let mut rng = Rng::new(o.seed ^ 0x9e4);
    let initial = greedy_score(m, &data.valid, len)?;
    let mut rep = GenTrainReport {
        initial_valid_score: initial,
        warm_valid_score: vec![],
        pg_valid_score: vec![],
        best_valid_score: initial,
    };
    let mut best: Option<(f64, Tensors)> = None;
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let steps = (o.warm_epochs + o.pg_epochs) * order.len().div_ceil(o.gen_batch.max(1));
    let mut bar = Progress::new("generator", steps);
    let mut since = 0;
    for epoch in 0..o.warm_epochs + o.pg_epochs {
        let warm = epoch < o.warm_epochs;
        rng.shuffle(&mut order);
        for batch in order.chunks(o.gen_batch.max(1)) {
            let mut g = zeros_like(&params);
            let scale = 1.0 / batch.len() as f32;
            for &i in batch {
                let inst = &data.train[i];
                if warm {
                    let ro = rollout(m, inst, len, Pick::Forced(&inst.initial))?;
                    gen_backward(m, &ro, &vec![scale; len], &mut g)?;
                } else {
                    let samples: Vec<Rollout> = (0..o.pg_samples.max(1))
                        .map(|_| rollout(m, inst, len, Pick::Sample(&mut rng)))
                        .collect::<Result<_, _>>()?;
                    let mut pairs: Vec<(&Instance, &[usize])> = vec![(inst, &inst.initial[..])];
                    pairs.extend(samples.iter().map(|r| (inst, &r.list[..])));
                    let c = EvalPass::forward(m, &pairs, len)?.c;
                    let k = samples.len() as f32;
                    for (j, ro) in samples.iter().enumerate() {
                        let mut coef = vec![0f32; len];
                        let mut acc = 0f32;
                        for t in (0..len).rev() {
                            let adv = m.cfg.position_weight(t) * (c[(j + 1) * len + t] - c[t]);
                            acc = adv + o.gamma * acc;
                            coef[t] = acc * scale / k;
                        }
                        gen_backward(m, ro, &coef, &mut g)?;
                    }
                }
            }
            adam.step(&mut params, &g);
            set_gen_params(m, &params)?;
            bar.inc(1);
        }
        let v = greedy_score(m, &data.valid, len)?;
        if warm {
            rep.warm_valid_score.push(v);
        } else {
            rep.pg_valid_score.push(v);
        }
        bar.note(&format!(
            "epoch {} ({}) valid evaluator score {v:.4}",
            epoch + 1,
            if warm {
                "warm start"
            } else {
                "policy gradient"
            }
        ));
        // Checkpoints from the end of the warm start on compete.
        if epoch + 1 >= o.warm_epochs {
            if best.as_ref().is_none_or(|b| v > b.0) {
                best = Some((v, params.clone()));
                since = 0;
            } else if !warm {
                since += 1;
                if since >= o.patience {
                    break;
                }
            }
        }
    }
    bar.finish();
    if let Some((v, p)) = best {
        rep.best_valid_score = v;
        set_gen_params(m, &p)?;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sim::Truth;
    use crate::model::Config;

    fn tiny() -> (Model, Instance) {
        let cfg = Config {
            d_x: 5,
            d_u: 3,
            hidden: 8,
            eval_h1: 7,
            eval_h2: 6,
            pos_dim: 2,
            max_len: 3,
            max_candidates: 16,
            dtype: crate::model::Dtype::F32,
            position_weights: None,
        };
        let m = Model::random(cfg, 5, last_kernels::Backend::scalar()).unwrap();
        let mut r = Rng::new(1);
        let n = 6;
        let inst = Instance {
            key: "t".into(),
            user: (0..3).map(|_| r.normal() as f32).collect(),
            items: (0..n * 5).map(|_| r.normal() as f32).collect(),
            n,
            initial: vec![0, 1, 2],
            truth: Truth {
                attract: vec![0.5; n],
                group: vec![0; n],
                labels: vec![0.0; n],
            },
        };
        (m, inst)
    }

    /// Directional finite difference `(L(θ+εd) − L(θ−εd)) / 2ε` against `g·d`.
    fn check(name: &str, mut loss: impl FnMut(&[Vec<f32>]) -> f64, p: &[Vec<f32>], g: &[Vec<f32>]) {
        let mut r = Rng::new(11);
        for trial in 0..3 {
            let d: Tensors = p
                .iter()
                .map(|t| t.iter().map(|_| r.normal() as f32).collect())
                .collect();
            let eps = 1e-3f32;
            let shift = |s: f32| -> Tensors {
                p.iter()
                    .zip(&d)
                    .map(|(t, dt)| t.iter().zip(dt).map(|(a, b)| a + s * b).collect())
                    .collect()
            };
            let fd = (loss(&shift(eps)) - loss(&shift(-eps))) / (2.0 * eps as f64);
            let an: f64 = g
                .iter()
                .zip(&d)
                .flat_map(|(a, b)| a.iter().zip(b))
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let tol = 2e-2 * an.abs().max(fd.abs()) + 2e-3;
            assert!(
                (fd - an).abs() <= tol,
                "{name} trial {trial}: finite difference {fd}, analytic {an}"
            );
        }
    }

    #[test]
    fn evaluator_gradient_matches_finite_differences() {
        let (m, inst) = tiny();
        let lists = [vec![0usize, 3, 5], vec![2, 1, 4]];
        let logs: Vec<Log> = lists
            .iter()
            .map(|l| Log {
                instance: 0,
                list: l.clone(),
                clicks: vec![true, false, true],
            })
            .collect();
        let refs: Vec<&Log> = logs.iter().collect();
        let split = [inst];
        let (_, g) = eval_logloss_grad(&m, &split, &refs, 3).unwrap();
        let p = eval_params(&m);
        let mut mm = m.clone();
        check(
            "evaluator",
            |q| {
                set_eval_params(&mut mm, q).unwrap();
                eval_logloss_grad(&mm, &split, &refs, 3).unwrap().0 / 6.0
            },
            &p,
            &g,
        );
    }

    #[test]
    fn generator_gradient_matches_finite_differences() {
        let (m, inst) = tiny();
        let list = [4usize, 0, 2];
        let coef = [0.7f32, -0.4, 1.3];
        let ro = rollout(&m, &inst, 3, Pick::Forced(&list)).unwrap();
        let p = gen_params(&m);
        let mut g = zeros_like(&p);
        gen_backward(&m, &ro, &coef, &mut g).unwrap();
        let mut mm = m.clone();
        check(
            "generator",
            |q| {
                set_gen_params(&mut mm, q).unwrap();
                let r = rollout(&mm, &inst, 3, Pick::Forced(&list)).unwrap();
                r.logp
                    .iter()
                    .zip(&coef)
                    .map(|(l, c)| -(*l as f64) * *c as f64)
                    .sum()
            },
            &p,
            &g,
        );
    }

    #[test]
    fn greedy_rollout_matches_serving_baseline() {
        let (m, inst) = tiny();
        let ro = rollout(&m, &inst, 3, Pick::Greedy).unwrap();
        let req = crate::serve::Request {
            user: &inst.user,
            items: inst.items(),
            len: 3,
            seed: 1,
            variant: crate::serve::Variant::Baseline,
            budget: std::time::Duration::from_secs(1),
        };
        let resp = m
            .serve(&req, &mut crate::serve::Scratch::default(), None)
            .unwrap();
        assert_eq!(ro.list, resp.list);
        let pass = EvalPass::forward(&m, &[(&inst, &ro.list[..])], 3).unwrap();
        assert!((pass.list_scores(&m)[0] - resp.score).abs() < 1e-5);
    }
}
