//! Pessimistic selection over an evaluator ensemble (`Variant::Safe`): it
//! reduces to parallel LAST with one member (or identical members), its
//! choice clears the bound it promises, a member's forward pass is the
//! single evaluator's, and ensembles survive save/load.

use last::bench::scenario::Features;
use last::model::{Config, Dtype, Model};
use last::serve::{NoiseSpec, Request, Scratch, ServeError, Target, Variant};
use last_kernels::Backend;
use std::time::Duration;

fn cfg() -> Config {
    Config {
        d_x: 8,
        d_u: 4,
        hidden: 16,
        eval_h1: 16,
        eval_h2: 8,
        pos_dim: 4,
        max_len: 5,
        max_candidates: 32,
        dtype: Dtype::F32,
        position_weights: None,
    }
}

const NOISES: [(NoiseSpec, Target); 4] = [
    (NoiseSpec::Gaussian, Target::W2),
    (NoiseSpec::Rademacher, Target::W2),
    (NoiseSpec::LowRank(1), Target::Keys),
    (NoiseSpec::Table, Target::W2),
];

fn safe(noise: NoiseSpec, target: Target, lambda: f32, margin: f32) -> Variant {
    Variant::Safe {
        k: 12,
        sigma: 0.5,
        noise,
        target,
        lambda,
        margin,
    }
}

fn request(f: &Features, seed: u64, variant: Variant) -> Request<'_> {
    f.request(8, 4, seed, variant, Duration::from_secs(3600))
}

#[test]
fn one_member_serves_the_parallel_list() {
    let m = Model::random(cfg(), 3, Backend::detect()).unwrap();
    assert_eq!(m.members(), 1);
    let mut s = Scratch::default();
    let mut changed = 0;
    for seed in 0..40 {
        let f = Features::random(&m.cfg, 20, seed);
        for (noise, target) in NOISES {
            let par = m
                .serve(
                    &request(&f, seed, safe(noise, target, 0.0, 0.0).search()),
                    &mut s,
                    None,
                )
                .unwrap();
            for lambda in [0.0, 1.0, 50.0] {
                let r = m
                    .serve(
                        &request(&f, seed, safe(noise, target, lambda, 0.0)),
                        &mut s,
                        None,
                    )
                    .unwrap();
                assert_eq!(
                    r.decision(),
                    par.decision(),
                    "seed {seed} {noise} λ {lambda}"
                );
            }
            changed += usize::from(par.list != par.baseline_list);
        }
    }
    // The comparison covers requests where the search moved the list.
    assert!(changed > 20, "only {changed} requests changed");
}

#[test]
fn identical_members_serve_the_parallel_list() {
    let mut m = Model::random(cfg(), 4, Backend::detect()).unwrap();
    m.ensemble = vec![m.eval.clone(), m.eval.clone()];
    let mut s = Scratch::default();
    for seed in 0..30 {
        let f = Features::random(&m.cfg, 20, seed);
        let v = safe(NoiseSpec::Gaussian, Target::W2, 5.0, 0.0);
        let par = m
            .serve(&request(&f, seed, v.search()), &mut s, None)
            .unwrap();
        let r = m.serve(&request(&f, seed, v), &mut s, None).unwrap();
        assert_eq!(r.list, par.list, "seed {seed}");
        assert_eq!(r.score.to_bits(), par.score.to_bits());
    }
}

/// Mean and sample standard deviation of the members' gains of `list`.
fn gain_stats(m: &Model, req: &Request<'_>, base: &[usize], list: &[usize]) -> (f64, f64) {
    let both: Vec<usize> = base.iter().chain(list).copied().collect();
    let g: Vec<f64> = (0..m.members())
        .map(|i| {
            let s = m.ensemble_scores(i, req, &both).unwrap();
            s[1] as f64 - s[0] as f64
        })
        .collect();
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    let ss: f64 = g.iter().map(|x| (x - mean).powi(2)).sum();
    (mean, (ss / (g.len() - 1) as f64).sqrt())
}

#[test]
fn the_served_list_clears_its_bound_and_pessimism_changes_less() {
    let m = Model::random(cfg(), 5, Backend::detect())
        .unwrap()
        .with_random_ensemble(4, 77)
        .unwrap();
    assert_eq!(m.members(), 4);
    let before = m.weights_hash();
    let mut s = Scratch::default();
    let mut changed = [0usize; 3];
    for seed in 0..60 {
        let f = Features::random(&m.cfg, 20, seed);
        for (c, (lambda, margin)) in [(0.0, 0.0), (1.0, 0.0), (1.0, 0.05)]
            .into_iter()
            .enumerate()
        {
            let v = safe(NoiseSpec::Rademacher, Target::W2, lambda, margin);
            let req = request(&f, seed, v);
            let r = m.serve(&req, &mut s, None).unwrap();
            if r.list == r.baseline_list {
                assert_eq!(r.winner, 0);
                assert_eq!(r.score.to_bits(), r.baseline_score.to_bits());
                continue;
            }
            changed[c] += 1;
            let (mean, sd) = gain_stats(&m, &req, &r.baseline_list, &r.list);
            let bound = mean - lambda as f64 * sd;
            assert!(
                bound > margin as f64,
                "seed {seed}: bound {bound} ≤ margin {margin}"
            );
            // The reported score is member 0's.
            let own = m.ensemble_scores(0, &req, &r.list).unwrap()[0];
            assert_eq!(own.to_bits(), r.score.to_bits());
        }
    }
    assert!(changed[0] > 0, "no request changed at λ = 0");
    assert!(
        changed[0] >= changed[1] && changed[1] >= changed[2],
        "{changed:?}"
    );
    assert_eq!(m.weights_hash(), before);
}

#[test]
fn a_member_scores_like_the_evaluator_it_would_be() {
    let m = Model::random(cfg(), 6, Backend::detect())
        .unwrap()
        .with_random_ensemble(3, 9)
        .unwrap();
    let mut s = Scratch::default();
    for i in 0..m.members() {
        let mut alone = m.clone();
        alone.eval = m.member(i).clone();
        alone.ensemble.clear();
        for seed in 0..10 {
            let f = Features::random(&m.cfg, 15, seed);
            let req = request(&f, seed, Variant::Baseline);
            let r = alone.serve(&req, &mut s, None).unwrap();
            let sc = m.ensemble_scores(i, &req, &r.list).unwrap();
            assert_eq!(sc[0].to_bits(), r.score.to_bits(), "member {i} seed {seed}");
        }
    }
}

#[test]
fn budget_zero_serves_the_baseline() {
    let m = Model::random(cfg(), 7, Backend::detect())
        .unwrap()
        .with_random_ensemble(3, 1)
        .unwrap();
    let f = Features::random(&m.cfg, 20, 1);
    let v = safe(NoiseSpec::Gaussian, Target::W2, 0.0, 0.0);
    let req = f.request(8, 4, 1, v, Duration::ZERO);
    let r = m.serve(&req, &mut Scratch::default(), None).unwrap();
    assert_eq!(r.list, r.baseline_list);
    assert!(r.budget_exhausted);
}

/// `margin=inf` never replaces the baseline: it is served without a search
/// (one list scored), the name round-trips, and −∞ or NaN margins are
/// still refused.
#[test]
fn an_infinite_margin_serves_the_baseline_without_searching() {
    let m = Model::random(cfg(), 7, Backend::detect())
        .unwrap()
        .with_random_ensemble(3, 1)
        .unwrap();
    let v = safe(NoiseSpec::Rademacher, Target::W2, 1.0, f32::INFINITY);
    assert_eq!(v.to_string(), "safe-rademacher-w2-12:sigma=0.5,margin=inf");
    assert_eq!(v.to_string().parse::<Variant>().unwrap(), v);
    let mut s = Scratch::default();
    for seed in 0..20 {
        let f = Features::random(&m.cfg, 20, seed);
        let r = m.serve(&request(&f, seed, v), &mut s, None).unwrap();
        let b = m
            .serve(&request(&f, seed, Variant::Baseline), &mut s, None)
            .unwrap();
        assert_eq!((r.list.clone(), r.winner, r.candidates), (b.list, 0, 1));
        assert_eq!(r.list, r.baseline_list);
    }
    let f = Features::random(&m.cfg, 20, 1);
    for margin in [f32::NEG_INFINITY, f32::NAN] {
        let bad = safe(NoiseSpec::Rademacher, Target::W2, 1.0, margin);
        let e = m.serve(&request(&f, 1, bad), &mut s, None).unwrap_err();
        assert!(matches!(e, ServeError::BadKnob(_)), "{e}");
    }
    assert!("safe-rademacher-w2-16:margin=-inf"
        .parse::<Variant>()
        .is_err());
}

#[test]
fn bad_knobs_and_members_are_typed_errors() {
    let m = Model::random(cfg(), 8, Backend::detect())
        .unwrap()
        .with_random_ensemble(2, 1)
        .unwrap();
    let f = Features::random(&m.cfg, 10, 1);
    let mut s = Scratch::default();
    for (lambda, margin) in [(-1.0, 0.0), (f32::NAN, 0.0), (0.0, -0.1), (0.0, 1e9)] {
        let v = safe(NoiseSpec::Gaussian, Target::W2, lambda, margin);
        let e = m.serve(&request(&f, 1, v), &mut s, None).unwrap_err();
        assert!(matches!(e, ServeError::BadKnob(_)), "{e}");
    }
    let req = request(&f, 1, Variant::Baseline);
    assert!(m.ensemble_scores(2, &req, &[0, 1, 2, 3]).is_err());
    assert!(m.ensemble_scores(0, &req, &[0, 1, 2]).is_err());
    assert!(m.ensemble_scores(0, &req, &[0, 1, 2, 10]).is_err());
    assert!(Model::random(cfg(), 1, Backend::detect())
        .unwrap()
        .with_random_ensemble(0, 1)
        .is_err());
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("last-safe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn ensembles_survive_save_and_load_and_bad_files_are_named() {
    use safetensors::SafeTensors;
    let m = Model::random(cfg(), 9, Backend::detect())
        .unwrap()
        .with_random_ensemble(3, 2)
        .unwrap();
    let dir = tempdir("rt");
    m.save(&dir).unwrap();
    let l = Model::load(&dir, Backend::detect()).unwrap();
    assert_eq!(l.members(), 3);
    assert_eq!(l.weights_hash(), m.weights_hash());
    let f = Features::random(&m.cfg, 20, 3);
    let v = safe(NoiseSpec::Gaussian, Target::W2, 0.5, 0.0);
    let (mut s1, mut s2) = (Scratch::default(), Scratch::default());
    let a = m.serve(&request(&f, 3, v), &mut s1, None).unwrap();
    let b = l.serve(&request(&f, 3, v), &mut s2, None).unwrap();
    assert_eq!(a.decision(), b.decision());

    // Rewrite the file without one tensor of member 2, and with member 1's
    // tensors renamed out of sequence.
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let rewrite = |rename: &dyn Fn(&str) -> Option<String>| {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
            .tensors()
            .into_iter()
            .filter_map(|(n, t)| rename(&n).map(|n| (n, t)))
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let missing = rewrite(&|n| (n != "ensemble.1.l2.bias").then(|| n.to_string()));
    let e = Model::from_bytes(m.cfg.clone(), &missing, Backend::detect()).unwrap_err();
    assert!(e.to_string().contains("ensemble.1.l2.bias"), "{e}");
    let gap = rewrite(&|n| Some(n.replace("ensemble.0.", "ensemble.5.")));
    let e = Model::from_bytes(m.cfg.clone(), &gap, Backend::detect()).unwrap_err();
    assert!(e.to_string().contains("extra tensor"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The searches a [`Variant::Pessimistic`] wraps, with the knobs of the
/// standard set (small K for the test model).
fn searches() -> Vec<Variant> {
    vec![
        Variant::BestOfK { k: 10 },
        Variant::GradientExploration {
            ladder: 3,
            samples: 4,
            scale: 0.05,
            gamma: 0.3,
        },
        Variant::Serial {
            rounds: 3,
            pairs: 2,
            sigma: 0.3,
            step: 0.1,
            trust: 1.0,
            patience: 3,
        },
    ]
}

fn pessimistic(search: Variant, lambda: f32, margin: f32) -> Variant {
    Variant::Pessimistic {
        search: last::serve::Search::of(search).unwrap(),
        lambda,
        margin,
    }
}

/// Pessimistic selection after best-of-K, gradient exploration and serial
/// LAST: with one member it serves the search's own list (whatever λ);
/// with four, every list it serves clears its bound, and `margin=inf`
/// serves the baseline; the names round-trip and the knobs are checked.
#[test]
fn every_multi_candidate_search_takes_pessimistic_selection() {
    let one = Model::random(cfg(), 3, Backend::detect()).unwrap();
    let four = Model::random(cfg(), 5, Backend::detect())
        .unwrap()
        .with_random_ensemble(4, 77)
        .unwrap();
    let mut s = Scratch::default();
    let mut changed = 0;
    for search in searches() {
        for seed in 0..25 {
            let f = Features::random(&one.cfg, 20, seed);
            let plain = one.serve(&request(&f, seed, search), &mut s, None).unwrap();
            for lambda in [0.0, 2.0] {
                let v = pessimistic(search, lambda, 0.0);
                let r = one.serve(&request(&f, seed, v), &mut s, None).unwrap();
                assert_eq!((&r.list, r.winner), (&plain.list, plain.winner), "{v}");
            }
            let v = pessimistic(search, 1.0, 0.0);
            let req = request(&f, seed, v);
            let r = four.serve(&req, &mut s, None).unwrap();
            if r.list != r.baseline_list {
                changed += 1;
                let (mean, sd) = gain_stats(&four, &req, &r.baseline_list, &r.list);
                assert!(mean - sd > 0.0, "{v} seed {seed}: bound {}", mean - sd);
            }
            let off = pessimistic(search, 1.0, f32::INFINITY);
            let r = four.serve(&request(&f, seed, off), &mut s, None).unwrap();
            assert_eq!((r.list.clone(), r.candidates), (r.baseline_list.clone(), 1));
        }
    }
    assert!(changed > 5, "only {changed} requests changed the baseline");
    for name in [
        "best-of-16:lambda=1,margin=0",
        "gradient-l4-s3:lambda=0.5,margin=0.01",
        "serial-r4-p2:sigma=0.1,lambda=2,margin=inf",
    ] {
        let v: Variant = name.parse().unwrap();
        assert!(matches!(v, Variant::Pessimistic { .. }), "{name}");
        assert_eq!(v.to_string(), name);
        assert!(v.pessimism().is_some());
    }
    for bad in [
        "baseline:lambda=1",
        "exhaustive:margin=0",
        "parallel-gaussian-w2-16:margin=0",
        "best-of-16:margin=nan",
    ] {
        assert!(bad.parse::<Variant>().is_err(), "{bad} parsed");
    }
    // Out-of-range knobs parse and are refused before any work.
    let f = Features::random(&one.cfg, 20, 1);
    let bad: Variant = "best-of-10:lambda=-1,margin=0".parse().unwrap();
    let e = one.serve(&request(&f, 1, bad), &mut s, None).unwrap_err();
    assert!(matches!(e, ServeError::BadKnob(_)), "{e}");
}
