//! Parameter lists of the two networks and the Adam optimiser.

use super::*;

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

pub(super) fn zeros_like(p: &[Vec<f32>]) -> Tensors {
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
