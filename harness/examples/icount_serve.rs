//! Serves standard-scenario requests of one variant N times after a warm-up
//! (for instruction counting under callgrind):
//! `icount_serve VARIANT WARMUP REPS` with VARIANT one of baseline,
//! best-of-16, parallel, parallel-table, parallel-lowrank, parallel-keys, gradient, serial.
use last::bench::scenario::Features;
use last::model::{Config, Model};
use last::serve::{NoiseSpec, Scratch, Target, Variant};
use std::time::Duration;

fn main() {
    let be = last::backend_from_env().unwrap();
    let a: Vec<String> = std::env::args().skip(1).collect();
    let par = |noise, target| Variant::Parallel {
        k: 16,
        sigma: 0.05,
        noise,
        target,
    };
    let variant = match a[0].as_str() {
        "baseline" => Variant::Baseline,
        "best-of-16" => Variant::BestOfK { k: 16 },
        "parallel" => par(NoiseSpec::Gaussian, Target::W2),
        "parallel-lowrank" => par(NoiseSpec::LowRank(1), Target::Keys),
        "parallel-keys" => par(NoiseSpec::Gaussian, Target::Keys),
        "parallel-table" => par(NoiseSpec::Table, Target::W2),
        "gradient" => Variant::gradient_standard(),
        "serial" => Variant::serial_standard(),
        v => panic!("unknown variant {v}"),
    };
    let (warm, reps): (usize, usize) = (a[1].parse().unwrap(), a[2].parse().unwrap());
    let cfg = Config::standard();
    let model = Model::random(cfg.clone(), 7, be).unwrap();
    let feats: Vec<Features> = (0..16)
        .map(|i| Features::random(&cfg, 50, 1000 + i))
        .collect();
    let mut scratch = Scratch::default();
    let mut acc = 0f32;
    for i in 0..warm + reps {
        let f = &feats[i % feats.len()];
        let req = f.request(
            cfg.d_x,
            10,
            i as u64,
            variant,
            Duration::from_secs(1_000_000),
        );
        let r = model.serve(&req, &mut scratch, None).unwrap();
        acc += r.score;
    }
    println!("{acc}");
}
