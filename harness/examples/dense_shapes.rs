//! Times `Backend::dense` (f32, bias + ReLU) on one shape per argument
//! `MxNxK`, best of 200 repetitions of 50 calls; prints GFLOP/s.
use last_kernels::{pack, Activation, Backend, MatMut, MatRef};
use std::time::Instant;

fn main() {
    let be = Backend::detect();
    for a in std::env::args().skip(1) {
        let d: Vec<usize> = a.split('x').map(|v| v.parse().unwrap()).collect();
        let (m, n, k) = (d[0], d[1], d[2]);
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let b = vec![0.1f32; n];
        let mut buf = vec![0f32; pack::packed_len(n, k)];
        let p = pack::pack_f32(&w, n, k, &mut buf).unwrap();
        let mut y = vec![0f32; m * n];
        let mut best = f64::MAX;
        for _ in 0..200 {
            let t = Instant::now();
            for _ in 0..50 {
                be.dense(
                    MatRef::new(&x, m, k).unwrap(),
                    p,
                    Some(&b),
                    Activation::Relu,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / 50.0);
        }
        println!("{a}: {:.1} GFLOP/s", 2.0 * (m * n * k) as f64 / best / 1e9);
    }
}
