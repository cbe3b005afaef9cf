//! Writes the standard scenario's model (`Config::standard()`, the seeded
//! random weights `last bench` measures) to a folder, with a `serving.json`
//! serving `parallel-gaussian-w2-16` at a 5 ms budget (and a random
//! four-member evaluator ensemble for the safe variant), so that `last
//! serve` can be measured on the same shapes as `last bench`
//! (`scripts/load-test.sh`).
//! `cargo run --release -p last --example standard_model -- DIR`
use last::model::{Config, Model, ServingSettings, Sigmas};
use last::serve::Variant;
use std::path::PathBuf;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: standard_model DIR");
        std::process::exit(2);
    };
    let s = 0.05;
    let serving = ServingSettings {
        variant: Variant::parallel_standard(),
        budget_us: 5000,
        k: 16,
        sigma: Sigmas {
            gaussian_w2: s,
            rademacher_w2: s,
            antithetic_w2: s,
            table_w2: s,
            lowrank1_keys: s,
        },
        gradient_scale: 0.01,
        safe: Some(Variant::safe_standard()),
    };
    let result = Model::random(Config::standard(), 7, last_kernels::Backend::detect())
        .and_then(|m| m.with_random_ensemble(last::bench::scenario::BENCH_MEMBERS, 7))
        .and_then(|m| m.save(&dir))
        .and_then(|()| serving.write(&dir));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    println!("wrote {}", dir.display());
}
