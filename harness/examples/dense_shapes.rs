//! Times `Backend::dense`, `dense_perturbed` (hashed noise) and
//! `dense_perturbed_table` (f32, bias + ReLU) on each shape given as
//! `MxNxK`, best of 200 repetitions of 50 calls; prints µs per call and
//! GFLOP/s. E.g. `dense_shapes 50x128x128 10x256x256`.
use last_kernels::perturb::perturbed_scratch_len;
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef};
use std::time::Instant;

/// Best time of one call, in seconds.
fn best(mut f: impl FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..200 {
        let t = Instant::now();
        for _ in 0..50 {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / 50.0);
    }
    b
}

fn main() {
    let be = Backend::detect();
    let noise = Noise {
        seed: 1,
        candidate: 2,
        kind: NoiseKind::Gaussian,
        antithetic: false,
    };
    for a in std::env::args().skip(1) {
        let d: Vec<usize> = a.split('x').map(|v| v.parse().unwrap()).collect();
        let (m, n, k) = (d[0], d[1], d[2]);
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let table: Vec<f32> = (0..pack::packed_len(n, k))
            .map(|i| ((i * 3) % 7) as f32 / 7.0 - 0.5)
            .collect();
        let b = vec![0.1f32; n];
        let mut buf = vec![0f32; pack::packed_len(n, k)];
        let p = pack::pack_f32(&w, n, k, &mut buf).unwrap();
        let mut y = vec![0f32; m * n];
        let mut scratch = vec![0f32; perturbed_scratch_len(k)];
        let xm = || MatRef::new(&x, m, k).unwrap();
        let relu = Activation::Relu;
        let plain = best(|| {
            let ym = MatMut::new(&mut y, m, n).unwrap();
            be.dense(xm(), p, Some(&b), relu, ym).unwrap()
        });
        let hashed = best(|| {
            let ym = MatMut::new(&mut y, m, n).unwrap();
            be.dense_perturbed(xm(), p, &noise, 0.1, Some(&b), relu, ym, &mut scratch)
                .unwrap()
        });
        let tabled = best(|| {
            let ym = MatMut::new(&mut y, m, n).unwrap();
            be.dense_perturbed_table(xm(), p, &table, 0.1, Some(&b), relu, ym, &mut scratch)
                .unwrap()
        });
        let gf = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
        println!(
            "{a}: dense {:.2} µs ({:.1} GFLOP/s), perturbed hash {:.2} µs, perturbed table {:.2} µs",
            plain * 1e6,
            gf(plain),
            hashed * 1e6,
            tabled * 1e6
        );
    }
}
