//! The compared methods (arms), serving a split with one of them, and the
//! validation-split tuning of σ and the gradient step scale.

use super::*;

/// A compared method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arm {
    /// The initial ranker's list (no model).
    Initial,
    /// A serving variant.
    Serve(Variant),
}

impl Arm {
    /// Report name: the same string as [`Display`](std::fmt::Display).
    pub fn name(&self) -> String {
        self.to_string()
    }
}

/// `initial` for the initial ranker, otherwise the variant's one name
/// (`baseline`, `best-of-16`, … see [`Variant`]'s `FromStr`).
impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arm::Initial => f.write_str("initial"),
            Arm::Serve(v) => v.fmt(f),
        }
    }
}

/// Per-request outcome of one arm.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub(super) gt: Vec<f64>,
    pub(super) ndcg: [Vec<f64>; 3],
    pub(super) map: [Vec<f64>; 2],
    pub(super) eval: Vec<f64>,
    pub(super) lat_us: Vec<f64>,
    pub(super) cands: Vec<f64>,
    /// The served lists.
    pub(super) lists: Vec<Vec<usize>>,
}

pub(super) fn request_seed(seed: u64, i: usize) -> u64 {
    last_kernels::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9))
}

/// Serves every instance of `split` with `arm` on one thread.
pub(super) fn run_arm(
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
        lists: vec![],
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
        o.lists.push(list);
    }
    Ok(o)
}

pub(super) fn cap(split: &[Instance], max: Option<usize>) -> &[Instance] {
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

pub(super) fn max_n(split: &[Instance]) -> usize {
    split.iter().map(|i| i.n).max().unwrap_or(0)
}

/// A noise kind, its target and the σ chosen for it.
pub type Tuned = (NoiseSpec, Target, f32);

/// What tuning on validation chose: σ per noise kind, the gradient scale,
/// and the variant (the generator alone included) with the highest mean
/// validation ground-truth reward at those knobs.
pub type Tuning = (Vec<Tuned>, f32, Variant);

/// Chooses σ per noise kind and the gradient scale on the validation split
/// by mean ground-truth reward, and the best of the tuned variants and the
/// generator alone on the same split (never on test).
pub fn tune(m: &Model, data: &Dataset, o: &EvalOptions) -> Result<Tuning, EvalError> {
    let valid = cap(&data.valid, o.max_requests);
    if valid.is_empty() {
        let s = o.sigma_grid.first().copied().unwrap_or(0.05);
        let sc = o.scale_grid.first().copied().unwrap_or(0.01);
        let chosen = NOISES.iter().map(|&(n, t)| (n, t, s)).collect();
        return Ok((chosen, sc, Variant::Baseline));
    }
    let mean = |x: &[f64]| metrics::mean(x);
    let base = mean(
        &run_arm(
            m,
            data,
            valid,
            Arm::Serve(Variant::Baseline),
            o.budget,
            o.seed ^ 0x7a1,
        )?
        .gt,
    );
    let mut overall = (base, Variant::Baseline);
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
            if r > overall.0 {
                if let Arm::Serve(v) = arm {
                    overall = (r, v);
                }
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
        if r > overall.0 {
            if let Arm::Serve(v) = arm {
                overall = (r, v);
            }
        }
    }
    Ok((chosen, best.1, overall.1))
}
