//! Offline training on the kernels (docs/DESIGN.md §1, §4): the **evaluator** by
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
use crate::model::{EvaluatorParams, GeneratorParams, Model, ModelError, Params};
use crate::progress::Progress;
use crate::rng::Rng;
use last_kernels::{Activation, KernelError, MatMut, MatRef};

mod ensemble;
mod evaluator;
mod generator;
mod params;
mod relog;
#[cfg(test)]
mod tests;

pub use ensemble::train_ensemble;
pub use evaluator::{eval_logloss_grad, predict_logs, EvalPass};
pub use generator::{gen_backward, rollout, Pick, Rollout};
pub use params::Adam;
pub use relog::{kendall_taus, second_round, with_generator_logs, RelogReport};

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
    /// Second logging round: impressions per train and validation request
    /// logged from the trained generator, then the evaluator fine-tuned on
    /// both rounds (0 = none; only where clicks can be simulated).
    pub relog: usize,
    /// Evaluator ensemble size, the evaluator included (1 = no further
    /// members; see [`train_ensemble`]).
    pub members: usize,
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
            relog: 4,
            members: 4,
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
    if data.valid_logs.is_empty() {
        // Early stopping would compare NaN losses and keep a random model.
        return Err(TrainError::Data("no validation logs".into()));
    }
    let len = data.len;
    let valid_loss = |m: &Model| -> Result<f64, TrainError> {
        let (p, y) = predict_logs(m, &data.valid_log_instances, &data.valid_logs, len)?;
        Ok(mean_logloss(&p, &y))
    };
    let mut params = EvaluatorParams::of(&m.eval);
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
            params.apply(&mut m.eval, m.cfg.dtype)?;
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
    best.1.apply(&mut m.eval, m.cfg.dtype)?;
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
    if data.valid.is_empty() {
        return Err(TrainError::Data("no validation instances".into()));
    }
    let mut params = GeneratorParams::of(&m.gen);
    let mut adam = Adam::new(&params, o.gen_lr);
    let mut rng = Rng::new(o.seed ^ 0x9e4);
    let initial = greedy_score(m, &data.valid, len)?;
    let mut rep = GenTrainReport {
        initial_valid_score: initial,
        warm_valid_score: vec![],
        pg_valid_score: vec![],
        best_valid_score: initial,
    };
    let mut best: Option<(f64, GeneratorParams)> = None;
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let steps = (o.warm_epochs + o.pg_epochs) * order.len().div_ceil(o.gen_batch.max(1));
    let mut bar = Progress::new("generator", steps);
    let mut since = 0;
    for epoch in 0..o.warm_epochs + o.pg_epochs {
        let warm = epoch < o.warm_epochs;
        rng.shuffle(&mut order);
        for batch in order.chunks(o.gen_batch.max(1)) {
            let mut g = params.zeros_like();
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
            params.apply(&mut m.gen, m.cfg.dtype)?;
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
        p.apply(&mut m.gen, m.cfg.dtype)?;
    }
    Ok(rep)
}
