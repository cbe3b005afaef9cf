//! Serves standard-scenario requests of one variant N times after a warm-up
//! (for instruction counting under callgrind):
//! `icount_serve VARIANT WARMUP REPS`, VARIANT in the one naming scheme
//! (`baseline`, `parallel-gaussian-w2-16`, `serial-r8-p2`, …).
use last::bench::scenario::Features;
use last::model::{Config, Model};
use last::serve::{Scratch, Variant};
use std::time::Duration;

fn main() {
    let be = last::backend_from_env().unwrap();
    let a: Vec<String> = std::env::args().skip(1).collect();
    let variant: Variant = a[0]
        .parse()
        .unwrap_or_else(|e| panic!("variant {:?}: {e}", a[0]));
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
