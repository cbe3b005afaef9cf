//! Shared helpers for the property tests in `tests/tests/`.
#![deny(missing_docs)]

use last_kernels::Backend;

/// Every backend this machine can run, scalar first. `LAST_TEST_ISA`
/// (`scalar`, `avx2`, `neon`) restricts the list to one path.
pub fn backends() -> Vec<Backend> {
    let all = Backend::available();
    match std::env::var("LAST_TEST_ISA") {
        Ok(name) => all.into_iter().filter(|b| b.isa().name() == name).collect(),
        Err(_) => all,
    }
}

/// Distance in units in the last place between two finite f32 values.
pub fn ulp_diff(a: f32, b: f32) -> u64 {
    fn key(x: f32) -> i64 {
        let b = x.to_bits() as i32 as i64;
        if b < 0 {
            i64::from(i32::MIN) - b
        } else {
            b
        }
    }
    (key(a) - key(b)).unsigned_abs()
}

/// Deterministic pseudo-random f32 values in [-1, 1) (splitmix-based), so
/// sweeps need no RNG crate and are identical on every machine.
pub fn values(seed: u64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let h = last_kernels::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
            ((h >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// f64 reference of an activation.
pub fn act_f64(act: last_kernels::Activation, z: f64) -> f64 {
    use last_kernels::Activation::*;
    match act {
        Identity => z,
        Relu => z.max(0.0),
        Tanh => z.tanh(),
        Sigmoid => 1.0 / (1.0 + (-z).exp()),
    }
}

/// Tolerance for one output of an f32 dot product of length `k` computed
/// in any order with or without FMA, then passed through `act`:
/// the classic bound `γ_k·Σ|xᵢwᵢ|` (γ_k ≈ k·2⁻²⁴), doubled for safety, plus
/// the activation's own error (4 ULP of the result + 2⁻²⁴ absolute; tanh and
/// sigmoid are 1-Lipschitz so the dot-product error passes through unchanged).
pub fn dense_tol(k: usize, abs_sum: f64, y: f64) -> f64 {
    let eps = f32::EPSILON as f64 / 2.0;
    2.0 * (k as f64 + 2.0) * eps * abs_sum + 4.0 * f32::EPSILON as f64 * y.abs() + 6e-8
}

/// The shape of a dense output checked by [`check_dense`]: `m × n` values,
/// rows `ldc` apart, each a dot product of length `k` through `act`.
#[derive(Debug, Clone, Copy)]
pub struct DenseOut {
    /// Rows.
    pub m: usize,
    /// Outputs per row.
    pub n: usize,
    /// Dot-product length.
    pub k: usize,
    /// Row stride of `y` (≥ n).
    pub ldc: usize,
    /// The fused activation.
    pub act: last_kernels::Activation,
}

/// Checks `y` against the f64 reference `act(bias[j] + Σ_kk x(i, kk)·w(j, kk))`
/// within [`dense_tol`], and that the padding between rows (NaN when the
/// caller filled `y`) is untouched. `what` names the path and case in the
/// error.
pub fn check_dense(
    what: &str,
    y: &[f32],
    o: DenseOut,
    bias: Option<&[f32]>,
    x: impl Fn(usize, usize) -> f64,
    w: impl Fn(usize, usize) -> f64,
) -> Result<(), String> {
    let DenseOut { m, n, k, ldc, act } = o;
    for i in 0..m {
        for j in 0..n {
            let mut z = bias.map_or(0.0, |b| b[j] as f64);
            let mut s = z.abs();
            for kk in 0..k {
                let t = x(i, kk) * w(j, kk);
                z += t;
                s += t.abs();
            }
            let r = act_f64(act, z);
            let got = y[i * ldc + j] as f64;
            let tol = dense_tol(k, s, r);
            if (got - r).abs() > tol || !got.is_finite() {
                return Err(format!(
                    "{what} m={m} n={n} k={k} {act:?}: y[{i}][{j}] = {got}, reference {r}, tol {tol}"
                ));
            }
        }
        for j in n..ldc {
            if i + 1 < m && !y[i * ldc + j].is_nan() {
                return Err(format!("{what} wrote padding at row {i} col {j}"));
            }
        }
    }
    Ok(())
}

/// The spacing of f32 values at magnitude `|y|` (one ULP of an f32 result
/// near `y`): `2^(e−23)` for `2^e ≤ |y| < 2^(e+1)` in the normal range,
/// `2⁻¹⁴⁹` below it. Used to state absolute-plus-ULP bounds in f64.
pub fn f32_ulp_at(y: f64) -> f64 {
    let a = y.abs();
    if a < f32::MIN_POSITIVE as f64 {
        return f64::from_bits(((1023 - 149) as u64) << 52);
    }
    let e = ((a.to_bits() >> 52) as i64) - 1023;
    f64::from_bits(((e - 23 + 1023) as u64) << 52)
}

/// Unit roundoff of f32, `2⁻²⁴`, as f64.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;

/// Row-major n × n identity matrix (for routing values through `dense`
/// unchanged: `x·Iᵀ = x` exactly, since every other term is an exact zero).
pub fn identity(n: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; n * n];
    for j in 0..n {
        w[j * n + j] = 1.0;
    }
    w
}

/// `|got − want| ≤ tol`, false if either side is NaN (so a NaN output
/// always fails a tolerance check).
pub fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}
