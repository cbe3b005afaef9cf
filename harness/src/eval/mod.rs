//! The honest comparison behind `last eval` and `last demo` (DESIGN §4).
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

use crate::data::dataset::{Dataset, Instance};
use crate::model::Model;
use crate::rng::Rng;
use crate::serve::{NoiseSpec, Request, Scratch, ServeError, Target, Variant};
use crate::train::{predict_logs, rollout, EvalPass, Pick, TrainError};
use metrics::Interval;
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
    /// Evaluator quality.
    pub evaluator: EvaluatorQuality,
    /// One row per variant.
    pub rows: Vec<Row>,
    /// Reward-vs-budget points.
    pub sweep: Vec<SweepPoint>,
}

/// A compared method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arm {
    /// The initial ranker's list (no model).
    Initial,
    /// A serving variant.
    Serve(Variant),
}

impl Arm {
    /// Report name.
    pub fn name(&self) -> String {
        match self {
            Arm::Initial => "initial".into(),
            Arm::Serve(Variant::Baseline) => "generator".into(),
            Arm::Serve(v) => v.name(),
        }
    }
}

/// Per-request outcome of one arm.
#[derive(Debug, Clone)]
struct Outcome {
    gt: Vec<f64>,
    ndcg: [Vec<f64>; 3],
    map: [Vec<f64>; 2],
    eval: Vec<f64>,
    lat_us: Vec<f64>,
    cands: Vec<f64>,
}

fn request_seed(seed: u64, i: usize) -> u64 {
    last_kernels::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9))
}

/// Serves every instance of `split` with `arm` on one thread.
fn run_arm(
    m: &Model,
    data: &Dataset,
    split: &[Instance],
    arm: Arm,
    budget: Duration,
    seed: u64,
) -> Result<Outcome, EvalError> {
    let len = data.len;
    let mut o = Outcome {
        gt: vec![],
        ndcg: Default::default(),
        map: Default::default(),
        eval: vec![],
        lat_us: vec![],
        cands: vec![],
    };
    let mut scratch = Scratch::default();
    for (i, inst) in split.iter().enumerate() {
        let (list, score, lat, cands) = match arm {
            Arm::Initial => {
                let s = EvalPass::forward(m, &[(inst, &inst.initial[..])], len)?.list_scores(m)[0];
                (inst.initial.clone(), s, 0.0, 0.0)
            }
            Arm::Serve(variant) => {
                let req = Request {
                    user: &inst.user,
                    items: inst.items(),
                    len,
                    seed: request_seed(seed, i),
                    variant,
                    budget,
                };
                let t = Instant::now();
                let r = m
                    .serve(&req, &mut scratch, None)
                    .map_err(|source| EvalError::Serve {
                        key: inst.key.clone(),
                        source,
                    })?;
                let lat = t.elapsed().as_secs_f64() * 1e6;
                (r.list, r.score, lat, r.candidates as f64)
            }
        };
        let labels: Vec<f32> = list.iter().map(|&j| inst.truth.labels[j]).collect();
        let all = &inst.truth.labels;
        o.gt.push(data.judge.expected_clicks(&inst.truth, &list));
        for (v, k) in o.ndcg.iter_mut().zip([1, 5, 10]) {
            v.push(metrics::ndcg_at(&labels, all, k));
        }
        for (v, k) in o.map.iter_mut().zip([5, 10]) {
            v.push(metrics::average_precision_at(
                &labels,
                all,
                k,
                data.map_threshold,
            ));
        }
        o.eval.push(score as f64);
        o.lat_us.push(lat);
        o.cands.push(cands);
    }
    Ok(o)
}

fn cap(split: &[Instance], max: Option<usize>) -> &[Instance] {
    &split[..max.unwrap_or(usize::MAX).min(split.len())]
}

/// The variants compared at equal K, σ and step scale from validation.
pub fn arms(
    k: usize,
    n: usize,
    len: usize,
    sigma: &[(NoiseSpec, Target, f32)],
    scale: f32,
) -> Vec<Arm> {
    let k = k.max(2);
    let mut v = vec![
        Arm::Initial,
        Arm::Serve(Variant::Baseline),
        Arm::Serve(Variant::BestOfK { k }),
        Arm::Serve(Variant::GradientExploration {
            ladder: k / 2,
            samples: k - k / 2 - 1,
            scale,
            gamma: 0.3,
        }),
    ];
    for &(noise, target, s) in sigma {
        v.push(Arm::Serve(Variant::Parallel {
            k,
            sigma: s,
            noise,
            target,
        }));
    }
    let sig = sigma.first().map(|s| s.2).unwrap_or(0.05);
    v.push(Arm::Serve(Variant::Serial {
        rounds: (k / 4).max(1),
        pairs: 2,
        sigma: sig,
        step: sig * 0.4,
        trust: sig * 4.0,
        patience: 2,
    }));
    if n <= crate::serve::EXHAUSTIVE_MAX_N && len <= crate::serve::EXHAUSTIVE_MAX_L {
        v.push(Arm::Serve(Variant::Exhaustive));
    }
    v
}

/// The noise kinds compared.
pub const NOISES: [(NoiseSpec, Target); 5] = [
    (NoiseSpec::Gaussian, Target::W2),
    (NoiseSpec::Rademacher, Target::W2),
    (NoiseSpec::Antithetic, Target::W2),
    (NoiseSpec::Table, Target::W2),
    (NoiseSpec::LowRank(1), Target::Keys),
];

fn max_n(split: &[Instance]) -> usize {
    split.iter().map(|i| i.n).max().unwrap_or(0)
}

/// A noise kind, its target and the σ chosen for it.
pub type Tuned = (NoiseSpec, Target, f32);

/// Chooses σ per noise kind and the gradient scale on the validation split
/// by mean ground-truth reward.
pub fn tune(m: &Model, data: &Dataset, o: &EvalOptions) -> Result<(Vec<Tuned>, f32), EvalError> {
    let valid = cap(&data.valid, o.max_requests);
    if valid.is_empty() {
        let s = o.sigma_grid.first().copied().unwrap_or(0.05);
        let sc = o.scale_grid.first().copied().unwrap_or(0.01);
        return Ok((NOISES.iter().map(|&(n, t)| (n, t, s)).collect(), sc));
    }
    let mean = |x: &[f64]| metrics::mean(x);
    let mut chosen = Vec::new();
    for &(noise, target) in &NOISES {
        let mut best = (f64::NEG_INFINITY, 0.05);
        for &s in &o.sigma_grid {
            let arm = Arm::Serve(Variant::Parallel {
                k: o.k,
                sigma: s,
                noise,
                target,
            });
            let r = mean(&run_arm(m, data, valid, arm, o.budget, o.seed ^ 0x7a1)?.gt);
            if r > best.0 {
                best = (r, s);
            }
        }
        chosen.push((noise, target, best.1));
    }
    let mut best = (f64::NEG_INFINITY, 0.01);
    let k = o.k.max(2);
    for &sc in &o.scale_grid {
        let arm = Arm::Serve(Variant::GradientExploration {
            ladder: k / 2,
            samples: k - k / 2 - 1,
            scale: sc,
            gamma: 0.3,
        });
        let r = mean(&run_arm(m, data, valid, arm, o.budget, o.seed ^ 0x7a1)?.gt);
        if r > best.0 {
            best = (r, sc);
        }
    }
    Ok((chosen, best.1))
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

/// Evaluator log-loss / AUC on held-out logs and Kendall τ on random lists.
pub fn evaluator_quality(
    m: &Model,
    data: &Dataset,
    o: &EvalOptions,
) -> Result<EvaluatorQuality, EvalError> {
    let (p, y) = predict_logs(m, &data.valid_log_instances, &data.valid_logs, data.len)?;
    let test = cap(&data.test, o.max_requests.or(Some(200)));
    let per = 20;
    let mut rng = Rng::new(o.seed ^ 0x7a0);
    let mut taus = Vec::new();
    let mut taus_policy = Vec::new();
    let tau = |inst: &Instance, lists: &[Vec<usize>]| -> Result<Option<f64>, EvalError> {
        let pairs: Vec<(&Instance, &[usize])> = lists.iter().map(|l| (inst, &l[..])).collect();
        let es: Vec<f64> = EvalPass::forward(m, &pairs, data.len)?
            .list_scores(m)
            .iter()
            .map(|v| *v as f64)
            .collect();
        let gt: Vec<f64> = lists
            .iter()
            .map(|l| data.judge.expected_clicks(&inst.truth, l))
            .collect();
        Ok(metrics::kendall_tau_b(&es, &gt))
    };
    for inst in test {
        let random: Vec<Vec<usize>> = (0..per)
            .map(|_| {
                let mut idx: Vec<usize> = (0..inst.n).collect();
                rng.shuffle(&mut idx);
                idx.truncate(data.len);
                idx
            })
            .collect();
        taus.extend(tau(inst, &random)?);
        let policy: Vec<Vec<usize>> = (0..per)
            .map(|_| rollout(m, inst, data.len, Pick::Sample(&mut rng)).map(|r| r.list))
            .collect::<Result<_, _>>()?;
        taus_policy.extend(tau(inst, &policy)?);
    }
    Ok(EvaluatorQuality {
        logloss: metrics::log_loss(&p, &y).unwrap_or(f64::NAN),
        auc: metrics::auc(&p, &y),
        kendall_tau: metrics::mean(&taus),
        tau_lists: (taus.len(), per),
        kendall_tau_policy: metrics::mean(&taus_policy),
    })
}

/// Runs the comparison on the test split (after tuning on validation).
pub fn evaluate(m: &Model, data: &Dataset, o: &EvalOptions) -> Result<Report, EvalError> {
    let test = cap(&data.test, o.max_requests);
    if test.is_empty() {
        return Err(EvalError::Empty(format!("{}: no test requests", data.name)));
    }
    let (sigmas, scale) = tune(m, data, o)?;
    let arms = arms(o.k, max_n(test), data.len, &sigmas, scale);
    let mut outs = Vec::new();
    for &arm in &arms {
        outs.push((arm, run_arm(m, data, test, arm, o.budget, o.seed)?));
    }
    let base = outs
        .iter()
        .find(|(a, _)| *a == Arm::Serve(Variant::Baseline))
        .map(|(_, o)| o.clone())
        .expect("the generator arm is always compared");
    let mut rows = Vec::new();
    for (arm, out) in &outs {
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
        rows.push(Row {
            variant: arm.name(),
            gt_reward: gt.mean,
            gt_reward_diff_ci95: [gt.ci95.low, gt.ci95.high],
            ndcg10: metrics[3].1.mean,
            map10: metrics[5].1.mean,
            eval_score: metrics[6].1.mean,
            p50_us: metrics::quantile(&out.lat_us, 0.5).unwrap_or(0.0),
            p99_us: metrics::quantile(&out.lat_us, 0.99).unwrap_or(0.0),
            candidates: metrics::mean(&out.cands),
            requests: test.len(),
            metrics,
        });
    }
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
        }
    }
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
        evaluator: evaluator_quality(m, data, o)?,
        rows,
        sweep,
    })
}

impl Report {
    /// The terminal table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<34} {:>9} {:>24} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}",
            "variant",
            "gt_clicks",
            "Δ vs generator [95% CI]",
            "ndcg@1",
            "ndcg@10",
            "map@10",
            "eval",
            "p50 µs",
            "p99 µs",
            "lists"
        );
        for r in &self.rows {
            let g = &r.metrics[0].1;
            let ci = format!("{:+.4} [{:+.4},{:+.4}]", g.diff, g.ci95.low, g.ci95.high);
            let _ = writeln!(
                s,
                "{:<34} {:>9.4} {:>24} {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>9.1} {:>9.1} {:>6.1}",
                r.variant,
                r.gt_reward,
                ci,
                r.metrics[1].1.mean,
                r.ndcg10,
                r.map10,
                r.eval_score,
                r.p50_us,
                r.p99_us,
                r.candidates
            );
        }
        let e = &self.evaluator;
        let _ = writeln!(
            s,
            "evaluator: held-out log-loss {:.4}, AUC {}, Kendall τ-b vs ground truth {:.3} on random lists, {:.3} on lists sampled from the generator ({} requests × {} lists)",
            e.logloss,
            e.auc.map(|a| format!("{a:.4}")).unwrap_or_else(|| "n/a".into()),
            e.kendall_tau,
            e.kendall_tau_policy,
            e.tau_lists.0,
            e.tau_lists.1
        );
        let chosen: Vec<String> = self
            .chosen
            .iter()
            .map(|(n, s)| format!("{n} σ={s}"))
            .collect();
        let _ = writeln!(s, "chosen on validation: {}", chosen.join(", "));
        s
    }

    /// The reward-vs-budget chart.
    pub fn svg(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for p in &self.sweep {
            if !names.contains(&p.variant) {
                names.push(p.variant.clone());
            }
        }
        let mut series: Vec<crate::eval::plot::Series> = names
            .iter()
            .map(|n| crate::eval::plot::Series {
                name: n.clone(),
                points: self
                    .sweep
                    .iter()
                    .filter(|p| &p.variant == n)
                    .map(|p| (p.budget_us, p.gt_reward))
                    .collect(),
            })
            .collect();
        let xs: Vec<f64> = self.sweep.iter().map(|p| p.budget_us).collect();
        let (lo, hi) = (
            xs.iter().cloned().fold(f64::INFINITY, f64::min),
            xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        );
        if lo.is_finite() {
            for r in self
                .rows
                .iter()
                .filter(|r| r.variant == "generator" || r.variant == "initial")
            {
                series.push(crate::eval::plot::Series {
                    name: format!("{} (no search)", r.variant),
                    points: vec![(lo, r.gt_reward), (hi, r.gt_reward)],
                });
            }
        }
        crate::eval::plot::line_chart_svg(
            &format!(
                "{}: ground-truth expected clicks vs latency budget (one thread)",
                self.dataset
            ),
            "latency budget per request (µs, log scale)",
            "mean expected clicks (test)",
            &series,
            true,
            900,
            560,
        )
    }

    /// JSON lines: one object per variant.
    pub fn json_lines(&self) -> String {
        self.rows
            .iter()
            .map(|r| serde_json::to_string(r).expect("rows serialise") + "\n")
            .collect()
    }

    /// Writes `report.json`, `report.jsonl`, `report.txt` and
    /// `reward_vs_budget.svg` into `dir`; returns the paths written.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            (
                "report.json",
                serde_json::to_string_pretty(self).expect("report serialises"),
            ),
            ("report.jsonl", self.json_lines()),
            ("report.txt", self.table()),
            ("reward_vs_budget.svg", self.svg()),
        ];
        let mut out = Vec::new();
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            out.push(p);
        }
        Ok(out)
    }
}
