//! bf16 products on every bf16 path this machine has (scalar reference,
//! AVX512-BF16 `vdpbf16ps`, AMX-BF16 tiles) against an f64 reference
//! computed on the same bf16-rounded inputs.
//!
//! Bound: each bf16 × bf16 product is exact in f32 and the sum is an f32 sum
//! of `k` terms in an order fixed per output, so the error is within the
//! f32 dot-product bound `last_tests::dense_tol` (≈ 2(k+2)·2⁻²⁴·Σ|xw|, plus
//! the activation's own error). Paths missing on this machine are skipped
//! with a printed line.

use last_kernels::bf16::{self, Bf16Backend};
use last_kernels::{Activation, MatMut, MatRef};
use last_tests::{check_dense, values, DenseOut};
use proptest::prelude::*;

/// Every bf16 path here, with a line for each one that is missing.
fn paths() -> Vec<Bf16Backend> {
    let all = Bf16Backend::available();
    let names: Vec<&str> = all.iter().map(|b| b.name()).collect();
    println!("bf16 paths tested: {}", names.join(", "));
    for name in ["avx512bf16", "amx"] {
        if !all.iter().any(|b| b.name() == name) {
            println!("bf16 path {name} not available on this machine: skipped");
        }
    }
    #[cfg(target_arch = "x86_64")]
    if let Err(why) = last_kernels::bf16::Amx::try_new() {
        println!("AMX: {why}");
    }
    all
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    ldc: usize,
    act: Activation,
    bias: bool,
    seed: u64,
    scale: f32,
}

/// Runs one product; returns the output (with its padding) or the first
/// mismatch against the f64 reference.
fn run(b: Bf16Backend, c: &Case) -> Result<Vec<f32>, String> {
    let Case {
        m,
        n,
        k,
        lda,
        ldc,
        act,
        bias,
        seed,
        scale,
    } = *c;
    // Start one element in, so rows are not 64-byte aligned.
    let xs: Vec<f32> = values(seed, m * lda + 2)
        .iter()
        .map(|v| v * scale)
        .collect();
    let x = &xs[1..];
    let w: Vec<f32> = values(seed ^ 1, n * k).iter().map(|v| v * scale).collect();
    let bv = values(seed ^ 2, n);
    let mut wb = vec![0u16; bf16::packed_len_bf16(n, k)];
    let wp = bf16::pack_bf16(&w, n, k, &mut wb).unwrap();
    let mut xb = vec![0u16; bf16::acts_len(m, k)];
    let xm = MatRef::with_stride(x, m, k, lda).unwrap();
    let xa = b.round(xm, &mut xb).unwrap();
    let mut y = vec![f32::NAN; m * ldc + 1];
    let bias = bias.then_some(&bv[..]);
    b.dense(
        xa,
        wp,
        bias,
        act,
        MatMut::with_stride(&mut y, m, n, ldc).unwrap(),
    )
    .unwrap();
    let o = DenseOut { m, n, k, ldc, act };
    let xr = |i: usize, kk: usize| bf16::from_bf16(bf16::to_bf16(x[i * lda + kk])) as f64;
    check_dense(b.name(), &y, o, bias, xr, |j, kk| wp.get(j, kk) as f64)?;
    if !y[m * ldc].is_nan() {
        return Err(format!("{} wrote past the output", b.name()));
    }
    Ok(y)
}

/// Edges of every tile: rows around 4/8/12/16/32 (vdpbf16ps and AMX row
/// tiles), columns around the 16-column panel and the 32-column AMX pair,
/// k around the pair and the 32-element k block; up to 3× the AMX tile.
#[test]
fn sweep_tile_edges() {
    let ms = [0, 1, 3, 4, 5, 12, 15, 16, 17, 31, 32, 33, 48, 49, 96];
    let ns = [0, 1, 15, 16, 17, 32, 33, 48, 49, 96];
    let ks = [0, 1, 2, 3, 31, 32, 33, 40, 64, 65];
    let acts = [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
    ];
    for b in paths() {
        let mut t = 0u64;
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    t += 1;
                    let c = Case {
                        m,
                        n,
                        k,
                        lda: k + (t as usize % 3),
                        ldc: n + (t as usize % 2),
                        act: acts[t as usize % 4],
                        bias: !t.is_multiple_of(3),
                        seed: t,
                        scale: 1.0,
                    };
                    run(b, &c).unwrap();
                }
            }
        }
    }
}

/// The hardware paths agree with the reference to the bound at serving
/// shapes and at large magnitudes.
#[test]
fn serving_shapes_and_magnitudes() {
    for b in paths() {
        for (m, n, k) in [
            (50, 128, 128),
            (160, 128, 176),
            (10, 64, 64),
            (1, 128, 160),
            (160, 1, 64),
            (9, 2, 1024),
        ] {
            for scale in [1e-3f32, 1.0, 1e3] {
                let c = Case {
                    m,
                    n,
                    k,
                    lda: k,
                    ldc: n,
                    act: Activation::Identity,
                    bias: true,
                    seed: (m * n + k) as u64,
                    scale,
                };
                run(b, &c).unwrap();
            }
        }
    }
}

/// A row's output does not depend on the other rows of the call (bit for
/// bit), on the panel tiles and on the narrow (1–2 output) path.
#[test]
fn rows_do_not_depend_on_the_batch() {
    for (b, n) in paths().into_iter().flat_map(|b| [(b, 40), (b, 2)]) {
        let (m, k) = (37, 70);
        let full = run(
            b,
            &Case {
                m,
                n,
                k,
                lda: k,
                ldc: n,
                act: Activation::Relu,
                bias: true,
                seed: 9,
                scale: 1.0,
            },
        )
        .unwrap();
        let x = values(9, m * k + 2);
        let w = values(9 ^ 1, n * k);
        let bv = values(9 ^ 2, n);
        let mut wb = vec![0u16; bf16::packed_len_bf16(n, k)];
        let wp = bf16::pack_bf16(&w, n, k, &mut wb).unwrap();
        for i in [0, 15, 16, 31, 36] {
            let row = &x[1 + i * k..1 + (i + 1) * k];
            let mut xb = vec![0u16; bf16::acts_len(1, k)];
            let xa = b.round(MatRef::new(row, 1, k).unwrap(), &mut xb).unwrap();
            let mut y = vec![0f32; n];
            b.dense(
                xa,
                wp,
                Some(&bv),
                Activation::Relu,
                MatMut::new(&mut y, 1, n).unwrap(),
            )
            .unwrap();
            for j in 0..n {
                assert_eq!(
                    y[j].to_bits(),
                    full[i * n + j].to_bits(),
                    "{} row {i} col {j}",
                    b.name()
                );
            }
        }
    }
}

/// The vector rounding gives `to_bf16`'s bits, specials included.
#[test]
fn rounding_matches_the_scalar_rule() {
    let specials = [
        0.0f32,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(0x007f_ffff),
        f32::MIN_POSITIVE,
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    for b in paths() {
        for (m, k) in [(1, 1), (3, 33), (17, 64), (20, 70)] {
            let mut x = values((m * k) as u64, m * k);
            let len = x.len();
            for (i, s) in specials.iter().enumerate().take(len) {
                x[i * 7 % len] = *s;
            }
            let mut got = vec![0u16; bf16::acts_len(m, k)];
            let mut want = vec![0u16; bf16::acts_len(m, k)];
            let xm = MatRef::new(&x, m, k).unwrap();
            let g = b.round(xm, &mut got).unwrap();
            let r = Bf16Backend::Scalar.round(xm, &mut want).unwrap();
            assert_eq!(g.data(), r.data(), "{} m={m} k={k}", b.name());
        }
    }
}

/// Mismatched shapes are errors and leave the output untouched.
#[test]
fn shape_errors_leave_output_untouched() {
    for b in paths() {
        let w = values(1, 8 * 5);
        let mut wb = vec![0u16; bf16::packed_len_bf16(8, 5)];
        let wp = bf16::pack_bf16(&w, 8, 5, &mut wb).unwrap();
        let x = values(2, 3 * 4);
        let mut xb = vec![0u16; bf16::acts_len(3, 4)];
        let xa = b.round(MatRef::new(&x, 3, 4).unwrap(), &mut xb).unwrap();
        let mut y = vec![7.0f32; 24];
        let e = b.dense(
            xa,
            wp,
            None,
            Activation::Identity,
            MatMut::new(&mut y, 3, 8).unwrap(),
        );
        assert!(e.is_err());
        assert!(y.iter().all(|&v| v == 7.0));
        let mut short = vec![0u16; 3];
        assert!(b.round(MatRef::new(&x, 3, 4).unwrap(), &mut short).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes(m in 0usize..70, n in 0usize..70, k in 0usize..100, pad in 0usize..3,
                     act in 0usize..4, seed in any::<u64>(), scale in prop::sample::select(vec![1e-2f32, 1.0, 50.0])) {
        let acts = [Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid];
        for b in Bf16Backend::available() {
            let c = Case { m, n, k, lda: k + pad, ldc: n + pad, act: acts[act], bias: seed % 2 == 0, seed, scale };
            prop_assert!(run(b, &c).is_ok(), "{}", run(b, &c).unwrap_err());
        }
    }
}
