//! The evaluator's training pass: forward with stored activations, list
//! scores, backward, and the per-position log-loss.

use super::*;

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
