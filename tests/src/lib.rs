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
