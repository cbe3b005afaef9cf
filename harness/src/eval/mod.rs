//! The honest comparison behind `last eval` and `last demo` (docs/DESIGN.md §4).
//!
//! Every variant serves every **test** request at the same K and latency
//! budget. Lists are chosen by the generator and the evaluator only; the
//! ground-truth click model and the labels are used afterwards, to measure:
//! expected clicks under the judge, NDCG@{1,5,10}, MAP@{5,10}, the
//! evaluator's own score, and p50/p99 latency. Each metric is compared with
//! the generator alone by a paired bootstrap interval over requests.
//!
//! Knobs that the variants share (σ of the parallel noise, the gradient
//! step scale) are chosen on the **validation** split, by its ground-truth
//! reward, before the test split is touched.

pub mod metrics;
pub mod plot;

mod arms;
mod quality;
mod report;

use crate::data::dataset::{Dataset, Instance};
use crate::model::Model;
use crate::rng::Rng;
use crate::serve::{NoiseSpec, Request, Scratch, ServeError, Target, Variant};
use crate::train::{kendall_taus, predict_logs, EvalPass, TrainError};
pub use arms::{arms, tune, Arm, Tuned, Tuning, NOISES};
use arms::{cap, max_n, run_arm, with_k, Outcome};
use metrics::Interval;
pub use quality::evaluator_quality;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Evaluation knobs.
#[derive(Debug, Clone, Serialize)]
pub struct EvalOptions {
    /// Lists per request for every multi-candidate variant (equal K).
    pub k: usize,
    /// Latency budget of the main table.
    pub budget: Duration,
    /// Budgets of the reward-vs-budget sweep (empty: no sweep).
    pub sweep: Vec<Duration>,
    /// K ceiling in the sweep (the budget, not K, should bind).
    pub sweep_k: usize,
    /// Bootstrap resamples.
    pub bootstrap: usize,
    /// Seed of request seeds, bootstrap and random re-orderings.
    pub seed: u64,
    /// Use at most this many test (and validation) requests.
    pub max_requests: Option<usize>,
    /// σ grid searched on validation for parallel noise.
    pub sigma_grid: Vec<f32>,
    /// Step-scale grid searched on validation for gradient exploration.
    pub scale_grid: Vec<f32>,
    /// λ grid searched on validation for the safe variant.
    pub lambda_grid: Vec<f32>,
    /// Margin grid (evaluator score) searched on validation for the safe variant.
    pub margin_grid: Vec<f32>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            k: 16,
            budget: Duration::from_millis(500),
            sweep: [25u64, 50, 100, 200, 400, 800, 1600, 3200]
                .into_iter()
                .map(Duration::from_micros)
                .collect(),
            sweep_k: 128,
            bootstrap: 2000,
            seed: 99,
            max_requests: None,
            sigma_grid: vec![0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
            scale_grid: vec![0.005, 0.01, 0.02, 0.05],
            lambda_grid: vec![0.0, 0.5, 1.0, 2.0, 4.0],
            margin_grid: vec![0.0, 0.005, 0.02, 0.05],
        }
    }
}

/// Why the evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Serving a test request failed.
    #[error("serving {key}: {source}")]
    Serve {
        /// Instance key.
        key: String,
        /// Cause.
        source: ServeError,
    },
    /// Scoring with the evaluator failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Nothing to evaluate.
    #[error("{0}")]
    Empty(String),
}

/// A metric's mean and its paired difference to the generator alone.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Paired {
    /// Mean over requests.
    pub mean: f64,
    /// Mean of (this − generator alone).
    pub diff: f64,
    /// 95 % bootstrap interval of `diff`.
    pub ci95: Interval,
}

/// One variant's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Variant name.
    pub variant: String,
    /// Mean ground-truth expected clicks.
    pub gt_reward: f64,
    /// 95 % bootstrap interval of the paired difference to the generator alone.
    pub gt_reward_diff_ci95: [f64; 2],
    /// NDCG@10.
    #[serde(rename = "ndcg@10")]
    pub ndcg10: f64,
    /// MAP@10.
    #[serde(rename = "map@10")]
    pub map10: f64,
    /// Mean evaluator list score.
    pub eval_score: f64,
    /// Median latency (µs).
    pub p50_us: f64,
    /// 99th-percentile latency (µs).
    pub p99_us: f64,
    /// Lists scored per request (mean).
    pub candidates: f64,
    /// Test requests.
    pub requests: usize,
    /// Requests where this variant's list has more / the same / fewer
    /// expected clicks than the generator's (ties within 1e-9).
    pub wins_ties_losses: [usize; 3],
    /// Share of requests whose served list differs from the generator's.
    pub changed: f64,
    /// Every metric with its paired difference: `gt_reward`, `ndcg@1`,
    /// `ndcg@5`, `ndcg@10`, `map@5`, `map@10`, `eval_score`.
    pub metrics: Vec<(String, Paired)>,
}

/// The evaluator's quality, measured on held-out data.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorQuality {
    /// Log-loss on held-out (validation) logged clicks.
    pub logloss: f64,
    /// AUC on the same clicks.
    pub auc: Option<f64>,
    /// Mean over test requests of Kendall τ-b between the evaluator's list
    /// score and ground-truth expected clicks, on random re-orderings.
    pub kendall_tau: f64,
    /// Requests and random lists per request behind `kendall_tau`.
    pub tau_lists: (usize, usize),
    /// The same τ-b on lists sampled from the generator's own policy: the
    /// neighbourhood LAST searches, where the evaluator has to be right.
    pub kendall_tau_policy: f64,
}

/// Mean ground-truth reward of some variants at a budget.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Variant.
    pub variant: String,
    /// Budget (µs).
    pub budget_us: f64,
    /// Mean ground-truth expected clicks.
    pub gt_reward: f64,
    /// Mean lists scored.
    pub candidates: f64,
    /// Median latency (µs).
    pub p50_us: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset name.
    pub dataset: String,
    /// Instruction-set path.
    pub isa: String,
    /// Options used.
    pub options: EvalOptions,
    /// σ chosen on validation (relative to RMS of the perturbed matrix) per noise variant.
    pub chosen: Vec<(String, f32)>,
    /// The serving defaults chosen on validation (`last eval` writes them
    /// to the model folder's `serving.json`).
    pub serving: crate::model::ServingSettings,
    /// The safe variant's validation grid: setting, mean gain in
    /// expected clicks over the generator, lower end of its Bonferroni
    /// interval (see `Tuning::safe`; NaN, `null` in JSON, where not computed).
    pub safe_validation: Vec<(String, f64, f64)>,
    /// Evaluator quality.
    pub evaluator: EvaluatorQuality,
    /// One row per variant.
    pub rows: Vec<Row>,
    /// Reward-vs-budget points.
    pub sweep: Vec<SweepPoint>,
}

fn paired(x: &[f64], base: &[f64], o: &EvalOptions, salt: u64) -> Paired {
    let diffs: Vec<f64> = x.iter().zip(base).map(|(a, b)| a - b).collect();
    let ci95 =
        metrics::bootstrap_mean_ci(&diffs, o.bootstrap, 0.95, o.seed ^ salt).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        });
    Paired {
        mean: metrics::mean(x),
        diff: metrics::mean(&diffs),
        ci95,
    }
}

/// Runs the comparison on the test split (after tuning on validation).
pub fn evaluate(m: &Model, data: &Dataset, o: &EvalOptions) -> Result<Report, EvalError> {
    let test = cap(&data.test, o.max_requests);
    if test.is_empty() {
        return Err(EvalError::Empty(format!("{}: no test requests", data.name)));
    }
    // Progress in passes over a split: the tuning runs, one per arm, one
    // per sweep point, and the evaluator-quality pass.
    let tune_runs = NOISES.len() * (o.sigma_grid.len() + o.lambda_grid.len() * o.margin_grid.len())
        + o.scale_grid.len()
        + 1;
    let mut bar = crate::progress::Progress::new(
        "eval",
        tune_runs + NOISES.len() + 7 + 6 * o.sweep.len() + 1,
    );
    bar.note(&format!(
        "tuning σ, the gradient scale, λ and the margin on {} validation requests",
        cap(&data.valid, o.max_requests).len()
    ));
    let tuning = tune(m, data, o)?;
    bar.inc(tune_runs);
    let arms = arms(o.k, max_n(test), data.len, &tuning);
    let (sigmas, scale) = (&tuning.sigmas, tuning.scale);
    bar.note(&format!(
        "{} variants on {} test requests",
        arms.len(),
        test.len()
    ));
    let mut outs = Vec::new();
    for &arm in &arms {
        outs.push((arm, run_arm(m, data, test, arm, o.budget, o.seed)?));
        bar.inc(1);
    }
    let base = outs
        .iter()
        .find(|(a, _)| *a == Arm::Serve(Variant::Baseline))
        .map(|(_, o)| o.clone())
        .expect("the generator arm is always compared");
    let rows = outs
        .iter()
        .map(|(arm, out)| row(*arm, out, &base, o, test.len()))
        .collect();
    let sweep = budget_sweep(m, data, test, o, &tuning, &mut bar)?;
    Ok(Report {
        dataset: data.name.clone(),
        isa: m.backend.isa().name().to_string(),
        options: o.clone(),
        chosen: sigmas
            .iter()
            .map(|(n, t, s)| {
                let v = Variant::Parallel {
                    k: o.k,
                    sigma: *s,
                    noise: *n,
                    target: *t,
                };
                (v.name(), *s)
            })
            .chain(std::iter::once(("gradient_scale".to_string(), scale)))
            .collect(),
        serving: serving_settings(&tuning, o),
        safe_validation: tuning.safe_grid.clone(),
        evaluator: {
            let q = evaluator_quality(m, data, o)?;
            bar.finish();
            q
        },
        rows,
        sweep,
    })
}

/// The tuned knobs and the validation-best variant as `serving.json`.
fn serving_settings(t: &Tuning, o: &EvalOptions) -> crate::model::ServingSettings {
    let (sigmas, scale, best) = (&t.sigmas, t.scale, t.best);
    let sig = |noise| {
        sigmas
            .iter()
            .find(|(n, _, _)| *n == noise)
            .map_or(0.05, |t| t.2)
    };
    crate::model::ServingSettings {
        variant: best,
        budget_us: o
            .budget
            .as_micros()
            .min(u128::from(crate::model::MAX_SERVING_BUDGET_US)) as u64,
        k: o.k,
        sigma: crate::model::Sigmas {
            gaussian_w2: sig(NoiseSpec::Gaussian),
            rademacher_w2: sig(NoiseSpec::Rademacher),
            antithetic_w2: sig(NoiseSpec::Antithetic),
            table_w2: sig(NoiseSpec::Table),
            lowrank1_keys: sig(NoiseSpec::LowRank(1)),
        },
        gradient_scale: scale,
        safe: Some(t.safe),
    }
}

/// One arm's line of the report: every metric paired with the generator alone.
fn row(arm: Arm, out: &Outcome, base: &Outcome, o: &EvalOptions, requests: usize) -> Row {
    let names = [
        "gt_reward",
        "ndcg@1",
        "ndcg@5",
        "ndcg@10",
        "map@5",
        "map@10",
        "eval_score",
    ];
    let series: [(&Vec<f64>, &Vec<f64>); 7] = [
        (&out.gt, &base.gt),
        (&out.ndcg[0], &base.ndcg[0]),
        (&out.ndcg[1], &base.ndcg[1]),
        (&out.ndcg[2], &base.ndcg[2]),
        (&out.map[0], &base.map[0]),
        (&out.map[1], &base.map[1]),
        (&out.eval, &base.eval),
    ];
    let metrics: Vec<(String, Paired)> = names
        .iter()
        .zip(series)
        .enumerate()
        .map(|(j, (n, (x, b)))| (n.to_string(), paired(x, b, o, j as u64 + 1)))
        .collect();
    let gt = metrics[0].1;
    let mut wtl = [0usize; 3];
    for (x, b) in out.gt.iter().zip(&base.gt) {
        wtl[if x - b > 1e-9 {
            0
        } else if b - x > 1e-9 {
            2
        } else {
            1
        }] += 1;
    }
    let changed = out
        .lists
        .iter()
        .zip(&base.lists)
        .filter(|(a, b)| a != b)
        .count();
    Row {
        variant: arm.name(),
        gt_reward: gt.mean,
        gt_reward_diff_ci95: [gt.ci95.low, gt.ci95.high],
        ndcg10: metrics[3].1.mean,
        map10: metrics[5].1.mean,
        eval_score: metrics[6].1.mean,
        p50_us: metrics::quantile(&out.lat_us, 0.5).unwrap_or(0.0),
        p99_us: metrics::quantile(&out.lat_us, 0.99).unwrap_or(0.0),
        candidates: metrics::mean(&out.cands),
        requests,
        wins_ties_losses: wtl,
        changed: changed as f64 / out.lists.len().max(1) as f64,
        metrics,
    }
}

/// Mean ground-truth reward of the sweep's variants at each budget of `o.sweep`.
fn budget_sweep(
    m: &Model,
    data: &Dataset,
    test: &[Instance],
    o: &EvalOptions,
    t: &Tuning,
    bar: &mut crate::progress::Progress,
) -> Result<Vec<SweepPoint>, EvalError> {
    let (sigmas, scale) = (&t.sigmas, t.scale);
    let mut sweep = Vec::new();
    let sig = |noise: NoiseSpec| {
        sigmas
            .iter()
            .find(|s| s.0 == noise)
            .map(|s| s.2)
            .unwrap_or(0.05)
    };
    let kk = o.sweep_k.max(2);
    let sweep_arms = [
        Arm::Serve(Variant::BestOfK { k: kk }),
        Arm::Serve(Variant::Parallel {
            k: kk,
            sigma: sig(NoiseSpec::Gaussian),
            noise: NoiseSpec::Gaussian,
            target: Target::W2,
        }),
        Arm::Serve(Variant::Parallel {
            k: kk,
            sigma: sig(NoiseSpec::LowRank(1)),
            noise: NoiseSpec::LowRank(1),
            target: Target::Keys,
        }),
        Arm::Serve(Variant::GradientExploration {
            ladder: kk / 2,
            samples: kk - kk / 2 - 1,
            scale,
            gamma: 0.3,
        }),
        Arm::Serve(with_k(t.safe, kk)),
        Arm::Serve(Variant::Serial {
            rounds: kk / 4,
            pairs: 2,
            sigma: sig(NoiseSpec::Gaussian),
            step: sig(NoiseSpec::Gaussian) * 0.4,
            trust: sig(NoiseSpec::Gaussian) * 4.0,
            patience: kk,
        }),
    ];
    for &b in &o.sweep {
        for &arm in &sweep_arms {
            let out = run_arm(m, data, test, arm, b, o.seed)?;
            sweep.push(SweepPoint {
                variant: arm.name(),
                budget_us: b.as_secs_f64() * 1e6,
                gt_reward: metrics::mean(&out.gt),
                candidates: metrics::mean(&out.cands),
                p50_us: metrics::quantile(&out.lat_us, 0.5).unwrap_or(0.0),
            });
            bar.inc(1);
        }
    }
    Ok(sweep)
}
