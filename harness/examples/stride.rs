use last_kernels::{pack, Activation, MatMut, MatRef};
fn main() {
    let be = last::backend_from_env().unwrap();
    let a: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (m, n, k) = (a[0], a[1], a[2]);
    for _ in 0..3 {
    for pad in [0usize, 1, 4, 8, 16] {
        let lda = k + pad;
        let x = vec![0.25f32; m * lda];
        let w = vec![0.5f32; n * k];
        let b = vec![0.1f32; n];
        let mut y = vec![0f32; m * n];
        let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
        let p = pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).unwrap();
        let xm = MatRef::with_stride(&x, m, k, lda).unwrap();
        let t = last::peak::time_per_call(|| {
            be.dense(xm, p, Some(&b), Activation::Relu, MatMut::new(&mut y, m, n).unwrap()).unwrap();
        }, 21, 10.0);
        println!("{m}x{n}x{k} lda={lda}: {:.1} GFLOP/s", 2.0 * (m * n * k) as f64 / t / 1e9);
    }
    }
}
