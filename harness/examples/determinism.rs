//! Scratch-reuse determinism under load: a fixed mix of requests (every
//! variant with varied knobs, N 1–24, L 1–5, seeded features) is served
//! once with a fresh `Scratch` per request on one thread (the reference),
//! then again with **reused** scratches: from 8 threads (one scratch each,
//! interleaving their own requests), and from one thread through rayon
//! pools of 2 and 4 threads (one reused scratch each). Prints, for each
//! run, how many responses differ from the reference in list, score,
//! baseline, winner, candidates or rounds (bit for bit), and exits with
//! status 1 if any does. The budget is unlimited, so time never cuts a
//! search.
//!
//! `cargo run --release -p last --example determinism [-- REQUESTS]`
//! (default 100,000 requests per run).
use last::model::{Config, Dtype, Model};
use last::serve::{Decision, NoiseSpec, Request, Scratch, Target, Variant};
use last_kernels::{Backend, MatRef};
use std::time::{Duration, Instant};

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Spec {
    n: usize,
    len: usize,
    seed: u64,
    variant: Variant,
    feats: Vec<f32>,
}

fn spec(cfg: &Config, i: u64) -> Spec {
    let r = |salt: u64| splitmix(i.wrapping_mul(0x2545_f491) ^ salt);
    let mut n = 1 + (r(1) % 24) as usize;
    let mut len = 1 + (r(2) % 5) as usize;
    let (a, b) = (r(3) as usize, r(4) as usize);
    let noise = match b % 5 {
        0 => NoiseSpec::Gaussian,
        1 => NoiseSpec::Rademacher,
        2 => NoiseSpec::Antithetic,
        3 => NoiseSpec::Table,
        _ => NoiseSpec::LowRank(1 + a % 4),
    };
    let target = if a & 1 == 0 { Target::W2 } else { Target::Keys };
    let sigma = (b % 50) as f32 / 100.0;
    let variant = match r(5) % 6 {
        0 => Variant::Baseline,
        1 => Variant::BestOfK { k: 1 + a % 16 },
        2 => Variant::Parallel {
            k: 1 + a % 16,
            sigma,
            noise,
            target,
        },
        3 => Variant::Serial {
            rounds: 1 + a % 4,
            pairs: 1 + b % 3,
            sigma,
            step: sigma / 4.0,
            trust: sigma * 2.0,
            patience: 1 + a % 3,
        },
        4 => Variant::GradientExploration {
            ladder: a % 6,
            samples: b % 4,
            scale: 0.002 + (a % 20) as f32 / 200.0,
            gamma: (b % 11) as f32 / 10.0,
        },
        _ => {
            n = n.min(8);
            len = len.min(3);
            Variant::Exhaustive
        }
    };
    let len = len.min(n);
    let feats = (0..cfg.d_u + n * cfg.d_x)
        .map(|j| (splitmix(r(6) ^ j as u64) >> 40) as f32 / (1u64 << 22) as f32 - 2.0)
        .collect();
    Spec {
        n,
        len,
        seed: r(7),
        variant,
        feats,
    }
}

fn serve(m: &Model, s: &Spec, scratch: &mut Scratch, pool: Option<&rayon::ThreadPool>) -> Decision {
    let du = m.cfg.d_u;
    let req = Request {
        user: &s.feats[..du],
        items: MatRef::new(&s.feats[du..], s.n, m.cfg.d_x).unwrap(),
        len: s.len,
        seed: s.seed,
        variant: s.variant,
        budget: Duration::MAX,
        compute: last::serve::Compute::Model,
    };
    m.serve(&req, scratch, pool).unwrap().decision()
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("REQUESTS must be a number"))
        .unwrap_or(100_000);
    let cfg = Config {
        max_candidates: 24,
        max_len: 5,
        dtype: Dtype::F32,
        ..Config::tiny()
    };
    let model = Model::random(cfg.clone(), 17, Backend::detect()).unwrap();
    let hash = model.weights_hash();
    // 4,000 distinct requests, repeated: request i of a run is spec i % 4000.
    let specs: Vec<Spec> = (0..4000u64).map(|i| spec(&cfg, i)).collect();
    let t = Instant::now();
    let reference: Vec<Decision> = specs
        .iter()
        .map(|s| serve(&model, s, &mut Scratch::default(), None))
        .collect();
    println!(
        "reference: {} distinct requests, fresh scratch each, one thread ({:.1} s)",
        specs.len(),
        t.elapsed().as_secs_f64()
    );
    let mut bad = 0;
    // 8 threads, one reused scratch each; thread t serves requests t, t + 8, …
    let t = Instant::now();
    let threads = 8;
    let mismatches: usize = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|th| {
                let (model, specs, reference) = (&model, &specs, &reference);
                sc.spawn(move || {
                    let mut scratch = Scratch::default();
                    (th..total)
                        .step_by(threads)
                        .filter(|&i| {
                            let j = (i * 7 + i / specs.len()) % specs.len();
                            serve(model, &specs[j], &mut scratch, None) != reference[j]
                        })
                        .count()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    println!(
        "8 threads, reused scratch: {total} requests, {mismatches} differ ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    bad += mismatches;
    for nt in [2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(nt)
            .build()
            .unwrap();
        let t = Instant::now();
        let mut scratch = Scratch::default();
        let mismatches = (0..total)
            .filter(|&i| {
                let j = (i * 13 + i / specs.len()) % specs.len();
                serve(&model, &specs[j], &mut scratch, Some(&pool)) != reference[j]
            })
            .count();
        println!(
            "pool of {nt}, reused scratch: {total} requests, {mismatches} differ ({:.1} s)",
            t.elapsed().as_secs_f64()
        );
        bad += mismatches;
    }
    let same = model.weights_hash() == hash;
    println!("model hash unchanged: {same}");
    if bad > 0 || !same {
        std::process::exit(1);
    }
}
