//! Where a short request's tail latency comes from: serves 20,000 baseline
//! requests (standard scenario, one thread, after 300 of warm-up), prints
//! p50 / p99, the share of requests slower than 1.4 × p50 and the median
//! time between the starts of consecutive slow requests — next to the same
//! figures for a busy loop of the same length that streams a 3 MiB buffer.
//! Slow requests that recur every few milliseconds whatever the input point
//! at the machine (timer interrupts every 4 ms here, and the cache refills
//! a request pays after one) rather than at the loop.
//! `cargo run --release -p last --example tail`
use last::bench::scenario::Features;
use last::model::{Config, Model};
use last::serve::{Scratch, Variant};
use std::time::{Duration, Instant};

/// p50, p99, share above 1.4 × p50, median gap (ms) between slow starts.
fn summary(samples: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let mut lat: Vec<f64> = samples.iter().map(|s| s.1).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let p50 = lat[lat.len() / 2];
    let slow: Vec<f64> = samples
        .iter()
        .filter(|s| s.1 > 1.4 * p50)
        .map(|s| s.0)
        .collect();
    let mut gaps: Vec<f64> = slow.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(|a, b| a.total_cmp(b));
    let gap = gaps.get(gaps.len() / 2).copied().unwrap_or(f64::NAN);
    let share = slow.len() as f64 / samples.len() as f64;
    (p50, lat[lat.len() * 99 / 100], 100.0 * share, gap)
}

fn main() {
    let cfg = Config::standard();
    let model = Model::random(cfg.clone(), 7, last::backend_from_env().unwrap()).unwrap();
    let feats: Vec<Features> = (0..16)
        .map(|i| Features::random(&cfg, 50, 1000 + i))
        .collect();
    let mut scratch = Scratch::default();
    let start = Instant::now();
    let mut served = Vec::new();
    for i in 0..20_300 {
        let f = &feats[i % feats.len()];
        let req = f.request(
            cfg.d_x,
            10,
            i as u64,
            Variant::Baseline,
            Duration::from_secs(1),
        );
        let t = Instant::now();
        model.serve(&req, &mut scratch, None).unwrap();
        if i >= 300 {
            let at = t.duration_since(start).as_secs_f64() * 1e3;
            served.push((at, t.elapsed().as_secs_f64() * 1e6));
        }
    }
    let (p50, p99, share, gap) = summary(&served);
    println!("serve baseline: p50 {p50:.0} µs, p99 {p99:.0} µs, {share:.2} % above 1.4·p50, median gap between them {gap:.2} ms");
    let buf = vec![1.0f32; 3 << 18];
    let mut walked = Vec::new();
    for _ in 0..20_000 {
        let t = Instant::now();
        let (mut x, mut k) = (0f32, 0);
        while t.elapsed().as_secs_f64() * 1e6 < p50 {
            x += buf[k..k + 4096].iter().sum::<f32>();
            k = (k + 4096) % (buf.len() - 4096);
        }
        std::hint::black_box(x);
        let at = t.duration_since(start).as_secs_f64() * 1e3;
        walked.push((at, t.elapsed().as_secs_f64() * 1e6));
    }
    let (p50w, p99w, sharew, gapw) = summary(&walked);
    println!("memory walk:    p50 {p50w:.0} µs, p99 {p99w:.0} µs, {sharew:.2} % above 1.4·p50, median gap between them {gapw:.2} ms");
}
