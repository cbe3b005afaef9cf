//! Runs one dense shape N times (for instruction counting under callgrind).
use last_kernels::{pack, Activation, MatMut, MatRef};
fn main() {
    let be = last::backend_from_env().unwrap();
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (m, n, k, reps) = (a[0], a[1], a[2], a[3]);
    let x = vec![0.25f32; m * k];
    let w = vec![0.5f32; n * k];
    let b = vec![0.1f32; n];
    let mut y = vec![0f32; m * n];
    let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
    let p = pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).unwrap();
    let xm = MatRef::new(&x, m, k).unwrap();
    for _ in 0..reps {
        be.dense(
            xm,
            p,
            Some(&b),
            Activation::Relu,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        std::hint::black_box(&mut y);
    }
}
