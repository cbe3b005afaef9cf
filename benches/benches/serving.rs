//! Per-request latency of every LAST variant on the standard scenario
//! (docs/DESIGN.md §5: N = 50, L = 10, d_x = 64, d_u = 32, hidden 128; exhaustive on
//! N = 8, L = 4), one thread, seeded random model and requests.
//! `cargo bench -p last-benches --bench serving`. The `last bench
//! --scenario` command measures the same requests with percentiles.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use last::bench::scenario::Features;
use last::model::{Config, Model};
use last::serve::{Scratch, Variant};
use last_kernels::Backend;
use std::hint::black_box;
use std::time::Duration;

fn serving(c: &mut Criterion) {
    let cfg = Config::standard();
    let model = Model::random(cfg.clone(), 7, Backend::detect()).unwrap();
    let big: Vec<Features> = (0..8)
        .map(|i| Features::random(&cfg, 50, 100 + i))
        .collect();
    let small: Vec<Features> = (0..8).map(|i| Features::random(&cfg, 8, 200 + i)).collect();
    // The soak's mix: every variant with the standard knobs (exhaustive on N = 8).
    let variants = last::bench::soak::mix();
    let mut g = c.benchmark_group("serve_standard");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for (v, _n, len) in variants {
        let feats = if v == Variant::Exhaustive {
            &small
        } else {
            &big
        };
        let mut scratch = Scratch::default();
        let mut i = 0u64;
        g.bench_function(BenchmarkId::from_parameter(v.name()), |b| {
            b.iter(|| {
                let f = &feats[i as usize % feats.len()];
                i += 1;
                let req = f.request(cfg.d_x, len, i, v, Duration::from_secs(10));
                black_box(model.serve(&req, &mut scratch, None).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, serving);
criterion_main!(benches);
