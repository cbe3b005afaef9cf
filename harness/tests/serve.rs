//! The serving contract (docs/DESIGN.md §3) on a small model: Δθ is transient, the
//! served list never scores below the baseline, exhaustive is an upper
//! bound, lists are valid, results are deterministic across thread counts,
//! bad input gets typed errors, and weights survive a save/load round trip.

use last::bench::scenario::Features;
use last::model::{Config, Dtype, Model};
use last::serve::{NoiseSpec, Request, Scratch, ServeError, Target, Variant};
use last_kernels::{Backend, MatRef};
use std::time::Duration;

fn tiny(dtype: Dtype) -> Config {
    Config {
        d_x: 8,
        d_u: 4,
        hidden: 16,
        eval_h1: 16,
        eval_h2: 8,
        pos_dim: 4,
        max_len: 5,
        max_candidates: 32,
        dtype,
        position_weights: None,
    }
}

fn variants() -> Vec<Variant> {
    let par = |noise, target| Variant::Parallel {
        k: 9,
        sigma: 0.3,
        noise,
        target,
    };
    vec![
        Variant::Baseline,
        Variant::BestOfK { k: 6 },
        par(NoiseSpec::Gaussian, Target::W2),
        par(NoiseSpec::Rademacher, Target::W2),
        par(NoiseSpec::Antithetic, Target::W2),
        par(NoiseSpec::LowRank(2), Target::Keys),
        par(NoiseSpec::LowRank(1), Target::W2),
        par(NoiseSpec::Gaussian, Target::Keys),
        par(NoiseSpec::Table, Target::W2),
        par(NoiseSpec::Table, Target::Keys),
        Variant::Serial {
            rounds: 4,
            pairs: 2,
            sigma: 0.3,
            step: 0.05,
            trust: 0.5,
            patience: 4,
        },
        Variant::GradientExploration {
            ladder: 4,
            samples: 3,
            scale: 0.05,
            gamma: 0.3,
        },
    ]
}

const LONG: Duration = Duration::from_secs(60);

fn serve(m: &Model, f: &Features, len: usize, seed: u64, v: Variant) -> last::serve::Response {
    let req = f.request(m.cfg.d_x, len, seed, v, LONG);
    m.serve(&req, &mut Scratch::default(), None).unwrap()
}

#[test]
fn lists_are_valid_and_never_below_baseline() {
    let m = Model::random(tiny(Dtype::F32), 1, Backend::detect()).unwrap();
    for seed in 0..20u64 {
        let n = 5 + (seed as usize % 20);
        let f = Features::random(&m.cfg, n, seed);
        let len = 1 + seed as usize % 5;
        for v in variants() {
            let r = serve(&m, &f, len, seed, v);
            assert_eq!(r.list.len(), len, "{v:?}");
            let mut seen = vec![false; n];
            for &i in &r.list {
                assert!(
                    i < n && !seen[i],
                    "{v:?}: bad or repeated item {i} in {:?}",
                    r.list
                );
                seen[i] = true;
            }
            assert!(
                r.score >= r.baseline_score,
                "{v:?}: {} < {}",
                r.score,
                r.baseline_score
            );
            assert!(r.score.is_finite());
            if r.winner == 0 {
                assert_eq!(r.list, r.baseline_list);
            }
        }
    }
}

#[test]
fn search_finds_better_lists_than_the_baseline() {
    // Not a guarantee per request, but over 20 requests σ = 0.3 must move
    // the lists: a search that never wins is not searching.
    let m = Model::random(tiny(Dtype::F32), 2, Backend::detect()).unwrap();
    let mut wins = 0;
    for seed in 0..20u64 {
        let f = Features::random(&m.cfg, 12, seed);
        let r = serve(&m, &f, 4, seed, variants()[2]);
        wins += (r.winner != 0) as usize;
    }
    assert!(
        wins > 0,
        "parallel LAST never beat the baseline in 20 requests"
    );
}

#[test]
fn matrix_flops_count_every_product_of_the_baseline() {
    // One list shares nothing, so the count is the hand sum of its products.
    let m = Model::random(tiny(Dtype::F32), 6, Backend::detect()).unwrap();
    let c = &m.cfg;
    let (n, l, h) = (20, 5, c.hidden);
    let r = serve(&m, &Features::random(c, n, 1), l, 1, Variant::Baseline);
    let mm = |a: usize, b: usize, k: usize| 2 * (a * b * k) as u64;
    // W1 as an item product plus one shared row (user and mean item).
    let encoder = mm(n, h, c.d_x) + mm(1, h, c.d_u + c.d_x) + 2 * mm(n, h, h);
    let eval_parts =
        2 * mm(n, c.eval_h1, c.d_x) + mm(1, c.eval_h1, c.d_u) + mm(l, c.eval_h1, c.pos_dim);
    let decode = mm(1, h, h + c.d_u)
        + (0..l).map(|t| mm(1, h, h) + mm(n - t, 1, h)).sum::<u64>()
        + (l as u64 - 1) * mm(1, h, 2 * h);
    let eval = mm(l, c.eval_h2, c.eval_h1) + mm(l, 1, c.eval_h2);
    assert_eq!(r.matrix_flops, encoder + eval_parts + decode + eval);
    // Candidates add work; candidates sharing the decoder add less.
    let k = |noise, target| Variant::Parallel {
        k: 9,
        sigma: 0.3,
        noise,
        target,
    };
    let f = Features::random(c, n, 2);
    let w2 = serve(&m, &f, l, 2, k(NoiseSpec::Gaussian, Target::W2)).matrix_flops;
    let keys = serve(&m, &f, l, 2, k(NoiseSpec::LowRank(1), Target::Keys)).matrix_flops;
    assert!(
        r.matrix_flops < keys && keys < w2,
        "{} {keys} {w2}",
        r.matrix_flops
    );
}

#[test]
fn exhaustive_is_an_upper_bound() {
    let m = Model::random(tiny(Dtype::F32), 3, Backend::detect()).unwrap();
    for seed in 0..8u64 {
        let f = Features::random(&m.cfg, 7, seed);
        let ex = serve(&m, &f, 3, seed, Variant::Exhaustive);
        assert_eq!(ex.candidates, 1 + 7 * 6 * 5);
        for v in variants() {
            let r = serve(&m, &f, 3, seed, v);
            assert!(
                ex.score >= r.score,
                "{v:?} scored {} above the exhaustive optimum {}",
                r.score,
                ex.score
            );
        }
    }
}

#[test]
fn deterministic_across_runs_and_thread_counts() {
    let m = Model::random(tiny(Dtype::F32), 4, Backend::detect()).unwrap();
    let pools: Vec<rayon::ThreadPool> = [1, 2, 3]
        .iter()
        .map(|&t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect();
    for seed in 0..6u64 {
        // N ≥ 24 also splits the encoder's rows over the pool's threads.
        let f = Features::random(&m.cfg, 20 + 2 * seed as usize, seed);
        for v in variants() {
            let req = f.request(m.cfg.d_x, 5, seed, v, LONG);
            let first = m.serve(&req, &mut Scratch::default(), None).unwrap();
            let mut scratch = Scratch::default();
            for p in &pools {
                let r = m.serve(&req, &mut scratch, Some(p)).unwrap();
                assert_eq!(
                    (
                        &r.list,
                        r.score,
                        r.winner,
                        &r.baseline_list,
                        r.baseline_score
                    ),
                    (
                        &first.list,
                        first.score,
                        first.winner,
                        &first.baseline_list,
                        first.baseline_score
                    ),
                    "{v:?}"
                );
            }
        }
    }
}

#[test]
fn model_bytes_unchanged_after_10000_mixed_requests_from_threads() {
    let m = Model::random(tiny(Dtype::F32), 5, Backend::detect()).unwrap();
    let before = m.weights_hash();
    let mut vs = variants();
    vs.push(Variant::Exhaustive);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (m, vs, pool) = (&m, &vs, &pool);
            s.spawn(move || {
                let mut scratch = Scratch::default();
                for i in 0..2500u64 {
                    let v = vs[(i as usize) % vs.len()];
                    let n = if v == Variant::Exhaustive {
                        6 + (i % 5)
                    } else {
                        6 + (i % 7)
                    };
                    let f = Features::random(&m.cfg, n as usize, t * 10_000 + i);
                    // Every budget kind: long, unlimited, zero, and a
                    // deadline (serve_until); thread 3 through a pool.
                    let budget = [LONG, Duration::MAX, Duration::ZERO][(i % 3) as usize];
                    let req = f.request(m.cfg.d_x, 3, i, v, budget);
                    let p = (t == 3).then_some(pool);
                    if i % 5 == 0 {
                        let at = std::time::Instant::now() + Duration::from_millis(50);
                        m.serve_until(&req, at, &mut scratch, p).unwrap();
                    } else {
                        m.serve(&req, &mut scratch, p).unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(m.weights_hash(), before);
}

#[test]
fn zero_budget_returns_the_baseline() {
    let m = Model::random(tiny(Dtype::F32), 6, Backend::detect()).unwrap();
    let f = Features::random(&m.cfg, 15, 1);
    for v in variants() {
        let req = f.request(m.cfg.d_x, 4, 1, v, Duration::ZERO);
        let r = m.serve(&req, &mut Scratch::default(), None).unwrap();
        assert_eq!(r.list, r.baseline_list, "{v:?}");
        assert_eq!(r.candidates, 1, "{v:?}");
        assert!(r.budget_exhausted, "{v:?}");
    }
}

/// Regression: with budget 0 the baseline and the K = 1 variants (nothing to
/// search) reported `budget_exhausted = false`, every other variant `true`;
/// the error policy says `true` for every variant.
#[test]
fn zero_budget_reports_exhausted_for_every_variant_including_k_1() {
    let m = Model::random(tiny(Dtype::F32), 6, Backend::detect()).unwrap();
    let f = Features::random(&m.cfg, 7, 2);
    let one = [
        Variant::Baseline,
        Variant::BestOfK { k: 1 },
        Variant::Parallel {
            k: 1,
            sigma: 0.1,
            noise: NoiseSpec::Gaussian,
            target: Target::W2,
        },
        Variant::Parallel {
            k: 1,
            sigma: 0.1,
            noise: NoiseSpec::Gaussian,
            target: Target::Keys,
        },
        Variant::Exhaustive,
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for v in one {
        let req = f.request(m.cfg.d_x, 3, 1, v, Duration::ZERO);
        for p in [None, Some(&pool)] {
            let r = m.serve(&req, &mut Scratch::default(), p).unwrap();
            assert!(r.budget_exhausted, "{v:?} pool {}", p.is_some());
            assert_eq!(r.list, r.baseline_list, "{v:?}");
        }
        // With time to spare, nothing is exhausted.
        let req = f.request(m.cfg.d_x, 3, 1, v, LONG);
        let r = m.serve(&req, &mut Scratch::default(), None).unwrap();
        assert!(!r.budget_exhausted, "{v:?}");
    }
}

/// Regression: `start + budget` panicked ("overflow when adding duration to
/// instant") for budgets the clock cannot represent; a huge budget means no
/// deadline and the same answer as a long one.
#[test]
fn huge_budgets_run_every_variant_to_completion() {
    let m = Model::random(tiny(Dtype::F32), 13, Backend::detect()).unwrap();
    let f = Features::random(&m.cfg, 9, 5);
    let mut vs = variants();
    vs.push(Variant::Exhaustive);
    let mut s = Scratch::default();
    for v in vs {
        let want = serve(&m, &f, 3, 5, v);
        for budget in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let req = f.request(m.cfg.d_x, 3, 5, v, budget);
            let r = m.serve(&req, &mut s, None).unwrap();
            assert!(!r.budget_exhausted, "{v:?}");
            assert_eq!(
                (&r.list, r.score.to_bits(), r.candidates, r.rounds),
                (
                    &want.list,
                    want.score.to_bits(),
                    want.candidates,
                    want.rounds
                ),
                "{v:?} {budget:?}"
            );
            let far = std::time::Instant::now() + Duration::from_secs(3600);
            let r = m.serve_until(&req, far, &mut s, None).unwrap();
            assert_eq!((&r.list, r.candidates), (&want.list, want.candidates));
        }
        let req = f.request(m.cfg.d_x, 3, 5, Variant::Baseline, Duration::MAX);
        let mut grad = Vec::new();
        m.policy_gradient(&req, &want.baseline_list, 0.3, &mut s, &mut grad)
            .unwrap();
    }
}

/// `serve_until` counts from the embedder's instant: a deadline already
/// passed (a request that queued past its budget) serves the baseline and
/// reports the budget exhausted, whatever `req.budget` says.
#[test]
fn serve_until_a_passed_deadline_serves_the_baseline() {
    let m = Model::random(tiny(Dtype::F32), 14, Backend::detect()).unwrap();
    let f = Features::random(&m.cfg, 9, 6);
    let arrival = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    let mut vs = variants();
    vs.push(Variant::Exhaustive);
    for v in vs {
        let req = f.request(m.cfg.d_x, 3, 6, v, LONG);
        let r = m
            .serve_until(&req, arrival, &mut Scratch::default(), None)
            .unwrap();
        assert!(r.budget_exhausted, "{v:?}");
        assert_eq!((r.candidates, r.winner), (1, 0), "{v:?}");
        assert_eq!(r.list, r.baseline_list, "{v:?}");
    }
}

/// Regression: `ladder + samples + 1 > MAX_K` wrapped for huge knobs and the
/// request then panicked allocating ("capacity overflow"). Every knob of
/// every variant at its extremes gets `BadKnob`, and the next request is
/// served normally.
#[test]
fn extreme_knobs_get_typed_errors_not_panics() {
    let m = Model::random(tiny(Dtype::F32), 15, Backend::detect()).unwrap();
    let before = m.weights_hash();
    let f = Features::random(&m.cfg, 9, 7);
    let ge = |ladder, samples, scale, gamma| Variant::GradientExploration {
        ladder,
        samples,
        scale,
        gamma,
    };
    let ser = |rounds, pairs, sigma, step, trust| Variant::Serial {
        rounds,
        pairs,
        sigma,
        step,
        trust,
        patience: usize::MAX,
    };
    let par = |k, sigma, noise| Variant::Parallel {
        k,
        sigma,
        noise,
        target: Target::W2,
    };
    let g = NoiseSpec::Gaussian;
    let bad = [
        ge(usize::MAX, 3, 0.01, 0.3),
        ge(4, usize::MAX - 3, 0.01, 0.3),
        ge(usize::MAX, usize::MAX, 0.01, 0.3),
        ge(1023, 1, 0.01, 0.3),
        ge(4, 3, f32::MAX, 0.3),
        ge(4, 3, f32::NAN, 0.3),
        ge(4, 3, 0.01, 1.5),
        ge(4, 3, 0.01, -0.1),
        ge(4, 3, 0.01, f32::INFINITY),
        ser(usize::MAX, 2, 0.1, 0.1, 0.1),
        ser(0, 2, 0.1, 0.1, 0.1),
        ser(4, usize::MAX, 0.1, 0.1, 0.1),
        ser(4, 0, 0.1, 0.1, 0.1),
        ser(4, 2, f32::MAX, 0.1, 0.1),
        ser(4, 2, 0.1, f32::MAX, 0.1),
        ser(4, 2, 0.1, 0.1, f32::MAX),
        ser(4, 2, 0.1, -0.0001, 0.1),
        Variant::BestOfK { k: usize::MAX },
        Variant::BestOfK { k: 1025 },
        par(usize::MAX, 0.1, g),
        par(0, 0.1, g),
        par(4, f32::MAX, g),
        par(4, 0.1, NoiseSpec::LowRank(usize::MAX)),
        par(4, 0.1, NoiseSpec::LowRank(0)),
        par(4, 0.1, NoiseSpec::LowRank(65)),
    ];
    let mut s = Scratch::default();
    for v in bad {
        let req = f.request(m.cfg.d_x, 3, 1, v, LONG);
        match m.serve(&req, &mut s, None) {
            Err(ServeError::BadKnob(msg)) => assert!(!msg.is_empty()),
            other => panic!("{v:?}: expected BadKnob, got {other:?}"),
        }
    }
    // The limits themselves are accepted.
    let ok = [
        ge(1020, 3, 1e3, 1.0),
        ge(0, 1023, 0.0, 0.0),
        ser(1, 512, 1e3, 1e3, 1e3),
        par(1024, 1e3, NoiseSpec::LowRank(64)),
        Variant::BestOfK { k: 1024 },
    ];
    for v in ok {
        let req = f.request(m.cfg.d_x, 3, 1, v, LONG);
        let r = m.serve(&req, &mut s, None).unwrap();
        assert!(r.score >= r.baseline_score, "{v:?}");
    }
    assert_eq!(m.weights_hash(), before);
}

#[test]
fn f16_weights_serve_the_same_lists_as_f32() {
    // Same weights (rounded to f16 for both): lists may differ only where two
    // candidates' scores tie within the f16-vs-f32 accumulation tolerance;
    // on these fixed cases they are identical, and scores agree to 1e-4.
    let m32 = Model::random(tiny(Dtype::F32), 7, Backend::detect()).unwrap();
    let dir = tempdir("f16");
    let mut cfg16 = m32.cfg.clone();
    cfg16.dtype = Dtype::F16;
    let m16tmp = Model::assemble(cfg16, m32.gen.clone(), m32.eval.clone(), m32.backend);
    m16tmp.save(&dir).unwrap();
    let m16 = Model::load(&dir, Backend::detect()).unwrap();
    // f32 model over the same f16-rounded values.
    let mut cfg = m16.cfg.clone();
    cfg.dtype = Dtype::F32;
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let m32r = Model::from_bytes(cfg, &bytes, Backend::detect()).unwrap();
    for seed in 0..5u64 {
        let f = Features::random(&m16.cfg, 10, seed);
        for v in [Variant::Baseline, variants()[2]] {
            let a = serve(&m16, &f, 4, seed, v);
            let b = serve(&m32r, &f, 4, seed, v);
            assert_eq!(a.list, b.list, "{v:?}");
            assert!(
                (a.score - b.score).abs() <= 1e-4,
                "{} vs {}",
                a.score,
                b.score
            );
        }
    }
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("last-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_load_round_trip_and_corrupt_files() {
    let m = Model::random(tiny(Dtype::F32), 8, Backend::detect()).unwrap();
    let dir = tempdir("rt");
    m.save(&dir).unwrap();
    let l = Model::load(&dir, Backend::detect()).unwrap();
    assert_eq!(l.weights_hash(), m.weights_hash());
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    for cut in [0, 7, 8, bytes.len() / 2, bytes.len() - 1] {
        assert!(Model::from_bytes(m.cfg.clone(), &bytes[..cut], Backend::detect()).is_err());
    }
    let mut wrong = m.cfg.clone();
    wrong.hidden = 17;
    assert!(Model::from_bytes(wrong, &bytes, Backend::detect()).is_err());
}

fn mk<'a>(items: MatRef<'a>, user: &'a [f32], len: usize, variant: Variant) -> Request<'a> {
    Request {
        user,
        items,
        len,
        seed: 0,
        variant,
        budget: LONG,
        compute: last::serve::Compute::Model,
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let m = Model::random(tiny(Dtype::F32), 9, Backend::detect()).unwrap();
    let before = m.weights_hash();
    let f = Features::random(&m.cfg, 6, 0);
    let mut s = Scratch::default();
    let (items, user) = (&f.items[..], &f.user[..]);
    let ok = MatRef::new(items, 6, 8).unwrap();
    let par = |sigma| Variant::Parallel {
        k: 4,
        sigma,
        noise: NoiseSpec::Gaussian,
        target: Target::W2,
    };
    type Case<'a> = (Request<'a>, fn(&ServeError) -> bool);
    let cases: Vec<Case<'_>> = vec![
        (
            mk(MatRef::new(&[], 0, 8).unwrap(), user, 1, Variant::Baseline),
            |e| matches!(e, ServeError::NoCandidates),
        ),
        (mk(ok, user, 0, Variant::Baseline), |e| {
            matches!(e, ServeError::BadLength { .. })
        }),
        (mk(ok, user, 7, Variant::Baseline), |e| {
            matches!(e, ServeError::BadLength { .. })
        }),
        (
            mk(
                MatRef::new(items, 8, 6).unwrap(),
                user,
                2,
                Variant::Baseline,
            ),
            |e| matches!(e, ServeError::FeatureWidth { .. }),
        ),
        (mk(ok, &user[..3], 2, Variant::Baseline), |e| {
            matches!(e, ServeError::FeatureWidth { .. })
        }),
        (mk(ok, user, 2, Variant::BestOfK { k: 0 }), |e| {
            matches!(e, ServeError::BadKnob(_))
        }),
        (mk(ok, user, 2, par(f32::NAN)), |e| {
            matches!(e, ServeError::BadKnob(_))
        }),
        (mk(ok, user, 2, par(-1.0)), |e| {
            matches!(e, ServeError::BadKnob(_))
        }),
    ];
    for (r, check) in cases {
        let e = m.serve(&r, &mut s, None).unwrap_err();
        assert!(check(&e), "unexpected error {e}");
    }
    let mut bad = f.items.clone();
    bad[13] = f32::NAN;
    let e = m
        .serve(
            &mk(MatRef::new(&bad, 6, 8).unwrap(), user, 2, Variant::Baseline),
            &mut s,
            None,
        )
        .unwrap_err();
    assert_eq!(
        e,
        ServeError::NonFinite {
            what: "items",
            index: 13
        }
    );
    let big = Features::random(&m.cfg, 33, 0);
    let e = m
        .serve(
            &mk(
                MatRef::new(&big.items, 33, 8).unwrap(),
                user,
                2,
                Variant::Baseline,
            ),
            &mut s,
            None,
        )
        .unwrap_err();
    assert!(matches!(
        e,
        ServeError::TooManyCandidates { n: 33, max: 32 }
    ));
    assert!(m
        .serve(&mk(ok, user, 2, Variant::Exhaustive), &mut s, None)
        .is_ok());
    // The model still serves, unchanged.
    assert!(m
        .serve(&mk(ok, user, 2, Variant::Baseline), &mut s, None)
        .is_ok());
    assert_eq!(m.weights_hash(), before);
}

#[test]
fn policy_gradient_matches_finite_differences() {
    use last::model::Layer;
    let m = Model::random(tiny(Dtype::F32), 11, Backend::scalar()).unwrap();
    let f = Features::random(&m.cfg, 9, 3);
    let len = 4;
    let gamma = 0.3;
    let req = f.request(m.cfg.d_x, len, 3, Variant::Baseline, LONG);
    let list = m.serve(&req, &mut Scratch::default(), None).unwrap().list;
    // A list other than the initial one, so the advantages are not all zero.
    let mut s = Scratch::default();
    let mut grad = Vec::new();
    let loss = m
        .policy_gradient(&req, &list, gamma, &mut s, &mut grad)
        .unwrap();
    assert!(loss.is_finite());
    let gmax = grad.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(
        gmax > 0.0,
        "zero gradient: advantages vanished for list {list:?}"
    );
    let h = m.cfg.hidden;
    // The 12 largest entries plus 12 spread ones.
    let mut idx: Vec<usize> = (0..h * h).collect();
    idx.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    let mut check: Vec<usize> = idx[..12].to_vec();
    check.extend((0..12).map(|i| (i * 37 + 5) % (h * h)));
    let loss_at = |w: Vec<f32>| {
        let mut mm = m.clone();
        mm.gen.w2 = Layer::new(h, h, w, mm.gen.w2.bias().to_vec(), Dtype::F32).unwrap();
        mm.policy_gradient(&req, &list, gamma, &mut Scratch::default(), &mut Vec::new())
            .unwrap() as f64
    };
    let eps = 1e-2f32;
    for &e in &check {
        let mut wp = m.gen.w2.weight().to_vec();
        let mut wm = wp.clone();
        wp[e] += eps;
        wm[e] -= eps;
        let fd = (loss_at(wp) - loss_at(wm)) / (2.0 * eps as f64);
        let g = grad[e] as f64;
        // f32 central differences: truncation O(ε²) plus rounding ~1e-7·|loss|/ε.
        let tol = 0.05 * g.abs().max(fd.abs()) + 2e-3 * gmax as f64 + 1e-5;
        assert!(
            (fd - g).abs() <= tol,
            "element {e}: analytic {g} vs finite difference {fd}"
        );
    }
}

/// Regression (scratch reuse): gradient exploration read the evaluator's
/// click probabilities of the initial list from `ChunkBufs::c` by position
/// (`c[l + t]`), but `evaluate` writes one value per distinct prefix-tree
/// row, so when the greedy list and the initial list share a prefix those
/// indices held the wrong rows, and past the distinct rows whatever an
/// earlier, larger request left there. A request after a larger one on the
/// same scratch served another list than on a fresh scratch.
#[test]
fn reused_scratch_serves_what_a_fresh_one_serves_after_a_larger_request() {
    let v = Variant::GradientExploration {
        ladder: 4,
        samples: 3,
        scale: 0.05,
        gamma: 0.3,
    };
    for backend in [Backend::detect(), Backend::scalar()] {
        let mut compared = 0;
        for mseed in 0..8u64 {
            let m = Model::random(Config::tiny(), mseed, backend).unwrap();
            for seed in 0..8u64 {
                let (big, small) = (
                    Features::random(&m.cfg, 8, 100 + seed),
                    Features::random(&m.cfg, 5, 200 + seed),
                );
                let first = big.request(m.cfg.d_x, 3, seed, v, LONG);
                let second = small.request(m.cfg.d_x, 3, seed, v, LONG);
                let fresh = m.serve(&second, &mut Scratch::default(), None).unwrap();
                let mut s = Scratch::default();
                m.serve(&first, &mut s, None).unwrap();
                let reused = m.serve(&second, &mut s, None).unwrap();
                assert_eq!(
                    (&reused.list, reused.score.to_bits(), reused.winner),
                    (&fresh.list, fresh.score.to_bits(), fresh.winner),
                    "model {mseed}, seed {seed}, {backend:?}"
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 64);
    }
}

/// The advantage of a list over the initial list is zero for the initial
/// list itself, so its policy gradient and surrogate loss are exactly zero
/// (the evaluator scores both copies with the same rows). Before the fix the
/// initial list's clicks were read from rows the evaluator had not written
/// (zeros on a fresh scratch), giving a non-zero "advantage".
#[test]
fn policy_gradient_of_the_initial_list_is_zero() {
    let m = Model::random(tiny(Dtype::F32), 12, Backend::detect()).unwrap();
    for (n, len) in [(9, 4), (6, 5), (12, 1)] {
        let f = Features::random(&m.cfg, n, 4);
        let req = f.request(m.cfg.d_x, len, 3, Variant::Baseline, LONG);
        let initial: Vec<usize> = (0..len).collect();
        let mut grad = Vec::new();
        let loss = m
            .policy_gradient(&req, &initial, 0.3, &mut Scratch::default(), &mut grad)
            .unwrap();
        assert_eq!(loss, 0.0, "N {n}, L {len}");
        assert!(grad.iter().all(|&g| g == 0.0), "N {n}, L {len}: {grad:?}");
    }
}
