//! End to end: a tiny synthetic world is trained and evaluated; the real
//! data samples (when `../shared/data` exists) load into valid datasets.

use last::data::sources::LetorSpec;
use last::data::world::WorldSpec;
use last::eval::{evaluate, EvalOptions};
use last::pipeline::{load, train, Source};
use last::train::TrainOptions;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn tiny_train_then_eval_reports_every_variant() {
    let spec = WorldSpec {
        train: 300,
        valid: 60,
        test: 40,
        ..WorldSpec::default()
    };
    let data = load(&Source::Synthetic(spec), 1).unwrap();
    let o = TrainOptions {
        eval_epochs: 6,
        warm_epochs: 1,
        pg_epochs: 2,
        patience: 6,
        ..TrainOptions::default()
    };
    let (m, summary) = train(&data, &o, last_kernels::Backend::detect()).unwrap();
    let ev = &summary.evaluator;
    assert!(
        ev.best_valid_loss < ev.initial_valid_loss,
        "evaluator did not learn: {ev:?}"
    );
    assert!(ev.train_loss.last().unwrap() < ev.train_loss.first().unwrap());
    let eo = EvalOptions {
        budget: Duration::from_secs(5),
        sweep: vec![Duration::from_micros(300)],
        sweep_k: 32,
        bootstrap: 200,
        sigma_grid: vec![0.1, 0.5],
        scale_grid: vec![0.01],
        ..EvalOptions::default()
    };
    let r = evaluate(&m, &data, &eo).unwrap();
    let names: Vec<&str> = r.rows.iter().map(|r| r.variant.as_str()).collect();
    for want in [
        "initial",
        "baseline",
        "best-of-16",
        "gradient-l8-s7",
        "parallel-gaussian-w2-16",
        "parallel-rademacher-w2-16",
        "parallel-antithetic-w2-16",
        "parallel-lowrank1-keys-16",
        "serial-r4-p2",
        "exhaustive",
    ] {
        // Names carry their non-default knobs (σ and scale are tuned).
        let head = |n: &str| n.split(':').next().unwrap().to_string();
        assert!(
            names.iter().any(|n| head(n) == want),
            "{want} missing from {names:?}"
        );
    }
    for n in names.iter().filter(|n| **n != "initial") {
        let v: last::serve::Variant = n.parse().unwrap();
        assert_eq!(&v.to_string(), n);
    }
    let gen = r.rows.iter().find(|r| r.variant == "baseline").unwrap();
    for row in &r.rows {
        assert_eq!(row.requests, 40);
        assert!(row.gt_reward.is_finite() && row.gt_reward >= 0.0);
        let [lo, hi] = row.gt_reward_diff_ci95;
        assert!(lo <= hi, "{row:?}");
        assert!((0.0..=1.0).contains(&row.ndcg10) && (0.0..=1.0).contains(&row.map10));
        // Served lists never score below the generator's on the evaluator
        // (the safe variant selects by the ensemble, not by member 0 alone).
        if row.variant != "initial" && !row.variant.starts_with("safe-") {
            assert!(row.eval_score >= gen.eval_score - 1e-6, "{row:?}");
        }
    }
    // The exhaustive optimum bounds every variant on the evaluator's score.
    let ex = r.rows.iter().find(|r| r.variant == "exhaustive").unwrap();
    assert!(r.rows.iter().all(|x| x.eval_score <= ex.eval_score + 1e-6));
    // Six sweep variants (the safe one included) at one budget.
    assert_eq!(r.sweep.len(), 6);
    assert!(r.sweep.iter().any(|p| p.variant.starts_with("safe-")));
    let dir = std::env::temp_dir().join(format!("last-pipeline-{}", std::process::id()));
    let files = r.write(&dir).unwrap();
    let svg = std::fs::read_to_string(dir.join("reward_vs_budget.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.contains("baseline"));
    let lines = std::fs::read_to_string(dir.join("report.jsonl")).unwrap();
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "variant",
            "gt_reward",
            "gt_reward_diff_ci95",
            "ndcg@10",
            "map@10",
            "eval_score",
            "p50_us",
            "p99_us",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
    }
    assert_eq!(files.len(), 4);
    std::fs::remove_dir_all(&dir).ok();
}

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} not found (real-data samples absent)",
            p.display()
        );
        None
    }
}

#[test]
fn mslr_sample_builds_a_valid_dataset() {
    let Some(root) = shared() else { return };
    let d = load(
        &Source::Letor(LetorSpec::mslr(
            root.join("mslr/msn1.fold1.train.5k.txt"),
            root.join("mslr/msn1.fold1.test.5k.txt"),
        )),
        1,
    )
    .unwrap();
    assert_eq!(d.cfg.d_x, 136);
    assert_eq!(d.test.len(), 42 * 10);
    assert!(!d.train.is_empty() && !d.valid.is_empty());
    for inst in d.train.iter().chain(&d.valid).chain(&d.test) {
        assert_eq!(inst.items.len(), inst.n * 136);
        assert!(inst.items.iter().all(|v| v.is_finite()));
        assert_eq!(inst.initial.len(), d.len);
        assert!(inst.truth.attract.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    assert_eq!(d.train_logs.len(), d.train.len() * 8);
}

#[test]
fn wscd_sample_builds_a_valid_dataset() {
    let Some(root) = shared() else { return };
    let d = load(
        &Source::Wscd {
            train: root.join("wscd/trainSample"),
            test: root.join("wscd/testSample"),
        },
        1,
    )
    .unwrap();
    assert_eq!(d.len, 5);
    assert!(d.test.len() > 100, "{}", d.test.len());
    // The ground-truth PBM: examination pinned to 1 at the top, decaying.
    assert_eq!(d.judge.exam[0], 1.0);
    assert!(d.judge.exam[4] < d.judge.exam[0]);
    for inst in &d.test {
        assert_eq!(inst.n, 10);
        assert!(inst.truth.attract.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    assert!(d
        .train_logs
        .iter()
        .all(|l| l.instance < d.train_log_instances.len()));
    assert!(d
        .valid_logs
        .iter()
        .all(|l| l.instance < d.valid_log_instances.len()));
}
