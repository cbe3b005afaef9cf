//! Dense forward (f32 and f16-stored weights) on every available path
//! against an f64 reference. Tolerance: `last_tests::dense_tol` (≈ 2(k+2)·2⁻²⁴·Σ|xw|).

use last_kernels::{pack, Activation, Backend, MatMut, MatRef};
use last_tests::{act_f64, backends, check_dense, dense_tol, values, DenseOut};
use proptest::prelude::*;

const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];

/// Runs one dense call and checks every output against f64. `f16` rounds
/// the weights to f16 first and uses the rounded values in the reference.
#[allow(clippy::too_many_arguments)]
fn check(
    b: Backend,
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    act: Activation,
    f16: bool,
    seed: u64,
    bias: bool,
) -> Result<(), String> {
    let x = values(seed, m * lda + 1);
    let mut w = values(seed ^ 1, n * k);
    let bv = values(seed ^ 2, n);
    if f16 {
        for v in &mut w {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }
    let ldc = n + (seed as usize % 3);
    let mut y = vec![f32::NAN; m * ldc + 2];
    let xm = MatRef::with_stride(&x, m, k, lda).unwrap();
    {
        let ym = MatMut::with_stride(&mut y, m, n, ldc).unwrap();
        let bias = if bias { Some(&bv[..]) } else { None };
        if f16 {
            let mut buf = vec![0u16; pack::packed_len(n, k)];
            let p = pack::pack_f16(&w, n, k, &mut buf).unwrap();
            b.dense(xm, p, bias, act, ym).unwrap();
        } else {
            let mut buf = vec![0f32; pack::packed_len(n, k)];
            let p = pack::pack_f32(&w, n, k, &mut buf).unwrap();
            b.dense(xm, p, bias, act, ym).unwrap();
        }
    }
    let o = DenseOut { m, n, k, ldc, act };
    let what = format!("{:?} f16={f16}", b.isa());
    let bias = bias.then_some(&bv[..]);
    check_dense(
        &what,
        &y,
        o,
        bias,
        |i, kk| x[i * lda + kk] as f64,
        |j, kk| w[j * k + kk] as f64,
    )?;
    Ok(())
}

/// Every m ≤ 36 (3 row tiles of the 16-lane paths' 12-row tile, 6 of the
/// 8-lane paths'), n ≤ 48 (3 panels), k over the loop-edge set.
#[test]
fn sweep_all_small_shapes() {
    for b in backends() {
        for m in 0..=36 {
            for n in 1..=48 {
                for &k in &[1usize, 2, 7, 8, 9, 16, 17, 33, 40] {
                    let act = ACTS[(m + n + k) % 4];
                    check(
                        b,
                        m,
                        n,
                        k,
                        k,
                        act,
                        (m + n) % 2 == 0,
                        (m * 1000 + n * 10 + k) as u64,
                        true,
                    )
                    .unwrap();
                }
            }
        }
    }
}

#[test]
fn large_shapes() {
    for b in backends() {
        for &(m, n, k) in &[
            (50, 128, 160),
            (200, 256, 256),
            (160, 512, 64),
            (10, 16, 16),
            (7, 300, 512),
        ] {
            for f16 in [false, true] {
                check(b, m, n, k, k, Activation::Relu, f16, 7, true).unwrap();
            }
        }
    }
}

#[test]
fn shape_errors_leave_output_untouched() {
    for b in backends() {
        let w = [0.5f32; 12];
        let mut buf = vec![0f32; pack::packed_len(3, 4)];
        let p = pack::pack_f32(&w, 3, 4, &mut buf).unwrap();
        let x = [1.0f32; 10];
        let mut y = [7.0f32; 6];
        let r = b.dense(
            MatRef::new(&x, 2, 5).unwrap(),
            p,
            None,
            Activation::Identity,
            MatMut::new(&mut y, 2, 3).unwrap(),
        );
        assert!(r.is_err());
        assert_eq!(y, [7.0; 6]);
        let r = b.dense(
            MatRef::new(&x[..8], 2, 4).unwrap(),
            p,
            Some(&[0.0; 2]),
            Activation::Identity,
            MatMut::new(&mut y, 2, 3).unwrap(),
        );
        assert!(r.is_err());
        assert_eq!(y, [7.0; 6]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn random_shapes_strides_acts(
        m in 0usize..40, n in 1usize..70, k in 1usize..41, pad in 0usize..5,
        act in 0usize..4, f16 in any::<bool>(), bias in any::<bool>(), seed in any::<u64>(),
    ) {
        for b in backends() {
            check(b, m, n, k, k + pad, ACTS[act], f16, seed, bias).map_err(TestCaseError::fail)?;
        }
    }
}

/// `dense` on a column view `W[:, k0..k1]` of a packed matrix equals, bit for
/// bit, `dense` on the sliced matrix packed on its own (same values, same
/// summation order), on every path, for f32 and f16 storage and for the
/// narrow (n ≤ 2) kernel.
#[allow(clippy::too_many_arguments)]
fn check_columns(
    b: Backend,
    m: usize,
    n: usize,
    kf: usize,
    k0: usize,
    k1: usize,
    f16: bool,
    seed: u64,
) {
    let w = values(seed, n * kf);
    let x = values(seed ^ 5, m * (k1 - k0));
    let sliced: Vec<f32> = (0..n)
        .flat_map(|j| w[j * kf + k0..j * kf + k1].iter().copied())
        .collect();
    let xm = MatRef::new(&x, m, k1 - k0).unwrap();
    let run = |wts: last_kernels::Weights<'_>| {
        let mut y = vec![0f32; m * n];
        b.dense(
            xm,
            wts,
            None,
            Activation::Identity,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        y
    };
    let (view, whole) = if f16 {
        let mut full = vec![0u16; pack::packed_len(n, kf)];
        let mut own = vec![0u16; pack::packed_len(n, k1 - k0)];
        let p = pack::pack_f16(&w, n, kf, &mut full).unwrap();
        let v = run(last_kernels::Weights::from(p).columns(k0, k1).unwrap());
        (
            v,
            run(pack::pack_f16(&sliced, n, k1 - k0, &mut own)
                .unwrap()
                .into()),
        )
    } else {
        let mut full = vec![0f32; pack::packed_len(n, kf)];
        let mut own = vec![0f32; pack::packed_len(n, k1 - k0)];
        let p = pack::pack_f32(&w, n, kf, &mut full).unwrap();
        let v = run(p.columns(k0, k1).unwrap().into());
        (
            v,
            run(pack::pack_f32(&sliced, n, k1 - k0, &mut own)
                .unwrap()
                .into()),
        )
    };
    let same = view
        .iter()
        .zip(&whole)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(
        same,
        "{:?} m={m} n={n} k={kf} cols {k0}..{k1} f16={f16}",
        b.isa()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn column_views_match_sliced_packing(
        m in 0usize..20, n in 1usize..40, kf in 1usize..60, a in 0usize..60, c in 0usize..60,
        f16 in any::<bool>(), seed in any::<u64>(),
    ) {
        let (k0, k1) = (a.min(c) % (kf + 1), a.max(c) % (kf + 1));
        let (k0, k1) = (k0.min(k1), k0.max(k1));
        for b in backends() {
            check_columns(b, m, n, kf, k0, k1, f16, seed);
        }
    }
}

/// `dense_add` (`Y = act(X·Wᵀ + b + Y)`) against f64, every path, f32 and
/// f16 storage, including n ≤ 2 (which `dense` sends to its narrow kernel).
fn check_add(
    b: Backend,
    m: usize,
    n: usize,
    k: usize,
    act: Activation,
    f16: bool,
    seed: u64,
) -> Result<(), String> {
    let x = values(seed, m * k);
    let mut w = values(seed ^ 1, n * k);
    let bv = values(seed ^ 2, n);
    let y0 = values(seed ^ 3, m * n);
    if f16 {
        for v in &mut w {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }
    let mut y = y0.clone();
    let xm = MatRef::new(&x, m, k).unwrap();
    let ym = MatMut::new(&mut y, m, n).unwrap();
    if f16 {
        let mut buf = vec![0u16; pack::packed_len(n, k)];
        let p = pack::pack_f16(&w, n, k, &mut buf).unwrap();
        b.dense_add(xm, p, Some(&bv), act, ym).unwrap();
    } else {
        let mut buf = vec![0f32; pack::packed_len(n, k)];
        let p = pack::pack_f32(&w, n, k, &mut buf).unwrap();
        b.dense_add(xm, p, Some(&bv), act, ym).unwrap();
    }
    for i in 0..m {
        for j in 0..n {
            let mut z = bv[j] as f64 + y0[i * n + j] as f64;
            let mut s = (bv[j] as f64).abs() + (y0[i * n + j] as f64).abs();
            for kk in 0..k {
                let t = x[i * k + kk] as f64 * w[j * k + kk] as f64;
                z += t;
                s += t.abs();
            }
            let r = act_f64(act, z);
            let got = y[i * n + j] as f64;
            let tol = dense_tol(k + 1, s, r);
            if (got - r).abs() > tol || !got.is_finite() {
                return Err(format!(
                    "{:?} dense_add m={m} n={n} k={k} {act:?} f16={f16}: y[{i}][{j}] = {got}, reference {r}, tol {tol}",
                    b.isa()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn dense_add_serving_shapes() {
    for b in backends() {
        for &(m, n, k) in &[(8, 128, 128), (1, 128, 128), (7, 1, 64), (50, 2, 30)] {
            for f16 in [false, true] {
                check_add(b, m, n, k, Activation::Tanh, f16, 5).unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn dense_add_random_shapes(
        m in 0usize..20, n in 1usize..40, k in 1usize..41, act in 0usize..4,
        f16 in any::<bool>(), seed in any::<u64>(),
    ) {
        for b in backends() {
            check_add(b, m, n, k, ACTS[act], f16, seed).map_err(TestCaseError::fail)?;
        }
    }
}

/// Row independence: every output row of `dense` and `dense_add` is
/// bit-identical to the same row computed alone, whatever the batch size
/// and the row's place in it (f32 and f16 weights). The serving loop relies
/// on this to share decoder states and evaluator rows between candidates
/// without changing any value.
fn check_row_independence(b: Backend, m: usize, n: usize, k: usize, f16: bool, seed: u64) {
    let x = values(seed, m * k);
    let w = values(seed ^ 1, n * k);
    let bv = values(seed ^ 2, n);
    let y0 = values(seed ^ 3, m * n);
    let (mut b32, mut b16) = (
        vec![0f32; pack::packed_len(n, k)],
        vec![0u16; pack::packed_len(n, k)],
    );
    let p: last_kernels::Weights<'_> = if f16 {
        pack::pack_f16(&w, n, k, &mut b16).unwrap().into()
    } else {
        pack::pack_f32(&w, n, k, &mut b32).unwrap().into()
    };
    for add in [false, true] {
        let run = |rows: std::ops::Range<usize>| {
            let r = rows.len();
            let mut y = y0[rows.start * n..rows.end * n].to_vec();
            let xm = MatRef::new(&x[rows.start * k..rows.end * k], r, k).unwrap();
            let ym = MatMut::new(&mut y, r, n).unwrap();
            if add {
                b.dense_add(xm, p, Some(&bv), Activation::Tanh, ym).unwrap();
            } else {
                b.dense(xm, p, Some(&bv), Activation::Tanh, ym).unwrap();
            }
            y
        };
        let all = run(0..m);
        for i in 0..m {
            let one = run(i..i + 1);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&one),
                bits(&all[i * n..(i + 1) * n]),
                "{:?} m={m} n={n} k={k} f16={f16} add={add} row {i}",
                b.isa()
            );
        }
    }
}

#[test]
fn rows_do_not_depend_on_the_batch() {
    for b in backends() {
        for m in [1, 2, 3, 7, 8, 12, 13, 14, 19, 20, 25, 31, 50] {
            for (n, k) in [(128, 128), (64, 128), (1, 64), (40, 33)] {
                check_row_independence(b, m, n, k, m % 2 == 0, m as u64 * 31 + n as u64);
            }
        }
    }
}
