//! Backward kernels (`matmul`, `matmul_tn`, `bias_grad`,
//! `activation_backward`) on every available path against f64 references,
//! plus an end-to-end finite-difference check of a small layer's gradients.
//!
//! Tolerances:
//! * products: `dense_tol(p + a, Σ|a·b| + |c₀|, ·)` where p is the inner
//!   dimension and `a` = 1 when accumulating (the old C is one more term of
//!   the sum): the γ-bound of a length-(p+a) sum, doubled (see `dense_tol`);
//! * `bias_grad`: the same bound for a sum of m rows plus the old `db`;
//! * `activation_backward` (derivation at `act_backward_tol`).

use last_kernels::{pack, Activation, Backend, KernelError, MatMut, MatRef};
use last_tests::{act_f64, backends, close, dense_tol, values, U32};
use proptest::prelude::*;

const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];
/// A NaN with a payload no kernel produces: "never written" sentinel.
const SENTINEL: u32 = 0x7fc0_dead;

/// Smallest slice a `rows × cols` view with row stride `ld` needs.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

#[derive(Clone, Copy, Debug)]
struct MmCase {
    /// `matmul_tn` (A stored p × m) instead of `matmul` (A m × p).
    tn: bool,
    m: usize,
    n: usize,
    p: usize,
    pad_a: usize,
    pad_b: usize,
    pad_c: usize,
    accumulate: bool,
    seed: u64,
}

/// One product against f64. Inputs are allocated at exactly their minimal
/// span; C has sentinel padding between rows and after the last row, which
/// must be untouched. Without `accumulate`, C starts as NaN so any read of
/// the old C would show.
fn check_matmul(b: Backend, c: MmCase) -> Result<(), String> {
    let MmCase { tn, m, n, p, .. } = c;
    let (ar, ac) = if tn { (p, m) } else { (m, p) };
    let lda = ac + c.pad_a;
    let ldb = n + c.pad_b;
    let ldc = n + c.pad_c;
    let a = values(c.seed, span(ar, ac, lda));
    let bm = values(c.seed ^ 1, span(p, n, ldb));
    let c0 = values(c.seed ^ 2, m * ldc);
    let mut cbuf = vec![f32::from_bits(SENTINEL); m * ldc + 3];
    for i in 0..m {
        for j in 0..n {
            cbuf[i * ldc + j] = if c.accumulate {
                c0[i * ldc + j]
            } else {
                f32::NAN
            };
        }
    }
    let av = MatRef::with_stride(&a, ar, ac, lda).unwrap();
    let bv = MatRef::with_stride(&bm, p, n, ldb).unwrap();
    let cv = MatMut::with_stride(&mut cbuf, m, n, ldc).unwrap();
    let res = if tn {
        b.matmul_tn(av, bv, cv, c.accumulate)
    } else {
        b.matmul(av, bv, cv, c.accumulate)
    };
    res.map_err(|e| format!("{:?} {c:?}: unexpected error {e}", b.isa()))?;
    for i in 0..m {
        for j in 0..n {
            let mut z = if c.accumulate {
                c0[i * ldc + j] as f64
            } else {
                0.0
            };
            let mut s = z.abs();
            for q in 0..p {
                let aiq = if tn { a[q * lda + i] } else { a[i * lda + q] };
                let t = aiq as f64 * bm[q * ldb + j] as f64;
                z += t;
                s += t.abs();
            }
            let got = cbuf[i * ldc + j] as f64;
            let tol = dense_tol(p + c.accumulate as usize, s, z);
            if !close(got, z, tol) {
                return Err(format!(
                    "{:?} {c:?}: C[{i}][{j}] = {got}, reference {z}, tol {tol}",
                    b.isa()
                ));
            }
        }
    }
    for (idx, v) in cbuf.iter().enumerate() {
        let (i, j) = (idx / ldc, idx % ldc);
        if !(i < m && j < n) && v.to_bits() != SENTINEL {
            return Err(format!("{:?} {c:?}: wrote outside C at {idx}", b.isa()));
        }
    }
    Ok(())
}

/// Every m ≤ 18 (3 row tiles and every tail), n ≤ 48 (3 column panels and
/// every tail), inner dimension over the loop edges (0 included: C = 0 or
/// unchanged), both products, accumulate alternating.
#[test]
fn matmul_sweep_small_shapes() {
    for b in backends() {
        for tn in [false, true] {
            for m in 0..=36 {
                for n in 1..=48 {
                    for &p in &[0usize, 1, 7, 8, 9, 17, 33] {
                        let case = MmCase {
                            tn,
                            m,
                            n,
                            p,
                            pad_a: 0,
                            pad_b: 0,
                            pad_c: 0,
                            accumulate: (m + n + p) % 2 == 1,
                            seed: (m * 10_000 + n * 100 + p) as u64,
                        };
                        check_matmul(b, case).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn matmul_larger_shapes() {
    for b in backends() {
        for &(m, n, p) in &[(50, 128, 160), (64, 96, 50), (1, 200, 300), (200, 20, 2)] {
            for tn in [false, true] {
                for accumulate in [false, true] {
                    let case = MmCase {
                        tn,
                        m,
                        n,
                        p,
                        pad_a: 3,
                        pad_b: 1,
                        pad_c: 2,
                        accumulate,
                        seed: 5,
                    };
                    check_matmul(b, case).unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn matmul_random_shapes_and_strides(
        tn in any::<bool>(), m in 0usize..40, n in 1usize..70, p in 0usize..45,
        pad_a in 0usize..5, pad_b in 0usize..5, pad_c in 0usize..5,
        accumulate in any::<bool>(), seed in any::<u64>(),
    ) {
        let case = MmCase { tn, m, n, p, pad_a, pad_b, pad_c, accumulate, seed };
        for b in backends() {
            check_matmul(b, case).map_err(TestCaseError::fail)?;
        }
    }
}

/// `db += Σ_rows dy` against f64, strided dy, n including 0 and tails.
fn check_bias_grad(b: Backend, m: usize, n: usize, pad: usize, seed: u64) -> Result<(), String> {
    // Zero-width views with a stride > 0 are covered (and currently fail)
    // in `zero_width_strided_views_do_not_panic`; keep them out of here.
    let pad = if n == 0 { 0 } else { pad };
    let ld = n + pad;
    let dy = values(seed, span(m, n, ld));
    let db0 = values(seed ^ 9, n);
    let mut db = db0.clone();
    b.bias_grad(MatRef::with_stride(&dy, m, n, ld).unwrap(), &mut db)
        .map_err(|e| format!("{:?}: {e}", b.isa()))?;
    for j in 0..n {
        let mut z = db0[j] as f64;
        let mut s = z.abs();
        for i in 0..m {
            z += dy[i * ld + j] as f64;
            s += (dy[i * ld + j] as f64).abs();
        }
        let tol = dense_tol(m, s, z);
        let got = db[j] as f64;
        if !close(got, z, tol) {
            return Err(format!(
                "{:?} m={m} n={n} pad={pad}: db[{j}] = {got}, reference {z}, tol {tol}",
                b.isa()
            ));
        }
    }
    Ok(())
}

#[test]
fn bias_grad_sweep() {
    for b in backends() {
        for m in 0..=36 {
            for n in 0..=48 {
                check_bias_grad(b, m, n, (m + n) % 3, (m * 100 + n) as u64).unwrap();
            }
        }
        check_bias_grad(b, 500, 70, 1, 3).unwrap();
        // m = 0 leaves db exactly as it was.
        let mut db = values(4, 13);
        let before = db.clone();
        b.bias_grad(MatRef::new(&[], 0, 13).unwrap(), &mut db)
            .unwrap();
        assert_eq!(db, before);
    }
}

/// Tolerance of `dy·act'(z)` computed from `y` in f32.
/// Identity and ReLU are exact (multiplication by 1 or 0).
/// tanh: `g = 1 − y²`: `fl(y²)` errs by ≤ u·y², the subtraction by
/// ≤ u·|1 − fl(y²)| ≤ u(|g| + u·y²), the final product by u·|d·g|: total
/// ≤ u·|d|·(y² + 2|g|) + O(u²). Sigmoid: `g = y(1 − y)`: three roundings of
/// relative size u each, ≤ 3u·|d·g| + O(u²) ≤ u·|d|·(y² + 2|g|)·(3/2).
/// Both are covered by `2u·|d|·(y² + 2|g|)` (u = 2⁻²⁴).
fn act_backward_tol(act: Activation, d: f64, y: f64, g: f64) -> f64 {
    match act {
        Activation::Identity | Activation::Relu => 0.0,
        Activation::Tanh | Activation::Sigmoid => 2.0 * U32 * d.abs() * (y * y + 2.0 * g.abs()),
    }
}

fn deriv_f64(act: Activation, y: f64) -> f64 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => (y > 0.0) as u8 as f64,
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
    }
}

fn check_act_backward(
    b: Backend,
    act: Activation,
    m: usize,
    n: usize,
    pad_y: usize,
    pad_d: usize,
    seed: u64,
) -> Result<(), String> {
    // See `zero_width_strided_views_do_not_panic` for n = 0 with padding.
    let (pad_y, pad_d) = if n == 0 { (0, 0) } else { (pad_y, pad_d) };
    let (ldy, ldd) = (n + pad_y, n + pad_d);
    // Pre-activations in [−6, 6): y covers the saturated regions too.
    let y: Vec<f32> = values(seed, span(m, n, ldy))
        .into_iter()
        .map(|z| act.apply(6.0 * z))
        .collect();
    let d0 = values(seed ^ 5, m * ldd);
    let mut d = vec![f32::from_bits(SENTINEL); m * ldd + 2];
    for i in 0..m {
        d[i * ldd..i * ldd + n].copy_from_slice(&d0[i * ldd..i * ldd + n]);
    }
    b.activation_backward(
        act,
        MatRef::with_stride(&y, m, n, ldy).unwrap(),
        MatMut::with_stride(&mut d, m, n, ldd).unwrap(),
    )
    .map_err(|e| format!("{:?}: {e}", b.isa()))?;
    for i in 0..m {
        for j in 0..n {
            let yv = y[i * ldy + j] as f64;
            let dv = d0[i * ldd + j] as f64;
            let g = deriv_f64(act, yv);
            let r = dv * g;
            let got = d[i * ldd + j] as f64;
            let tol = act_backward_tol(act, dv, yv, g);
            if !close(got, r, tol) {
                return Err(format!(
                    "{:?} {act:?} m={m} n={n}: dz[{i}][{j}] = {got}, reference {r} (y={yv}, dy={dv}), tol {tol}",
                    b.isa()
                ));
            }
        }
    }
    for (idx, v) in d.iter().enumerate() {
        let inside = ldd > 0 && idx / ldd < m && idx % ldd < n;
        if !inside && v.to_bits() != SENTINEL {
            return Err(format!("{:?} {act:?}: wrote outside dy at {idx}", b.isa()));
        }
    }
    Ok(())
}

#[test]
fn activation_backward_sweep() {
    for b in backends() {
        for act in ACTS {
            for m in 0..=7 {
                for n in 0..=48 {
                    check_act_backward(b, act, m, n, n % 3, (n + m) % 2, (m * 97 + n) as u64)
                        .unwrap();
                }
            }
        }
    }
}

/// Exact special points: ReLU's derivative at y = 0 is 0, tanh's at y = ±1
/// and sigmoid's at y ∈ {0, 1} are 0, and at y = 0 tanh' = 1, sigmoid'(½) = ¼.
#[test]
fn activation_backward_special_points() {
    for b in backends() {
        let cases: [(Activation, &[(f32, f32)]); 3] = [
            (Activation::Relu, &[(0.0, 0.0), (1e-30, 1.0), (5.0, 1.0)]),
            (Activation::Tanh, &[(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)]),
            (Activation::Sigmoid, &[(0.0, 0.0), (1.0, 0.0), (0.5, 0.25)]),
        ];
        for (act, pts) in cases {
            // 9 copies so the SIMD path sees a full vector and a tail.
            let y: Vec<f32> = pts.iter().flat_map(|&(y, _)| [y; 9]).collect();
            let mut d = vec![3.0f32; y.len()];
            b.activation_backward(
                act,
                MatRef::new(&y, 1, y.len()).unwrap(),
                MatMut::new(&mut d, 1, y.len()).unwrap(),
            )
            .unwrap();
            for (idx, &got) in d.iter().enumerate() {
                let want = 3.0 * pts[idx / 9].1;
                assert_eq!(got, want, "{:?} {act:?} y={}", b.isa(), y[idx]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn backward_elementwise_random(
        act in 0usize..4, m in 0usize..30, n in 0usize..70,
        pad_y in 0usize..4, pad_d in 0usize..4, seed in any::<u64>(),
    ) {
        for b in backends() {
            check_act_backward(b, ACTS[act], m, n, pad_y, pad_d, seed).map_err(TestCaseError::fail)?;
            check_bias_grad(b, m, n, pad_y, seed).map_err(TestCaseError::fail)?;
        }
    }
}

#[test]
fn shape_errors_leave_outputs_untouched() {
    for b in backends() {
        let a = [1.0f32; 12];
        let bm = [1.0f32; 12];
        let mut c = [7.0f32; 12];
        // matmul: a 3×4, b 3×4 (needs 4 rows).
        let r = b.matmul(
            MatRef::new(&a, 3, 4).unwrap(),
            MatRef::new(&bm, 3, 4).unwrap(),
            MatMut::new(&mut c, 3, 4).unwrap(),
            false,
        );
        assert!(matches!(r, Err(KernelError::ShapeMismatch { .. })), "{r:?}");
        // matmul: c has the wrong number of columns.
        let r = b.matmul(
            MatRef::new(&a, 3, 4).unwrap(),
            MatRef::new(&bm, 4, 3).unwrap(),
            MatMut::new(&mut c, 3, 4).unwrap(),
            true,
        );
        assert!(r.is_err());
        // matmul_tn: a 4×3 and b 3×4 disagree on rows.
        let r = b.matmul_tn(
            MatRef::new(&a, 4, 3).unwrap(),
            MatRef::new(&bm, 3, 4).unwrap(),
            MatMut::new(&mut c, 3, 4).unwrap(),
            false,
        );
        assert!(r.is_err());
        // matmul_tn: c rows must be a's columns.
        let r = b.matmul_tn(
            MatRef::new(&a, 3, 4).unwrap(),
            MatRef::new(&bm, 3, 4).unwrap(),
            MatMut::new(&mut c, 3, 4).unwrap(),
            false,
        );
        assert!(r.is_err());
        assert_eq!(c, [7.0; 12], "{:?}", b.isa());
        let mut db = [7.0f32; 3];
        assert!(b
            .bias_grad(MatRef::new(&a, 3, 4).unwrap(), &mut db)
            .is_err());
        assert_eq!(db, [7.0; 3]);
        let r = b.activation_backward(
            Activation::Tanh,
            MatRef::new(&a, 3, 4).unwrap(),
            MatMut::new(&mut c, 4, 3).unwrap(),
        );
        assert!(r.is_err());
        assert_eq!(c, [7.0; 12], "{:?}", b.isa());
    }
}

/// End to end: `y = act(x·Wᵀ + b)`, `L = Σ y ⊙ g` for a fixed `g`. Gradients
/// from the kernels (forward `dense`, then `activation_backward`, `matmul`
/// for dX, `matmul_tn` for dW, `bias_grad` for db) against central
/// differences of L evaluated in f64 (h = 10⁻⁵: truncation error
/// ~h²·|L'''| ≈ 10⁻¹⁰, cancellation ~10⁻¹⁶/h ≈ 10⁻¹¹, both negligible).
/// Tolerance `10⁻³·|fd| + 10⁻⁵`: the kernels work in f32 on O(1) values
/// over ≤ 20-term sums, so their absolute error is ~10⁻⁶; the absolute term
/// covers components near 0 (and tanh's `1 − y²` cancellation near |y| = 1).
/// ReLU inputs are chosen so every pre-activation is ≥ 0.05 away from the kink.
#[test]
fn finite_difference_gradients() {
    for b in backends() {
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::Relu] {
            for &(m, n, k) in &[(3usize, 10usize, 20usize), (2, 17, 9), (7, 3, 1)] {
                fd_check(b, act, m, n, k);
            }
        }
    }
}

fn fd_check(b: Backend, act: Activation, m: usize, n: usize, k: usize) {
    // Pick the first seed whose pre-activations stay clear of ReLU's kink
    // (every seed qualifies for the smooth activations).
    let mut seed = 0u64;
    let (x, w, bias) = loop {
        let x = values(seed, m * k);
        let w = values(seed ^ 1, n * k);
        let bias = values(seed ^ 2, n);
        let clear = (0..m).all(|i| {
            (0..n).all(|j| {
                let z: f64 = bias[j] as f64
                    + (0..k)
                        .map(|kk| x[i * k + kk] as f64 * w[j * k + kk] as f64)
                        .sum::<f64>();
                z.abs() > 0.05
            })
        });
        if act != Activation::Relu || clear {
            break (x, w, bias);
        }
        seed += 1;
    };
    let g = values(seed ^ 3, m * n);

    // Kernels.
    let mut packed = vec![0f32; pack::packed_len(n, k)];
    let pw = pack::pack_f32(&w, n, k, &mut packed).unwrap();
    let mut y = vec![0f32; m * n];
    b.dense(
        MatRef::new(&x, m, k).unwrap(),
        pw,
        Some(&bias),
        act,
        MatMut::new(&mut y, m, n).unwrap(),
    )
    .unwrap();
    let mut dz = g.clone();
    b.activation_backward(
        act,
        MatRef::new(&y, m, n).unwrap(),
        MatMut::new(&mut dz, m, n).unwrap(),
    )
    .unwrap();
    let mut dx = vec![0f32; m * k];
    b.matmul(
        MatRef::new(&dz, m, n).unwrap(),
        MatRef::new(&w, n, k).unwrap(),
        MatMut::new(&mut dx, m, k).unwrap(),
        false,
    )
    .unwrap();
    let mut dw = vec![0f32; n * k];
    b.matmul_tn(
        MatRef::new(&dz, m, n).unwrap(),
        MatRef::new(&x, m, k).unwrap(),
        MatMut::new(&mut dw, n, k).unwrap(),
        true,
    )
    .unwrap();
    let mut db = vec![0f32; n];
    b.bias_grad(MatRef::new(&dz, m, n).unwrap(), &mut db)
        .unwrap();

    // f64 loss and central differences.
    let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let wf: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let bf: Vec<f64> = bias.iter().map(|&v| v as f64).collect();
    let loss = |x: &[f64], w: &[f64], bb: &[f64]| -> f64 {
        let mut l = 0.0;
        for i in 0..m {
            for j in 0..n {
                let z = bb[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f64>();
                l += g[i * n + j] as f64 * act_f64(act, z);
            }
        }
        l
    };
    const H: f64 = 1e-5;
    let check = |name: &str, idx: usize, got: f32, fd: f64| {
        let tol = 1e-3 * fd.abs() + 1e-5;
        assert!(
            (got as f64 - fd).abs() <= tol,
            "{:?} {act:?} m={m} n={n} k={k}: {name}[{idx}] = {got}, finite difference {fd}, tol {tol}",
            b.isa()
        );
    };
    for idx in 0..m * k {
        let (mut p, mut q) = (xf.clone(), xf.clone());
        p[idx] += H;
        q[idx] -= H;
        check(
            "dX",
            idx,
            dx[idx],
            (loss(&p, &wf, &bf) - loss(&q, &wf, &bf)) / (2.0 * H),
        );
    }
    for idx in 0..n * k {
        let (mut p, mut q) = (wf.clone(), wf.clone());
        p[idx] += H;
        q[idx] -= H;
        check(
            "dW",
            idx,
            dw[idx],
            (loss(&xf, &p, &bf) - loss(&xf, &q, &bf)) / (2.0 * H),
        );
    }
    for idx in 0..n {
        let (mut p, mut q) = (bf.clone(), bf.clone());
        p[idx] += H;
        q[idx] -= H;
        check(
            "db",
            idx,
            db[idx],
            (loss(&xf, &wf, &p) - loss(&xf, &wf, &q)) / (2.0 * H),
        );
    }
    // The check must have teeth: the gradients are not all ~0.
    let max_dw = dw.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!(
        max_dw > 1e-2,
        "{act:?}: degenerate gradients (max |dW| {max_dw})"
    );
}

/// A view with zero columns but a row stride > 0 over an empty slice is
/// accepted by `MatRef::with_stride` / `MatMut::with_stride` (its span is 0),
/// so kernels must treat it as an empty matrix rather than panic.
type Probe = (&'static str, Box<dyn Fn()>);

#[test]
fn zero_width_strided_views_do_not_panic() {
    let mut failures = Vec::new();
    for b in backends() {
        let probes: Vec<Probe> = vec![
            (
                "bias_grad",
                Box::new(move || {
                    let mut db: [f32; 0] = [];
                    b.bias_grad(MatRef::with_stride(&[], 3, 0, 2).unwrap(), &mut db)
                        .unwrap();
                }),
            ),
            (
                "activation_backward",
                Box::new(move || {
                    let mut d: [f32; 0] = [];
                    b.activation_backward(
                        Activation::Tanh,
                        MatRef::with_stride(&[], 3, 0, 2).unwrap(),
                        MatMut::with_stride(&mut d, 3, 0, 2).unwrap(),
                    )
                    .unwrap();
                }),
            ),
            (
                "dense (n = 0)",
                Box::new(move || {
                    let x = [1.0f32; 6];
                    let mut buf: [f32; 0] = [];
                    let w = pack::pack_f32(&[], 0, 2, &mut buf).unwrap();
                    let mut y: [f32; 0] = [];
                    b.dense(
                        MatRef::new(&x, 3, 2).unwrap(),
                        w,
                        None,
                        Activation::Identity,
                        MatMut::with_stride(&mut y, 3, 0, 2).unwrap(),
                    )
                    .unwrap();
                }),
            ),
            (
                "matmul (n = 0)",
                Box::new(move || {
                    let a = [1.0f32; 6];
                    let mut c: [f32; 0] = [];
                    b.matmul(
                        MatRef::new(&a, 3, 2).unwrap(),
                        MatRef::with_stride(&[], 2, 0, 2).unwrap(),
                        MatMut::with_stride(&mut c, 3, 0, 2).unwrap(),
                        false,
                    )
                    .unwrap();
                }),
            ),
        ];
        for (name, f) in probes {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                failures.push(format!("{:?} {name}", b.isa()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "panicked on a zero-width strided view: {failures:?}"
    );
}
