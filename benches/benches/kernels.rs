//! Kernel throughput: dense fp32 / f16-weight on the standard scenario's
//! shapes and the rows × dims grid, beside the `gemm` and `matrixmultiply`
//! crates on the same shapes, and perturbed dense against plain dense.
//!
//! Criterion reports throughput as elements/s with one element = one FLOP
//! (2·m·n·k per call), i.e. the "Gelem/s" column reads as GFLOP/s. The
//! single-core FMA peak measured at start is printed so the fraction of peak
//! can be read off; `last bench kernels` prints that fraction directly.
//!
//! `cargo bench -p last-benches -- --quick --noplot` for a fast pass.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef};
use std::hint::black_box;

fn data(len: usize, salt: u64) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let h = last_kernels::rng::splitmix64(i as u64 ^ salt);
            (h >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v: Vec<_> = last::bench::kernels::SCENARIO_SHAPES
        .iter()
        .map(|&(m, n, k, _)| (m, n, k))
        .collect();
    v.extend(last::bench::kernels::grid());
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(*s));
    v
}

fn dense(c: &mut Criterion) {
    let be = Backend::detect();
    match last::bench::peak::peak_gflops(be.isa()) {
        Some(p) => println!(
            "isa {} · measured single-core FMA peak {p:.1} GFLOP/s",
            be.isa()
        ),
        None => println!("isa {} · no FMA peak probe on this CPU", be.isa()),
    }
    let mut g = c.benchmark_group("dense");
    for (m, n, k) in shapes() {
        let id = format!("{m}x{n}x{k}");
        let x = data(m * k, 1);
        let w = data(n * k, 2);
        let b = data(n, 3);
        let mut y = vec![0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));

        let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
        let p32 = pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).unwrap();
        let mut blocks16 = vec![pack::Block16::default(); pack::blocks_f16(n, k)];
        let p16 = pack::pack_f16(&w, n, k, pack::as_u16_mut(&mut blocks16)).unwrap();
        let xm = MatRef::new(&x, m, k).unwrap();
        g.bench_function(BenchmarkId::new("last_f32", &id), |bch| {
            bch.iter(|| {
                be.dense(
                    xm,
                    p32,
                    Some(&b),
                    Activation::Relu,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap();
                black_box(&y);
            })
        });
        g.bench_function(BenchmarkId::new("last_f16", &id), |bch| {
            bch.iter(|| {
                be.dense(
                    xm,
                    p16,
                    Some(&b),
                    Activation::Relu,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap();
                black_box(&y);
            })
        });
        g.bench_function(BenchmarkId::new("gemm", &id), |bch| {
            bch.iter(|| unsafe {
                // SAFETY: buffers hold m×k, n×k, m×n with these strides.
                gemm::gemm(
                    m,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    k as isize,
                    1,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
                black_box(&y);
            })
        });
        g.bench_function(BenchmarkId::new("matrixmultiply", &id), |bch| {
            bch.iter(|| unsafe {
                // SAFETY: as above.
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    x.as_ptr(),
                    k as isize,
                    1,
                    w.as_ptr(),
                    1,
                    k as isize,
                    0.0,
                    y.as_mut_ptr(),
                    n as isize,
                    1,
                );
                black_box(&y);
            })
        });
    }
    g.finish();
}

fn perturbed(c: &mut Criterion) {
    let be = Backend::detect();
    let mut g = c.benchmark_group("perturbed");
    for (m, n, k) in [(50usize, 128usize, 128usize), (160, 128, 128)] {
        let id = format!("{m}x{n}x{k}");
        let x = data(m * k, 1);
        let w = data(n * k, 2);
        let b = data(n, 3);
        let mut y = vec![0f32; m * n];
        let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
        let p = pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).unwrap();
        let xm = MatRef::new(&x, m, k).unwrap();
        let mut scratch = vec![0f32; perturbed_scratch_len(k)];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(BenchmarkId::new("plain", &id), |bch| {
            bch.iter(|| {
                be.dense(
                    xm,
                    p,
                    Some(&b),
                    Activation::Relu,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            })
        });
        for (name, kind, anti) in [
            ("gaussian", NoiseKind::Gaussian, false),
            ("rademacher", NoiseKind::Rademacher, false),
            ("antithetic", NoiseKind::Gaussian, true),
        ] {
            let noise = Noise {
                seed: 9,
                candidate: 3,
                kind,
                antithetic: anti,
            };
            g.bench_function(BenchmarkId::new(name, &id), |bch| {
                bch.iter(|| {
                    be.dense_perturbed(
                        xm,
                        p,
                        &noise,
                        0.01,
                        Some(&b),
                        Activation::Relu,
                        MatMut::new(&mut y, m, n).unwrap(),
                        &mut scratch,
                    )
                    .unwrap()
                })
            });
        }
        for r in [1usize, 4] {
            let noise = Noise {
                seed: 9,
                candidate: 3,
                kind: NoiseKind::Gaussian,
                antithetic: false,
            };
            let mut u = vec![0f32; n * r];
            let mut vt = vec![0f32; r * k];
            noise.fill(0, &mut u);
            noise.fill((n * r) as u32, &mut vt);
            let mut ub = vec![0f32; pack::packed_len(n, r)];
            let lr = LowRank {
                u: pack::pack_f32(&u, n, r, &mut ub).unwrap(),
                vt: MatRef::new(&vt, r, k).unwrap(),
                sigma: 0.01,
            };
            let mut t = vec![0f32; m * r];
            g.bench_function(BenchmarkId::new(format!("low_rank_r{r}"), &id), |bch| {
                bch.iter(|| {
                    be.dense_low_rank(
                        xm,
                        p,
                        lr,
                        Some(&b),
                        Activation::Relu,
                        MatMut::new(&mut y, m, n).unwrap(),
                        &mut t,
                    )
                    .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, dense, perturbed);
criterion_main!(benches);
