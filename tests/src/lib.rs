//! Shared helpers for the property tests in `tests/tests/`.
#![deny(missing_docs)]

use last_kernels::Backend;

/// Every backend this machine can run, scalar first. `LAST_TEST_ISA`
/// (`scalar`, `avx2`, `neon`) restricts the list to one path.
pub fn backends() -> Vec<Backend> {
    let all = Backend::available();
    match std::env::var("LAST_TEST_ISA") {
        Ok(name) => all
            .into_iter()
            .filter(|b| b.isa().name() == name)
            .collect(),
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
