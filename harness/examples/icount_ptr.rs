//! Runs the pointer-score kernel N times (for instruction counting under callgrind).
use last_kernels::MatRef;
fn main() {
    let be = last::backend_from_env().unwrap();
    let reps: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let (n, h) = (50, 128);
    let keys: Vec<f32> = (0..n * h)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let q = vec![0.1f32; h];
    let v = vec![0.05f32; h];
    let taken = vec![false; n];
    let mut out = vec![0f32; n];
    for _ in 0..reps {
        be.pointer_scores(
            MatRef::new(&keys, n, h).unwrap(),
            &q,
            &v,
            Some(&taken),
            &mut out,
        )
        .unwrap();
        std::hint::black_box(&mut out);
    }
}
