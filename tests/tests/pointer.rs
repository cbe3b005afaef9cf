//! Pointer scores `v · tanh(k_i + q)` on every path against f64.
//! Tolerance per score: Σ_h |v_h|·(3 ULP(tanh) + 2⁻²⁴ + |k+q|·2⁻²⁴) for the
//! tanh argument and value errors, plus the dot-product bound
//! 2(H+2)·2⁻²⁴·Σ|v·tanh|, all doubled.

use last_kernels::MatRef;
use last_tests::{backends, values};
use proptest::prelude::*;

fn check(n: usize, h: usize, seed: u64, mask_every: usize) -> Result<(), String> {
    let keys: Vec<f32> = values(seed, n * h).iter().map(|v| v * 3.0).collect();
    let q: Vec<f32> = values(seed ^ 1, h).iter().map(|v| v * 2.0).collect();
    let v = values(seed ^ 2, h);
    let taken: Vec<bool> = (0..n)
        .map(|i| mask_every > 0 && i % mask_every == 0)
        .collect();
    for b in backends() {
        let mut out = vec![0f32; n];
        b.pointer_scores(
            MatRef::new(&keys, n, h).unwrap(),
            &q,
            &v,
            Some(&taken),
            &mut out,
        )
        .unwrap();
        for i in 0..n {
            if taken[i] {
                if out[i] != f32::NEG_INFINITY {
                    return Err(format!("{:?}: masked {i} scored {}", b.isa(), out[i]));
                }
                continue;
            }
            // r: reference; dot: Σ|v·tanh| (dot-product bound); elem: Σ|v|·(tanh
            // error 4 ULP(≤1) + argument rounding |k+q|·2⁻²⁴ passed through tanh' ≤ 1).
            let (mut r, mut dot, mut elem) = (0f64, 0f64, 0f64);
            for j in 0..h {
                let a = keys[i * h + j] as f64 + q[j] as f64;
                let t = a.tanh() * v[j] as f64;
                r += t;
                dot += t.abs();
                elem += (v[j] as f64).abs() * (5e-7 + a.abs() * 6e-8);
            }
            let tol = 2.0 * (2.0 * (h as f64 + 2.0) * 6e-8 * dot + elem) + 1e-7;
            if (out[i] as f64 - r).abs() > tol {
                return Err(format!(
                    "{:?} n={n} h={h} i={i}: {} vs {r} (tol {tol})",
                    b.isa(),
                    out[i]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn standard_shape_and_edges() {
    check(50, 128, 1, 3).unwrap();
    for h in 1..=40 {
        check(7, h, h as u64, 2).unwrap();
    }
}

#[test]
fn shape_errors() {
    for b in backends() {
        let keys = [0f32; 6];
        let mut out = [1f32; 3];
        let k = MatRef::new(&keys, 3, 2).unwrap();
        assert!(b
            .pointer_scores(k, &[0.0; 3], &[0.0; 2], None, &mut out)
            .is_err());
        assert!(b
            .pointer_scores(k, &[0.0; 2], &[0.0; 2], Some(&[false; 2]), &mut out)
            .is_err());
        assert!(b
            .pointer_scores(k, &[0.0; 2], &[0.0; 2], None, &mut out[..2])
            .is_err());
        assert_eq!(out, [1.0; 3]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random(n in 0usize..60, h in 1usize..140, seed in any::<u64>(), m in 0usize..4) {
        check(n, h, seed, m).map_err(TestCaseError::fail)?;
    }
}
