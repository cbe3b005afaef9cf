//! The generator's training pass: a rollout (the model's encoder and
//! recorded decode, [`crate::model::Generator`]) and its backward pass.

use super::*;
use crate::model::{DecodeTape, EncoderTape, GenBackwardBufs, GeneratorParams, GradTarget};
use last_kernels::select::argmax_masked;

/// How a rollout picks each item.
pub enum Pick<'a> {
    /// Arg-max of the scores.
    Greedy,
    /// Sample from the softmax (Gumbel-max with this stream).
    Sample(&'a mut Rng),
    /// Teacher forcing: this list.
    Forced(&'a [usize]),
}

/// A generator rollout on one instance with every activation the backward
/// pass needs.
#[derive(Debug, Clone)]
pub struct Rollout<'a> {
    /// The list produced (or forced).
    pub list: Vec<usize>,
    /// `log p(list_t)` per step.
    pub logp: Vec<f32>,
    inst: &'a Instance,
    mean: Vec<f32>,
    e1: Vec<f32>,
    h: Vec<f32>,
    keys: Vec<f32>,
    tape: DecodeTape,
}

/// Runs the generator on one instance.
pub fn rollout<'a>(
    m: &Model,
    inst: &'a Instance,
    len: usize,
    mut pick: Pick<'_>,
) -> Result<Rollout<'a>, TrainError> {
    let (be, cfg, g) = (m.backend, &m.cfg, &m.gen);
    let (n, dx, du, h) = (inst.n, cfg.d_x, cfg.d_u, cfg.hidden);
    if len == 0 || len > n || inst.user.len() != du || inst.items.len() != n * dx {
        return Err(TrainError::Data(format!(
            "instance {} does not fit the model",
            inst.key
        )));
    }
    let (mut mean, mut ux, mut c1) = (vec![0f32; dx], vec![0f32; du + dx], vec![0f32; h]);
    g.shared_row(
        be,
        cfg,
        inst.items(),
        &inst.user,
        &mut mean,
        &mut ux,
        &mut c1,
    )?;
    let [mut e1, mut hpre, mut hh, mut keys] = [(); 4].map(|_| vec![0f32; n * h]);
    g.encode_rows(
        be,
        cfg,
        inst.items(),
        &c1,
        &mut e1,
        &mut hpre,
        &mut hh,
        &mut keys,
    )?;
    let mut tape = DecodeTape::default();
    let choose = |t: usize, scores: &[f32], logp: &[f32], taken: &[bool]| {
        let choice = match &mut pick {
            Pick::Greedy => argmax_masked(scores, taken)?,
            Pick::Sample(rng) => {
                let mut best: Option<(usize, f64)> = None;
                for i in (0..n).filter(|&i| !taken[i]) {
                    let key = logp[i] as f64 + rng.gumbel();
                    if best.is_none_or(|(_, b)| key > b) {
                        best = Some((i, key));
                    }
                }
                best.map(|b| b.0)
            }
            Pick::Forced(l) => l.get(t).copied().filter(|&i| i < n && !taken[i]),
        };
        choice
            .ok_or_else(|| TrainError::Data(format!("no valid pick at step {t} for {}", inst.key)))
    };
    g.decode(be, &inst.user, &hh, &keys, n, len, choose, &mut tape)?;
    Ok(Rollout {
        list: tape.list.clone(),
        logp: tape.logp.clone(),
        inst,
        mean,
        e1,
        h: hh,
        keys,
        tape,
    })
}

/// Accumulates into `grad` the gradient of `Σ_t coef[t] · (−log p(list_t))`
/// for a rollout (the model's one generator backward pass).
pub fn gen_backward(
    m: &Model,
    ro: &Rollout<'_>,
    coef: &[f32],
    grad: &mut GeneratorParams,
) -> Result<(), TrainError> {
    let enc = EncoderTape {
        items: ro.inst.items(),
        user: &ro.inst.user,
        mean: &ro.mean,
        e1: &ro.e1,
        h: &ro.h,
        keys: &ro.keys,
        ek: None,
    };
    let mut bufs = GenBackwardBufs::default();
    let target = GradTarget::All(grad);
    Ok(m.gen
        .backward(m.backend, &enc, &ro.tape, coef, target, &mut bufs)?)
}
