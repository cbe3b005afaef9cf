//! Seeded synthetic requests with the standard scenario's shapes (docs/DESIGN.md §5),
//! and the per-request latency benchmark behind `last bench --scenario`.

use crate::model::{Config, Dtype, Model};
use crate::serve::{Request, Scratch, Variant};
use last_kernels::{Backend, MatRef};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Most requests [`bench_latency`] times (their latencies are kept: 8 MB).
pub const MAX_REQUESTS: usize = 1_000_000;
/// Most serving threads of [`bench_latency`] and
/// [`soak`](crate::bench::soak::soak) (more only measures oversubscription).
pub const MAX_THREADS: usize = 64;

/// A named request shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// N = 50, L = 10 (docs/DESIGN.md §5).
    Standard,
    /// N = 8, L = 4: small enough for the exhaustive variant.
    Small,
}

impl Scenario {
    /// Candidates per request.
    pub fn n(self) -> usize {
        match self {
            Scenario::Standard => 50,
            Scenario::Small => 8,
        }
    }
    /// Output length.
    pub fn list_len(self) -> usize {
        match self {
            Scenario::Standard => 10,
            Scenario::Small => 4,
        }
    }
    /// Parses `standard` / `small`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Scenario::Standard),
            "small" => Some(Scenario::Small),
            _ => None,
        }
    }
}

/// Owned features of one synthetic request.
#[derive(Debug, Clone)]
pub struct Features {
    /// N × d_x.
    pub items: Vec<f32>,
    /// d_u.
    pub user: Vec<f32>,
    /// N.
    pub n: usize,
}

impl Features {
    /// Seeded features in [-1, 1).
    pub fn random(cfg: &Config, n: usize, seed: u64) -> Self {
        let f = |i: usize, salt: u64| {
            let h = last_kernels::rng::splitmix64(seed ^ salt ^ (i as u64).wrapping_mul(0x9e37));
            (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        Features {
            items: (0..n * cfg.d_x).map(|i| f(i, 0x11)).collect(),
            user: (0..cfg.d_u).map(|i| f(i, 0x22)).collect(),
            n,
        }
    }
    /// A request over these features.
    pub fn request(
        &self,
        d_x: usize,
        len: usize,
        seed: u64,
        variant: Variant,
        budget: Duration,
    ) -> Request<'_> {
        Request {
            user: &self.user,
            items: MatRef::new(&self.items, self.n, d_x).expect("sized at construction"),
            len,
            seed,
            variant,
            budget,
            compute: crate::serve::Compute::Model,
        }
    }
}

/// Matrix FLOPs of the unfactored request of docs/DESIGN.md §5 (2·m·n·k over every
/// dense layer and the pointer-score dot products, every candidate decoded
/// and evaluated on its own, the evaluator's first layer as a 176-wide
/// dense layer per position): the work a straightforward implementation
/// does, ≈ 82.8 MFLOP for parallel K = 16. `standard_flops / p50` is the
/// rate such an implementation would need to match the measured latency.
/// What the serving loop really performs is counted as it runs
/// ([`crate::serve::Response::matrix_flops`]).
pub fn standard_flops(cfg: &Config, n: usize, len: usize, variant: &Variant) -> f64 {
    let h = cfg.hidden as f64;
    let (nf, l) = (n as f64, len as f64);
    let dense = |m: f64, out: f64, inp: f64| 2.0 * m * out * inp;
    let h1 = cfg.eval_h1 as f64;
    let shared = dense(nf, h, (2 * cfg.d_x + cfg.d_u) as f64) + 2.0 * dense(nf, h, h);
    let decode = dense(1.0, h, h + cfg.d_u as f64)
        + l * (dense(1.0, h, h) + dense(1.0, h, 2.0 * h) + 2.0 * nf * h);
    let eval = l
        * (dense(1.0, h1, cfg.eval_in() as f64)
            + dense(1.0, cfg.eval_h2 as f64, h1)
            + dense(1.0, 1.0, cfg.eval_h2 as f64));
    let per_cand_w2 = 2.0 * dense(nf, h, h) + decode + eval;
    let base = shared + decode + eval;
    match *variant {
        Variant::Baseline => base,
        Variant::BestOfK { k } => base + (k as f64 - 1.0) * (decode + eval),
        Variant::Parallel {
            k, target, noise, ..
        } => {
            let per = match (target, noise) {
                (crate::serve::Target::W2, _) => per_cand_w2,
                (crate::serve::Target::Keys, crate::serve::NoiseSpec::LowRank(_)) => decode + eval,
                (crate::serve::Target::Keys, _) => dense(nf, h, h) + decode + eval,
            };
            base + (k as f64 - 1.0) * per
        }
        Variant::Serial { rounds, pairs, .. } => base + (rounds * 2 * pairs) as f64 * per_cand_w2,
        Variant::GradientExploration {
            ladder, samples, ..
        } => {
            // Backward: teacher-forced decode again, its transpose, two N×H×H
            // products (dK·A, dZᵀ·e1), the evaluator on two lists.
            let grad = 2.0 * decode + 2.0 * dense(nf, h, h) + 2.0 * eval;
            base + grad + ladder as f64 * per_cand_w2 + samples as f64 * (decode + eval)
        }
        Variant::Exhaustive => {
            let perms = last_kernels::select::permutation_count(n, len).unwrap_or(0) as f64;
            base + perms * eval
        }
        // The search's count; the ensemble pass depends on how many
        // distinct lists the search found and is counted as it runs.
        Variant::Safe { .. } | Variant::Pessimistic { .. } => {
            standard_flops(cfg, n, len, &variant.search())
        }
    }
}

/// Evaluator ensemble size of the benchmark's model (the training
/// default): only the safe variant reads the further members.
pub const BENCH_MEMBERS: usize = 4;

/// One latency benchmark result (`last bench --scenario … --json`).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRecord {
    /// Variant name.
    pub variant: String,
    /// Scenario name.
    pub scenario: String,
    /// Kernel path.
    pub isa: String,
    /// Weight storage and compute: `f32`, `f16`, or `bf16/<path>` (the bf16
    /// kernels' path: `amx`, `avx512bf16` or `scalar`).
    pub precision: String,
    /// CPU model ([`crate::bench::cpu::cpu_model`]).
    pub cpu_model: String,
    /// Detected ISA features ([`crate::bench::cpu::isa_set`]).
    pub isa_set: Vec<&'static str>,
    /// Threads used for candidates.
    pub threads: usize,
    /// Requests measured.
    pub requests: usize,
    /// Median latency.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Matrix FLOPs per request as performed, the mean of
    /// [`crate::serve::Response::matrix_flops`] over the measured requests
    /// (shared decoder states and evaluator rows counted once).
    pub flops_per_request: f64,
    /// `flops_per_request / p50`.
    pub gflops: f64,
    /// Single-core FMA peak measured in this run.
    pub peak_gflops: f64,
    /// `gflops / (peak · threads)`.
    pub fraction_of_peak: f64,
    /// FLOPs of the unfactored request (see [`standard_flops`]).
    pub standard_flops_per_request: f64,
    /// `standard_flops_per_request / p50 / (peak · threads)`: the
    /// fraction of peak an unfactored implementation would need to match
    /// this latency (the "≥ 65 % of peak end to end" measure).
    pub standard_fraction_of_peak: f64,
    /// Mean candidates scored per request.
    pub mean_candidates: f64,
    /// Share of requests whose served list beat the baseline (evaluator score).
    pub improved_share: f64,
    /// Mean evaluator-score gain over the baseline.
    pub mean_gain: f64,
}

/// `f32`, `f16` or `bf16/<path>`: what a model's products run in.
pub fn precision_name(model: &Model) -> String {
    match (model.cfg.dtype, model.bf16_path()) {
        (_, Some(b)) => format!("bf16/{}", b.name()),
        (Dtype::F16, _) => "f16".into(),
        _ => "f32".into(),
    }
}

/// Serves `requests` seeded requests (after a warm-up) and reports latency.
/// `requests` must be in `1..=`[`MAX_REQUESTS`], `threads` in `1..=`[`MAX_THREADS`].
pub fn bench_latency(
    scenario: Scenario,
    variant: Variant,
    requests: usize,
    threads: usize,
    dtype: Dtype,
    backend: Backend,
) -> Result<LatencyRecord, String> {
    if requests == 0 || requests > MAX_REQUESTS {
        return Err(format!("requests {requests} not in 1..={MAX_REQUESTS}"));
    }
    if threads == 0 || threads > MAX_THREADS {
        return Err(format!("threads {threads} not in 1..={MAX_THREADS}"));
    }
    let mut cfg = Config::standard();
    cfg.max_candidates = cfg.max_candidates.max(scenario.n());
    cfg.dtype = dtype;
    let model = Model::random(cfg.clone(), 7, backend)
        .and_then(|m| m.with_random_ensemble(BENCH_MEMBERS, 7))
        .map_err(|e| e.to_string())?;
    let pool = if threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let feats: Vec<Features> = (0..16)
        .map(|i| Features::random(&cfg, scenario.n(), 1000 + i))
        .collect();
    let budget = Duration::from_secs(10);
    let run = |i: usize, scratch: &mut Scratch| {
        let f = &feats[i % feats.len()];
        let req = f.request(cfg.d_x, scenario.list_len(), i as u64, variant, budget);
        model.serve(&req, scratch, pool.as_ref())
    };
    let measure = || -> Result<_, String> {
        let mut scratch = Scratch::default();
        let warm = Instant::now();
        let mut w = 0;
        while warm.elapsed() < Duration::from_millis(300) || w < 5 {
            run(w, &mut scratch).map_err(|e| e.to_string())?;
            w += 1;
        }
        let mut lat = Vec::with_capacity(requests);
        let (mut cands, mut improved, mut gain) = (0usize, 0usize, 0f64);
        let mut performed = 0u64;
        for i in 0..requests {
            let t = Instant::now();
            let r = run(i, &mut scratch).map_err(|e| e.to_string())?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            cands += r.candidates;
            performed += r.matrix_flops;
            improved += (r.score > r.baseline_score) as usize;
            gain += (r.score - r.baseline_score) as f64;
        }
        Ok((lat, cands, improved, gain, performed))
    };
    // A server calls `serve` from its pool's threads (no hand-off of each
    // request to the pool and back); so does the benchmark.
    let (lat, cands, improved, gain, performed) = match &pool {
        Some(p) => p.install(measure)?,
        None => measure()?,
    };
    let mut sorted = lat.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let q =
        |p: f64| sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)];
    let flops = performed as f64 / requests as f64;
    let std_flops = standard_flops(&cfg, scenario.n(), scenario.list_len(), &variant);
    let p50 = q(0.5);
    let peak = crate::bench::peak::peak_gflops(backend.isa()).unwrap_or(f64::NAN);
    let gflops = flops / (p50 * 1e-6) / 1e9;
    Ok(LatencyRecord {
        variant: variant.to_string(),
        scenario: format!("{scenario:?}").to_lowercase(),
        isa: backend.isa().name().into(),
        precision: precision_name(&model),
        cpu_model: crate::bench::cpu::cpu_model(),
        isa_set: crate::bench::cpu::isa_set(),
        threads,
        requests,
        p50_us: p50,
        p90_us: q(0.9),
        p99_us: q(0.99),
        mean_us: lat.iter().sum::<f64>() / lat.len() as f64,
        flops_per_request: flops,
        gflops,
        peak_gflops: peak,
        fraction_of_peak: gflops / (peak * threads as f64),
        standard_flops_per_request: std_flops,
        standard_fraction_of_peak: std_flops / (p50 * 1e-6) / 1e9 / (peak * threads as f64),
        mean_candidates: cands as f64 / requests as f64,
        improved_share: improved as f64 / requests as f64,
        mean_gain: gain / requests as f64,
    })
}
