fn main() {
    let be = last::backend_from_env().unwrap();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (m, n, k) = (args[0], args[1], args[2]);
    for _ in 0..4 {
        let t = last::bench::time_dense(be, m, n, k, false, 21);
        let g = 2.0 * (m * n * k) as f64 / t / 1e9;
        println!("{m}x{n}x{k}: {:.0} ns {:.1} GFLOP/s", t * 1e9, g);
    }
}
