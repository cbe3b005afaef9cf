use super::*;
use crate::data::sim::Truth;
use crate::model::Config;

fn tiny() -> (Model, Instance) {
    let cfg = Config {
        d_x: 5,
        d_u: 3,
        hidden: 8,
        eval_h1: 7,
        eval_h2: 6,
        max_candidates: 16,
        ..Config::tiny()
    };
    let m = Model::random(cfg, 5, last_kernels::Backend::scalar()).unwrap();
    let mut r = Rng::new(1);
    let n = 6;
    let inst = Instance {
        key: "t".into(),
        user: (0..3).map(|_| r.normal() as f32).collect(),
        items: (0..n * 5).map(|_| r.normal() as f32).collect(),
        n,
        initial: vec![0, 1, 2],
        truth: Truth {
            attract: vec![0.5; n],
            group: vec![0; n],
            labels: vec![0.0; n],
        },
    };
    (m, inst)
}

/// Directional finite difference `(L(θ+εd) − L(θ−εd)) / 2ε` against `g·d`.
fn check<P: Params>(name: &str, mut loss: impl FnMut(&P) -> f64, p: &P, g: &P) {
    let mut r = Rng::new(11);
    for trial in 0..3 {
        let mut d = p.clone();
        d.tensors_mut()
            .into_iter()
            .flatten()
            .for_each(|v| *v = r.normal() as f32);
        let eps = 1e-3f32;
        let shift = |s: f32| -> P {
            let mut q = p.clone();
            for (t, dt) in q.tensors_mut().into_iter().zip(d.tensors()) {
                t.iter_mut().zip(dt).for_each(|(a, b)| *a += s * b);
            }
            q
        };
        let fd = (loss(&shift(eps)) - loss(&shift(-eps))) / (2.0 * eps as f64);
        let an: f64 = g
            .tensors()
            .into_iter()
            .zip(d.tensors())
            .flat_map(|(a, b)| a.iter().zip(b))
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        let tol = 2e-2 * an.abs().max(fd.abs()) + 2e-3;
        assert!(
            (fd - an).abs() <= tol,
            "{name} trial {trial}: finite difference {fd}, analytic {an}"
        );
    }
}

/// A baseline request for `inst` with L = 3.
fn baseline_request(inst: &Instance) -> crate::serve::Request<'_> {
    crate::serve::Request {
        user: &inst.user,
        items: inst.items(),
        len: 3,
        seed: 1,
        variant: crate::serve::Variant::Baseline,
        budget: std::time::Duration::from_secs(1),
        compute: crate::serve::Compute::Model,
    }
}

#[test]
fn evaluator_gradient_matches_finite_differences() {
    let (m, inst) = tiny();
    let lists = [vec![0usize, 3, 5], vec![2, 1, 4]];
    let logs: Vec<Log> = lists
        .iter()
        .map(|l| Log {
            instance: 0,
            list: l.clone(),
            clicks: vec![true, false, true],
        })
        .collect();
    let refs: Vec<&Log> = logs.iter().collect();
    let split = [inst];
    let (_, g) = eval_logloss_grad(&m, &split, &refs, 3).unwrap();
    let p = EvaluatorParams::of(&m.eval);
    let mut mm = m.clone();
    check(
        "evaluator",
        |q| {
            q.apply(&mut mm.eval, mm.cfg.dtype).unwrap();
            eval_logloss_grad(&mm, &split, &refs, 3).unwrap().0 / 6.0
        },
        &p,
        &g,
    );
}

#[test]
fn generator_gradient_matches_finite_differences() {
    let (m, inst) = tiny();
    let list = [4usize, 0, 2];
    let coef = [0.7f32, -0.4, 1.3];
    let ro = rollout(&m, &inst, 3, Pick::Forced(&list)).unwrap();
    let p = GeneratorParams::of(&m.gen);
    let mut g = p.zeros_like();
    gen_backward(&m, &ro, &coef, &mut g).unwrap();
    let mut mm = m.clone();
    check(
        "generator",
        |q| {
            q.apply(&mut mm.gen, mm.cfg.dtype).unwrap();
            let r = rollout(&mm, &inst, 3, Pick::Forced(&list)).unwrap();
            r.logp
                .iter()
                .zip(&coef)
                .map(|(l, c)| -(*l as f64) * *c as f64)
                .sum()
        },
        &p,
        &g,
    );
}

#[test]
fn greedy_rollout_matches_serving_baseline() {
    let (m, inst) = tiny();
    let ro = rollout(&m, &inst, 3, Pick::Greedy).unwrap();
    let req = baseline_request(&inst);
    let resp = m
        .serve(&req, &mut crate::serve::Scratch::default(), None)
        .unwrap();
    assert_eq!(ro.list, resp.list);
    let pass = EvalPass::forward(&m, &[(&inst, &ro.list[..])], 3).unwrap();
    // One encoder, one decoder step, one evaluator forward: bit-identical.
    assert_eq!(pass.list_scores(&m)[0], resp.score);
}

/// Serving's gradient-exploration direction and training's generator
/// gradient are the same backward pass: `Model::policy_gradient`'s `∂/∂W2`
/// equals the W2 part of `gen_backward` with the same per-step weights.
#[test]
fn serving_direction_is_the_training_gradient() {
    let (m, inst) = tiny();
    let list = [4usize, 0, 2];
    let req = baseline_request(&inst);
    let (mut scratch, mut gw2) = (crate::serve::Scratch::default(), Vec::new());
    let gamma = 0.3;
    let loss = m
        .policy_gradient(&req, &list, gamma, &mut scratch, &mut gw2)
        .unwrap();
    // The same per-step weights (reward-to-go of the evaluator's advantages).
    let pairs = [(&inst, &list[..]), (&inst, &inst.initial[..])];
    let c = EvalPass::forward(&m, &pairs, 3).unwrap().c;
    let mut ret = [0f32; 3];
    let mut acc = 0f32;
    for t in (0..3).rev() {
        acc = m.cfg.position_weight(t) * (c[t] - c[3 + t]) + gamma * acc;
        ret[t] = acc;
    }
    let ro = rollout(&m, &inst, 3, Pick::Forced(&list)).unwrap();
    let want: f32 = -(0..3).map(|t| ret[t] * ro.logp[t]).sum::<f32>();
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{loss} vs {want}"
    );
    let mut g = GeneratorParams::of(&m.gen).zeros_like();
    gen_backward(&m, &ro, &ret, &mut g).unwrap();
    let scale = g.w2.w.iter().fold(0f32, |a, v| a.max(v.abs()));
    for (a, b) in gw2.iter().zip(&g.w2.w) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
}

fn small_world() -> Dataset {
    crate::data::world::build(&crate::data::world::WorldSpec {
        train: 60,
        valid: 20,
        test: 10,
        ..crate::data::world::WorldSpec::default()
    })
}

#[test]
fn second_round_logs_come_from_the_generator_and_are_appended() {
    let data = small_world();
    let m = Model::random(data.cfg.clone(), 3, last_kernels::Backend::detect()).unwrap();
    let both = with_generator_logs(&m, &data, 2, 9).unwrap();
    let (t0, v0) = (data.train_logs.len(), data.valid_logs.len());
    assert_eq!(both.train_logs.len(), t0 + 2 * data.train.len());
    assert_eq!(both.valid_logs.len(), v0 + 2 * data.valid.len());
    // Round one is untouched; round two indexes the appended requests.
    for (a, b) in data.train_logs.iter().zip(&both.train_logs) {
        assert_eq!(
            (a.instance, &a.list, &a.clicks),
            (b.instance, &b.list, &b.clicks)
        );
    }
    let mut rng = Rng::new(9 ^ 0x2e10);
    for (k, log) in both.train_logs[t0..].iter().enumerate() {
        let inst = &both.train_log_instances[log.instance];
        assert_eq!(inst.key, data.train[k / 2].key);
        assert_eq!(log.clicks.len(), data.len);
        // The same stream replays the same sampled list: a generator sample.
        let want = rollout(&m, inst, data.len, Pick::Sample(&mut rng))
            .unwrap()
            .list;
        assert_eq!(log.list, want, "log {k}");
        let _ = data.judge.sample(&inst.truth, &want, &mut rng);
    }
    // Fixed real logs cannot be re-logged.
    let real = Dataset {
        simulated_clicks: false,
        ..data.clone()
    };
    assert!(matches!(
        with_generator_logs(&m, &real, 2, 9),
        Err(TrainError::Data(_))
    ));
}

#[test]
fn second_round_retrains_the_evaluator_and_measures_tau_before_and_after() {
    let data = small_world();
    let mut m = Model::random(data.cfg.clone(), 3, last_kernels::Backend::detect()).unwrap();
    let gen_before = GeneratorParams::of(&m.gen);
    let o = TrainOptions {
        eval_epochs: 2,
        ..TrainOptions::default()
    };
    let (r, both) = second_round(&mut m, &data, 2, &o).unwrap();
    assert!(both.train_logs.len() > data.train_logs.len());
    assert_eq!(r.impressions, (2 * data.train.len(), 2 * data.valid.len()));
    assert!(r.evaluator.epochs >= 1);
    for t in [r.valid_tau_policy, r.valid_tau_random] {
        assert!(
            (-1.0..=1.0).contains(&t.0) && (-1.0..=1.0).contains(&t.1),
            "{t:?}"
        );
    }
    // The generator is not changed.
    assert_eq!(GeneratorParams::of(&m.gen), gen_before);
}
