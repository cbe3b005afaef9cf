//! The Adam optimiser over a named parameter set ([`crate::model::Params`]).

use crate::model::Params;

/// Adam (Kingma & Ba) with bias correction.
#[derive(Debug, Clone)]
pub struct Adam<P> {
    /// Learning rate.
    pub lr: f32,
    t: i32,
    m: P,
    v: P,
}

impl<P: Params> Adam<P> {
    /// State for parameters shaped like `p`.
    pub fn new(p: &P, lr: f32) -> Self {
        Adam {
            lr,
            t: 0,
            m: p.zeros_like(),
            v: p.zeros_like(),
        }
    }
    /// One step `p −= lr · m̂ / (√v̂ + 1e-8)` (β = 0.9, 0.999); non-finite
    /// gradient entries count as 0.
    pub fn step(&mut self, p: &mut P, g: &P) {
        let (b1, b2) = (0.9f32, 0.999f32);
        self.t += 1;
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        let tensors = p.tensors_mut().into_iter().zip(g.tensors());
        for ((pt, gt), (mt, vt)) in
            tensors.zip(self.m.tensors_mut().into_iter().zip(self.v.tensors_mut()))
        {
            for (((x, &gr), m), v) in pt.iter_mut().zip(gt).zip(mt.iter_mut()).zip(vt.iter_mut()) {
                let gr = if gr.is_finite() { gr } else { 0.0 };
                *m = b1 * *m + (1.0 - b1) * gr;
                *v = b2 * *v + (1.0 - b2) * gr * gr;
                *x -= self.lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            }
        }
    }
}
