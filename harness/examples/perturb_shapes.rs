//! Times dense, dense_perturbed (hash noise) and dense_perturbed_table on
//! 50×128×128 (bias + ReLU), best of 200 × 50 calls; prints µs per call.
use last_kernels::perturb::perturbed_scratch_len;
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef};
use std::time::Instant;

fn best(mut f: impl FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..200 {
        let t = Instant::now();
        for _ in 0..50 {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / 50.0);
    }
    b * 1e6
}

fn main() {
    let be = Backend::detect();
    let (m, n, k) = (50, 128, 128);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
        .collect();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5)
        .collect();
    let b = vec![0.1f32; n];
    let mut buf = vec![0f32; pack::packed_len(n, k)];
    let p = pack::pack_f32(&w, n, k, &mut buf).unwrap();
    let table: Vec<f32> = (0..pack::packed_len(n, k) + 64)
        .map(|i| ((i * 3) % 7) as f32 / 7.0 - 0.5)
        .collect();
    let mut y = vec![0f32; m * n];
    let mut scratch = vec![0f32; perturbed_scratch_len(k)];
    let noise = Noise {
        seed: 1,
        candidate: 2,
        kind: NoiseKind::Gaussian,
        antithetic: false,
    };
    let xm = || MatRef::new(&x, m, k).unwrap();
    let d = best(|| {
        be.dense(
            xm(),
            p,
            Some(&b),
            Activation::Relu,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap()
    });
    let mut y2 = vec![0f32; m * n];
    let h = best(|| {
        be.dense_perturbed(
            xm(),
            p,
            &noise,
            0.1,
            Some(&b),
            Activation::Relu,
            MatMut::new(&mut y2, m, n).unwrap(),
            &mut scratch,
        )
        .unwrap()
    });
    let mut y3 = vec![0f32; m * n];
    let mut scratch3 = vec![0f32; perturbed_scratch_len(k)];
    let t = best(|| {
        be.dense_perturbed_table(
            xm(),
            p,
            &table[8..],
            0.1,
            Some(&b),
            Activation::Relu,
            MatMut::new(&mut y3, m, n).unwrap(),
            &mut scratch3,
        )
        .unwrap()
    });
    println!("dense {d:.2} µs, perturbed (hash) {h:.2} µs, perturbed (table) {t:.2} µs");
}
