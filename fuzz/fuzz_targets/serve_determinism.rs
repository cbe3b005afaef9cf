//! Differential fuzz target for scratch reuse: a sequence of up to four
//! fuzzed requests (shapes, variants and knobs within validation, seeds,
//! features) served through **one reused `Scratch`**, through a second
//! reused scratch on a 2-thread pool (requests with an odd salt byte), and
//! each through a fresh `Scratch`
//! must give bit-identical responses (list, score, baseline list and
//! score, winner, candidates, rounds). The budget is unlimited, so time
//! never cuts a search. The model (`Config::tiny()` widened to N ≤ 24 and
//! L ≤ 5, so the buffers grow and shrink between requests and the pool
//! splits the encoder) never changes.
//!
//! Input layout: per request, 8 bytes (N, L, variant, three knob bytes, a
//! seed byte, a feature salt), then the next request; features come from a
//! splitmix64 stream of the salt and the request's position (values in
//! [-2, 2)), so short inputs reach every shape.
#![no_main]

use last::model::{Config, Model};
use last::serve::{NoiseSpec, Request, Scratch, Target, Variant};
use last_kernels::{Backend, MatRef};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn model() -> &'static (Model, u64, rayon::ThreadPool) {
    static M: OnceLock<(Model, u64, rayon::ThreadPool)> = OnceLock::new();
    M.get_or_init(|| {
        let cfg = Config {
            max_candidates: 24,
            max_len: 5,
            ..Config::tiny()
        };
        let m = Model::random(cfg, 5, Backend::detect()).unwrap();
        let h = m.weights_hash();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        (m, h, pool)
    })
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn variant(which: u8, a: u8, b: u8, n: usize, len: usize) -> Variant {
    let k = 1 + a as usize % 9;
    let sigma = b as f32 / 100.0;
    let noise = match b % 5 {
        0 => NoiseSpec::Gaussian,
        1 => NoiseSpec::Rademacher,
        2 => NoiseSpec::Antithetic,
        3 => NoiseSpec::Table,
        _ => NoiseSpec::LowRank(1 + a as usize % 4),
    };
    let target = if a & 0x80 != 0 { Target::Keys } else { Target::W2 };
    match which % 6 {
        0 => Variant::Baseline,
        1 => Variant::BestOfK { k },
        2 => Variant::Parallel { k, sigma, noise, target },
        3 => Variant::GradientExploration {
            ladder: a as usize % 5,
            samples: b as usize % 4,
            scale: 0.001 + a as f32 / 200.0,
            gamma: (b % 11) as f32 / 10.0,
        },
        4 => Variant::Serial {
            rounds: 1 + a as usize % 3,
            pairs: 1 + b as usize % 2,
            sigma,
            step: sigma / 2.0,
            trust: 4.0 * sigma,
            patience: 1 + (a >> 4) as usize % 3,
        },
        // Exhaustive up to 7P3 = 210 lists (10P5 = 30,240 would dominate).
        _ if n <= 7 && len <= 3 => Variant::Exhaustive,
        _ => Variant::BestOfK { k },
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, hash, pool) = model();
    let cfg = &m.cfg;
    let mut reused = Scratch::default();
    let mut reused_pool = Scratch::default();
    for (pos, c) in data.chunks_exact(8).take(4).enumerate() {
        let n = 1 + c[0] as usize % cfg.max_candidates;
        let len = 1 + c[1] as usize % n.min(cfg.max_len);
        let v = variant(c[2], c[3], c[4], n, len);
        let salt = u64::from(c[7]) << 8 | pos as u64;
        let val = |i: usize| {
            let h = splitmix(salt ^ (i as u64).wrapping_mul(0x9e37));
            (h >> 40) as f32 / (1u64 << 22) as f32 - 2.0
        };
        let user: Vec<f32> = (0..cfg.d_u).map(|i| val(1 << 20 | i)).collect();
        let items: Vec<f32> = (0..n * cfg.d_x).map(val).collect();
        let req = Request {
            user: &user,
            items: MatRef::new(&items, n, cfg.d_x).unwrap(),
            len,
            seed: u64::from(c[5]) | u64::from(c[6]) << 8,
            variant: v,
            budget: Duration::MAX,
            compute: last::serve::Compute::Model,
        };
        let fresh = m.serve(&req, &mut Scratch::default(), None).expect("a valid request");
        let again = m.serve(&req, &mut reused, None).expect("a valid request");
        assert_eq!(again.decision(), fresh.decision(), "reused scratch, request {pos}: {v:?} N {n} L {len}");
        // Every other request (by its salt) also through the pool's scratch.
        if c[7] & 1 == 1 {
            let par = m.serve(&req, &mut reused_pool, Some(pool)).expect("a valid request");
            assert_eq!(par.decision(), fresh.decision(), "pool of 2, request {pos}: {v:?} N {n} L {len}");
        }
        assert!(!fresh.budget_exhausted);
    }
    // The model is only borrowed; hashing its weights (and noise table)
    // costs more than a tiny request, so it is checked every 256th input.
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 256 == 0 {
        assert_eq!(m.weights_hash(), *hash, "the model changed");
    }
});
