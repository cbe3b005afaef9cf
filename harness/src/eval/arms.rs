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
                    compute: crate::serve::Compute::Model,
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

/// The variants compared at equal K, σ and step scale from validation,
/// and the safe variant tuned there.
pub fn arms(k: usize, n: usize, len: usize, t: &Tuning) -> Vec<Arm> {
    let k = k.max(2);
    let mut v = vec![
        Arm::Initial,
        Arm::Serve(Variant::Baseline),
        Arm::Serve(Variant::BestOfK { k }),
        Arm::Serve(Variant::GradientExploration {
            ladder: k / 2,
            samples: k - k / 2 - 1,
            scale: t.scale,
            gamma: 0.3,
        }),
    ];
    for &(noise, target, s) in &t.sigmas {
        v.push(Arm::Serve(Variant::Parallel {
            k,
            sigma: s,
            noise,
            target,
        }));
    }
    v.push(Arm::Serve(with_k(t.safe, k)));
    let sig = t.sigmas.first().map(|s| s.2).unwrap_or(0.05);
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

/// `v` with K candidates (for the safe and parallel variants).
pub(super) fn with_k(v: Variant, k: usize) -> Variant {
    match v {
        Variant::Safe {
            sigma,
            noise,
            target,
            lambda,
            margin,
            ..
        } => Variant::Safe {
            k,
            sigma,
            noise,
            target,
            lambda,
            margin,
        },
        v => v,
    }
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

/// Most bootstrap resamples of one safe setting's validation interval.
const MAX_SAFE_RESAMPLES: usize = 200_000;

/// A noise kind, its target and the σ chosen for it.
pub type Tuned = (NoiseSpec, Target, f32);

/// What tuning on validation chose.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// σ per noise kind (highest mean validation reward).
    pub sigmas: Vec<Tuned>,
    /// The gradient step scale (the same criterion).
    pub scale: f32,
    /// The variant (the generator alone included) with the highest mean
    /// validation reward at those knobs.
    pub best: Variant,
    /// The safe variant: noise, σ (from `sigmas`), λ and margin whose
    /// validation interval of the gain over the generator (bootstrap over
    /// queries: the requests of one query resampled together; Bonferroni
    /// level `1 − 0.05/comparisons`, the σ grid counted) has the highest lower end, the
    /// pessimistic estimate of what it gains (ties: the higher mean gain).
    /// The first setting never replaces the baseline (`margin=inf`, lower
    /// end 0): it is chosen where no other lower end is above zero.
    pub safe: Variant,
    /// Every safe setting tried: name, mean validation gain, lower end of
    /// its Bonferroni interval over queries (NaN where the mean could not
    /// beat the best lower end, so the interval was not computed).
    pub safe_grid: Vec<(String, f64, f64)>,
}

/// Chooses σ per noise kind and the gradient scale on the validation split
/// by mean ground-truth reward, the best of the tuned variants and the
/// generator alone on the same split, and the safe variant's knobs (see
/// [`Tuning::safe`]). Only the validation split is served here: the test
/// split and its labels are not passed in ([`EvalOptions::max_requests`]
/// caps it like the test split).
pub fn tune(m: &Model, data: &Dataset, o: &EvalOptions) -> Result<Tuning, EvalError> {
    let valid = cap(&data.valid, o.max_requests);
    let (l0, m0) = crate::serve::SAFE_DEFAULTS;
    let safe_of = |(noise, target, sigma): Tuned, lambda, margin| Variant::Safe {
        k: o.k,
        sigma,
        noise,
        target,
        lambda,
        margin,
    };
    if valid.is_empty() {
        let s = o.sigma_grid.first().copied().unwrap_or(0.05);
        let sc = o.scale_grid.first().copied().unwrap_or(0.01);
        let sigmas: Vec<Tuned> = NOISES.iter().map(|&(n, t)| (n, t, s)).collect();
        // No evidence of a gain: never replace the baseline.
        let safe = safe_of(sigmas[1], l0, f32::INFINITY);
        return Ok(Tuning {
            sigmas,
            scale: sc,
            best: Variant::Baseline,
            safe,
            safe_grid: Vec::new(),
        });
    }
    let mean = |x: &[f64]| metrics::mean(x);
    let run = |v: Variant| run_arm(m, data, valid, Arm::Serve(v), o.budget, o.seed ^ 0x7a1);
    let base_gt = run(Variant::Baseline)?.gt;
    // Requests of one query are resampled together (see
    // `metrics::bootstrap_group_mean_ci`).
    let groups = metrics::groups_of(valid.iter().map(|i| i.key.as_str()));
    let base = mean(&base_gt);
    let mut overall = (base, Variant::Baseline);
    let mut offer = |r: f64, v: Variant| {
        if r > overall.0 {
            overall = (r, v);
        }
    };
    let mut sigmas = Vec::new();
    for &(noise, target) in &NOISES {
        let mut best = (f64::NEG_INFINITY, 0.05);
        for &s in &o.sigma_grid {
            let v = Variant::Parallel {
                k: o.k,
                sigma: s,
                noise,
                target,
            };
            let r = mean(&run(v)?.gt);
            if r > best.0 {
                best = (r, s);
            }
            offer(r, v);
        }
        sigmas.push((noise, target, best.1));
    }
    let mut best = (f64::NEG_INFINITY, 0.01);
    let k = o.k.max(2);
    for &sc in &o.scale_grid {
        let v = Variant::GradientExploration {
            ladder: k / 2,
            samples: k - k / 2 - 1,
            scale: sc,
            gamma: 0.3,
        };
        let r = mean(&run(v)?.gt);
        if r > best.0 {
            best = (r, sc);
        }
        offer(r, v);
    }
    // Safe: the highest lower end, then the highest mean gain. The lower
    // ends are of Bonferroni intervals (level 1 − 0.05/comparisons): the
    // winner of many noisy comparisons looks better than it is, and this
    // keeps the chance that any setting's interval misses its true gain at
    // 5 %. "Never replace the baseline" (margin +∞, gain 0, interval
    // [0, 0]) is a setting too, tried first: where no setting's lower end
    // is above zero (a tie at zero keeps it), the safe variant serves the
    // generator's list.
    // Each noise's σ was itself the best of the σ grid on these requests,
    // so the σ grid counts as comparisons too.
    let settings =
        sigmas.len() * o.sigma_grid.len().max(1) * o.lambda_grid.len() * o.margin_grid.len() + 1;
    let level = 1.0 - 0.05 / settings as f64;
    // Enough resamples that the tail quantile is not just the extreme one.
    let tail = (1.0 - level) / 2.0;
    let resamples = ((5.0 / tail).ceil() as usize).clamp(o.bootstrap, MAX_SAFE_RESAMPLES);
    let off = safe_of(sigmas[1], l0, f32::INFINITY);
    let mut safe: Option<(f64, f64, Variant)> = Some((0.0, 0.0, off));
    let mut safe_grid = vec![(off.name(), 0.0, 0.0)];
    for &t in &sigmas {
        for &lambda in &o.lambda_grid {
            for &margin in &o.margin_grid {
                let v = safe_of(t, lambda, margin);
                let gt = run(v)?.gt;
                let diffs: Vec<f64> = gt.iter().zip(&base_gt).map(|(a, b)| a - b).collect();
                let gain = mean(&diffs);
                // A lower end is below the mean: a setting whose mean is
                // not above the best lower end so far cannot replace it,
                // and its interval is not computed (NaN in the grid).
                let best_low = safe.map_or(0.0, |s| s.0);
                let low = if gain > best_low {
                    metrics::bootstrap_group_mean_ci(
                        &diffs,
                        &groups,
                        resamples,
                        level,
                        o.seed ^ 0x5afe,
                    )
                    .map_or(0.0, |i| i.low)
                } else {
                    f64::NAN
                };
                safe_grid.push((v.name(), gain, low));
                if safe.is_none_or(|(l, g, _)| replaces((low, gain), (l, g))) {
                    safe = Some((low, gain, v));
                }
                offer(mean(&gt), v);
            }
        }
    }
    let safe = safe.map_or(safe_of(sigmas[1], l0, m0), |s| s.2);
    Ok(Tuning {
        sigmas,
        scale: best.1,
        best: overall.1,
        safe,
        safe_grid,
    })
}

/// Whether a safe setting with validation `(lower end, mean gain)` replaces
/// the current choice `best`: a higher lower end, or the same positive
/// lower end and a higher gain. A tie at zero keeps the earlier setting
/// (the first is "never replace the baseline", lower end exactly 0).
fn replaces((low, gain): (f64, f64), best: (f64, f64)) -> bool {
    low > best.0 || (low == best.0 && low > 0.0 && gain > best.1)
}

#[cfg(test)]
mod tests {
    use super::replaces;

    #[test]
    fn a_safe_setting_needs_a_positive_lower_end_to_beat_never_replacing() {
        let off = (0.0, 0.0);
        assert!(
            !replaces((0.0, 0.5), off),
            "a zero lower end cannot show a gain"
        );
        assert!(
            !replaces((-0.01, 1.0), off),
            "a high mean with a negative lower end"
        );
        assert!(replaces((1e-6, 0.1), off));
        assert!(
            replaces((0.2, 0.3), (0.2, 0.1)),
            "equal positive lower ends: the higher gain"
        );
        assert!(!replaces((0.2, 0.1), (0.2, 0.3)));
        assert!(
            replaces((0.3, 0.0), (0.2, 0.9)),
            "the lower end comes first"
        );
    }
}
