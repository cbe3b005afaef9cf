//! Determinism under scratch reuse (DESIGN §3: "same seed and input give
//! the same list, whatever the thread count"): random sequences of
//! requests of random shapes, variants (all of them, knobs anywhere inside
//! validation), feature values and seeds, served through one reused
//! `Scratch` (alone, and on rayon pools of 2 and 4 threads), give
//! bit-identical responses to a fresh `Scratch` per request: list, score,
//! baseline list and score, winner, candidates and rounds (not `elapsed`).
//! The budget never runs out (`Duration::MAX`), so time never cuts a
//! search. This is the test that would have caught the gradient
//! exploration's stale evaluator rows: the same request on a reused
//! scratch (what `serve.rs` checked) reads the same stale values.

use last::model::{Config, Dtype, Model};
use last::serve::{NoiseSpec, Request, Response, Scratch, Target, Variant};
use last_kernels::{Backend, MatRef};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;

const MAX_N: usize = 26;
const MAX_L: usize = 5;

fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let cfg = Config {
            d_x: 6,
            d_u: 3,
            hidden: 12,
            eval_h1: 10,
            eval_h2: 6,
            pos_dim: 3,
            max_len: MAX_L,
            max_candidates: MAX_N,
            dtype: Dtype::F32,
            position_weights: Some(vec![1.0, 0.8, 0.6, 0.5, 0.4]),
        };
        Model::random(cfg, 21, Backend::detect()).unwrap()
    })
}

fn pools() -> &'static [rayon::ThreadPool; 2] {
    static P: OnceLock<[rayon::ThreadPool; 2]> = OnceLock::new();
    P.get_or_init(|| {
        let p = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        [p(2), p(4)]
    })
}

fn noise() -> impl Strategy<Value = NoiseSpec> {
    prop_oneof![
        Just(NoiseSpec::Gaussian),
        Just(NoiseSpec::Rademacher),
        Just(NoiseSpec::Antithetic),
        Just(NoiseSpec::Table),
        (1usize..=8).prop_map(NoiseSpec::LowRank),
    ]
}

/// Every variant, knobs anywhere inside validation but small enough for a
/// test (K ≤ 24, ≤ 4 serial rounds of ≤ 3 pairs).
fn variant() -> impl Strategy<Value = Variant> {
    let target = prop_oneof![Just(Target::W2), Just(Target::Keys)];
    prop_oneof![
        Just(Variant::Baseline),
        (1usize..=24).prop_map(|k| Variant::BestOfK { k }),
        (1usize..=24, 0f32..=1.0, noise(), target).prop_map(|(k, sigma, noise, target)| {
            Variant::Parallel {
                k,
                sigma,
                noise,
                target,
            }
        }),
        (
            1usize..=4,
            1usize..=3,
            0f32..=1.0,
            0f32..=0.2,
            0f32..=1.0,
            0usize..=4
        )
            .prop_map(
                |(rounds, pairs, sigma, step, trust, patience)| Variant::Serial {
                    rounds,
                    pairs,
                    sigma,
                    step,
                    trust,
                    patience,
                }
            ),
        (0usize..=6, 0usize..=5, 0f32..=0.3, 0f32..=1.0).prop_map(
            |(ladder, samples, scale, gamma)| Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            }
        ),
        Just(Variant::Exhaustive),
    ]
}

/// One request: shape, variant, seed, features (user then items).
#[derive(Debug, Clone)]
struct Spec {
    n: usize,
    len: usize,
    seed: u64,
    variant: Variant,
    feats: Vec<f32>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=MAX_N, 1usize..=MAX_L, any::<u64>(), variant()).prop_flat_map(
        |(n, len, seed, variant)| {
            // Exhaustive: N ≤ 8, L ≤ 3 keeps a case short (8P3 = 336 lists).
            let (n, len) = match variant {
                Variant::Exhaustive => (n.min(8), len.min(3)),
                _ => (n, len),
            };
            let len = len.min(n);
            let m = model();
            let width = m.cfg.d_u + n * m.cfg.d_x;
            // Features mostly in [-3, 3], sometimes large (±1e3).
            let value = prop_oneof![8 => -3f32..3.0, 1 => -1e3f32..1e3];
            proptest::collection::vec(value, width).prop_map(move |feats| Spec {
                n,
                len,
                seed,
                variant,
                feats,
            })
        },
    )
}

fn serve(s: &Spec, scratch: &mut Scratch, pool: Option<&rayon::ThreadPool>) -> Response {
    let m = model();
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
    m.serve(&req, scratch, pool).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn reused_scratch_and_pools_serve_what_a_fresh_scratch_serves(
        seq in proptest::collection::vec(spec(), 1..=8)
    ) {
        let [p2, p4] = pools();
        let mut alone = Scratch::default();
        let mut on2 = Scratch::default();
        let mut on4 = Scratch::default();
        for (i, s) in seq.iter().enumerate() {
            let fresh = serve(s, &mut Scratch::default(), None);
            prop_assert!(!fresh.budget_exhausted);
            let want = fresh.decision();
            prop_assert_eq!(serve(s, &mut alone, None).decision(), want.clone(), "reused, request {}", i);
            prop_assert_eq!(serve(s, &mut on2, Some(p2)).decision(), want.clone(), "pool of 2, request {}", i);
            prop_assert_eq!(serve(s, &mut on4, Some(p4)).decision(), want, "pool of 4, request {}", i);
        }
    }
}
