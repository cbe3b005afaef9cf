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

/// `POST /rank`'s body decoders on the standard request (50 items × 64
/// features + 32 user features, as JSON and as the binary body): the HTTP
/// path's own CPU cost beside the ranking.
fn request_decode(c: &mut Criterion) {
    use last::server::binary::{decode_binary, encode_binary};
    use last::server::decode::{decode, Defaults};
    let cfg = Config::standard();
    let f = Features::random(&cfg, 50, 300);
    let items: Vec<&[f32]> = f.items.chunks_exact(cfg.d_x).collect();
    let body = format!(
        r#"{{"user":{:?},"items":{:?},"length":10,"variant":"parallel-gaussian-w2-16","seed":1,"budget_us":5000}}"#,
        f.user, items
    );
    let defaults = Defaults {
        variant: Variant::parallel_standard(),
        budget: Duration::from_millis(5),
    };
    let mut g = c.benchmark_group("server");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.bench_function(BenchmarkId::new("decode_json", body.len()), |b| {
        b.iter(|| black_box(decode(black_box(body.as_bytes()), &cfg, &defaults).unwrap()))
    });
    let bin = encode_binary(
        &f.user,
        &f.items,
        cfg.d_x,
        10,
        1,
        "parallel-gaussian-w2-16",
        Some(5000),
    );
    g.bench_function(BenchmarkId::new("decode_binary", bin.len()), |b| {
        b.iter(|| black_box(decode_binary(black_box(&bin), &cfg, &defaults).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, serving, request_decode);
criterion_main!(benches);
