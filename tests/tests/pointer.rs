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

/// The exponential form (`pointer_exp` + `pointer_scores_exp`) against the
/// f64 `v · tanh(k + q)` for |k|, |q| ≤ `scale`. Per term the error is
/// ≤ |v|·(two exp roundings, one product, one sum, the shared-quotient
/// products and one quotient ≈ 6·10⁻⁷), doubled; plus the dot-product bound 2(H+2)·2⁻²⁴ over Σ|v| and 2·Σ|v/d|.
fn check_exp(n: usize, h: usize, seed: u64, mask_every: usize, scale: f32) -> Result<(), String> {
    let keys: Vec<f32> = values(seed, n * h).iter().map(|v| v * scale).collect();
    let q: Vec<f32> = values(seed ^ 1, h).iter().map(|v| v * scale).collect();
    let v = values(seed ^ 2, h);
    let taken: Vec<bool> = (0..n)
        .map(|i| mask_every > 0 && i % mask_every == 0)
        .collect();
    for b in backends() {
        let (mut ek, mut eq) = (vec![0f32; n * h], vec![0f32; h]);
        if !b.pointer_exp(&keys, &mut ek).unwrap() || !b.pointer_exp(&q, &mut eq).unwrap() {
            return Err(format!("{:?}: in-range values flagged", b.isa()));
        }
        let mut out = vec![0f32; n];
        b.pointer_scores_exp(
            MatRef::new(&ek, n, h).unwrap(),
            &eq,
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
            let (mut r, mut abs_v) = (0f64, 0f64);
            for j in 0..h {
                let a = keys[i * h + j] as f64 + q[j] as f64;
                r += a.tanh() * v[j] as f64;
                abs_v += (v[j] as f64).abs();
            }
            let tol = 2.0 * (2.0 * (h as f64 + 2.0) * 6e-8 * 3.0 * abs_v + 6e-7 * abs_v) + 1e-7;
            if (out[i] as f64 - r).abs() > tol {
                return Err(format!(
                    "{:?} n={n} h={h} i={i} scale={scale}: {} vs {r} (tol {tol})",
                    b.isa(),
                    out[i]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn exp_form_standard_shape_and_edges() {
    check_exp(50, 128, 1, 3, 3.0).unwrap();
    check_exp(50, 128, 2, 0, 20.0).unwrap();
    for h in 1..=40 {
        check_exp(7, h, h as u64, 2, 5.0).unwrap();
    }
}

#[test]
fn exp_form_range_flag_and_values() {
    for b in backends() {
        for len in [1usize, 7, 8, 9, 17] {
            let x: Vec<f32> = (0..len).map(|i| i as f32 * 1.25 - 10.0).collect();
            let mut out = vec![0f32; len];
            assert!(b.pointer_exp(&x, &mut out).unwrap());
            for (o, xv) in out.iter().zip(&x) {
                let want = (2.0 * *xv as f64).exp();
                assert!(
                    ((*o as f64) - want).abs() <= 4.0 * 6e-8 * want,
                    "{o} vs {want}"
                );
            }
            for bad in [20.000002f32, -21.0, f32::NAN, f32::INFINITY] {
                let mut y = x.clone();
                y[len - 1] = bad;
                assert!(!b.pointer_exp(&y, &mut out).unwrap(), "{:?} {bad}", b.isa());
            }
            let mut y = x.clone();
            y[len - 1] = -20.0;
            assert!(b.pointer_exp(&y, &mut out).unwrap());
        }
        let mut out = [0f32; 2];
        assert!(b.pointer_exp(&[0.0; 3], &mut out).is_err());
        let k = MatRef::new(&[1f32; 6], 3, 2).unwrap();
        let mut s = [1f32; 3];
        assert!(b
            .pointer_scores_exp(k, &[1.0; 3], &[0.0; 2], None, &mut s)
            .is_err());
        assert!(b
            .pointer_scores_exp(k, &[1.0; 2], &[0.0; 2], Some(&[false; 2]), &mut s)
            .is_err());
        assert_eq!(s, [1.0; 3]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn exp_form_random(n in 0usize..60, h in 1usize..140, seed in any::<u64>(), m in 0usize..4, scale in 0.01f32..20.0) {
        check_exp(n, h, seed, m, scale).map_err(TestCaseError::fail)?;
    }
}
