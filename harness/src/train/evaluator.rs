//! The evaluator's training pass: forward with stored activations, list
//! scores, backward, and the per-position log-loss.

use super::*;
use crate::model::{EvalParts, EvalRows, EvaluatorParams, Params};

/// Activations of one batched evaluator forward pass (the model's forward,
/// [`crate::model::Evaluator`], one list at a time without prefix sharing),
/// kept for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct EvalPass {
    rows: usize,
    len: usize,
    /// Each row's first-layer input `z_t` (for the weight gradient).
    z: Vec<f32>,
    ev: EvalRows,
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
        let (be, cfg, ev) = (m.backend, &m.cfg, &m.eval);
        let (zin, dx, h1) = (cfg.eval_in(), cfg.d_x, cfg.eval_h1);
        let rows = pairs.len() * len;
        let mut p = EvalPass {
            rows,
            len,
            z: vec![0f32; rows * zin],
            ev: EvalRows::default(),
            c: vec![],
        };
        p.ev.e1.resize(rows * h1, 0.0);
        let (mut above, mut xs) = (vec![0f32; dx], vec![0f32; len * dx]);
        let (mut parts, mut one) = (EvalParts::default(), EvalRows::default());
        let positions: Vec<usize> = (0..len).collect();
        for (j, (inst, list)) in pairs.iter().enumerate() {
            if list.len() != len || list.iter().any(|&i| i >= inst.n) {
                return Err(TrainError::Data(format!(
                    "list {list:?} invalid for N = {}",
                    inst.n
                )));
            }
            // The listed items' parts, indexed by position.
            for (t, &i) in list.iter().enumerate() {
                xs[t * dx..(t + 1) * dx].copy_from_slice(inst.items().row(i));
            }
            parts.px.resize(len * h1, 0.0);
            parts.pm.resize(len * h1, 0.0);
            let x = MatRef::new(&xs, len, dx)?;
            ev.item_parts(
                be,
                cfg,
                x,
                &mut parts.px[..len * h1],
                &mut parts.pm[..len * h1],
            )?;
            ev.request_parts(be, cfg, &inst.user, len, &mut parts)?;
            ev.first_layer(cfg, &parts, &positions, len, 0, &mut one);
            p.ev.e1[j * len * h1..(j + 1) * len * h1].copy_from_slice(&one.e1[..len * h1]);
            let zj = &mut p.z[j * len * zin..(j + 1) * len * zin];
            m.eval_input(inst.items(), &inst.user, list, len, zj, &mut above);
        }
        if rows > 0 {
            ev.head(be, cfg, rows, &mut p.ev)?;
        }
        p.c = p.ev.c[..rows].to_vec();
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
    /// log-loss) with respect to the evaluator's parameters.
    pub fn backward(&self, m: &Model, dlogit: &[f32]) -> Result<EvaluatorParams, TrainError> {
        let (be, cfg, ev) = (m.backend, &m.cfg, &m.eval);
        let (rows, zin, h1, h2, pd) = (
            self.rows,
            cfg.eval_in(),
            cfg.eval_h1,
            cfg.eval_h2,
            cfg.pos_dim,
        );
        let mut g = EvaluatorParams::of(ev).zeros_like();
        if rows == 0 {
            return Ok(g);
        }
        let dl = MatRef::new(dlogit, rows, 1)?;
        be.matmul_tn(
            dl,
            MatRef::new(&self.ev.e2[..rows * h2], rows, h2)?,
            MatMut::new(&mut g.l3.w, 1, h2)?,
            true,
        )?;
        be.bias_grad(dl, &mut g.l3.b)?;
        let mut de2 = vec![0f32; rows * h2];
        be.matmul(
            dl,
            MatRef::new(ev.l3.weight(), 1, h2)?,
            MatMut::new(&mut de2, rows, h2)?,
            false,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(&self.ev.e2[..rows * h2], rows, h2)?,
            MatMut::new(&mut de2, rows, h2)?,
        )?;
        let de2r = MatRef::new(&de2, rows, h2)?;
        be.matmul_tn(
            de2r,
            MatRef::new(&self.ev.e1[..rows * h1], rows, h1)?,
            MatMut::new(&mut g.l2.w, h2, h1)?,
            true,
        )?;
        be.bias_grad(de2r, &mut g.l2.b)?;
        let mut de1 = vec![0f32; rows * h1];
        be.matmul(
            de2r,
            MatRef::new(ev.l2.weight(), h2, h1)?,
            MatMut::new(&mut de1, rows, h1)?,
            false,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(&self.ev.e1[..rows * h1], rows, h1)?,
            MatMut::new(&mut de1, rows, h1)?,
        )?;
        let de1r = MatRef::new(&de1, rows, h1)?;
        be.matmul_tn(
            de1r,
            MatRef::new(&self.z, rows, zin)?,
            MatMut::new(&mut g.l1.w, h1, zin)?,
            true,
        )?;
        be.bias_grad(de1r, &mut g.l1.b)?;
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
            for (d, v) in g.pos[t * pd..(t + 1) * pd]
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
) -> Result<(f64, EvaluatorParams), TrainError> {
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
