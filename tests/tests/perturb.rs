//! Perturbed dense layers (`Backend::dense_perturbed`, `perturb_weights`,
//! `dense_low_rank`) on every available path against an f64 reference.
//!
//! Reference for the full-rank form: the perturbed weight is evaluated in
//! f32 exactly as the kernels document it, `w' = w + σ·e` with a separate
//! multiply and add (Rust never contracts `a + b * c` into an FMA), so `w'`
//! is bit-identical to what every path uses; then `X·W'ᵀ + b` is summed in
//! f64. Tolerance: `last_tests::dense_tol(k, Σ|x·w'| + |b|, y)`, i.e. the
//! classic `γ_k·Σ|xw'|` dot-product bound, doubled, plus the activation's
//! error (see `dense_tol`).
//!
//! Low-rank tolerance (derivation next to `check_low_rank`).

use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, KernelError, MatMut, MatRef, Weights};
use last_tests::{act_f64, backends, close, dense_tol, values, U32};
use proptest::prelude::*;

const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];
const KINDS: [NoiseKind; 2] = [NoiseKind::Gaussian, NoiseKind::Rademacher];
/// A NaN with a payload no kernel produces: "never written" sentinel.
const SENTINEL: u32 = 0x7fc0_dead;

/// Row-major weights (n × k), rounded to f16 when `f16` so that the value
/// the kernels widen is exactly the value the reference uses.
fn weights(seed: u64, n: usize, k: usize, f16: bool) -> Vec<f32> {
    let mut w = values(seed, n * k);
    if f16 {
        for v in &mut w {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }
    w
}

/// Packed storage of either kind, owned, plus a byte snapshot for the
/// "W unchanged" checks.
enum Packed {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl Packed {
    fn new(w: &[f32], n: usize, k: usize, f16: bool) -> Packed {
        if f16 {
            let mut buf = vec![0u16; pack::packed_len(n, k)];
            pack::pack_f16(w, n, k, &mut buf).unwrap();
            Packed::F16(buf)
        } else {
            let mut buf = vec![0f32; pack::packed_len(n, k)];
            pack::pack_f32(w, n, k, &mut buf).unwrap();
            Packed::F32(buf)
        }
    }
    fn weights(&self, n: usize, k: usize) -> Weights<'_> {
        match self {
            Packed::F32(b) => pack::PackedF32::from_packed(b, n, k).unwrap().into(),
            Packed::F16(b) => pack::PackedF16::from_packed(b, n, k).unwrap().into(),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            Packed::F32(b) => b.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
            Packed::F16(b) => b.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// `w'[j][kk] = w + σ·e` in f32, separate multiply and add (as documented).
fn perturbed_ref(w: &[f32], n: usize, k: usize, noise: &Noise, sigma: f32) -> Vec<f32> {
    (0..n * k)
        .map(|idx| {
            let e = noise.value(idx as u32);
            let se = sigma * e;
            w[idx] + se
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    pad: usize,
    act: Activation,
    f16: bool,
    kind: NoiseKind,
    antithetic: bool,
    candidate: u32,
    sigma: f32,
    bias: bool,
    seed: u64,
}

/// One `dense_perturbed` call against the f64 reference; also checks that
/// the caller's packed W is byte-for-byte unchanged and the row padding of
/// Y is untouched.
fn check_perturbed(b: Backend, c: Case) -> Result<(), String> {
    let Case {
        m,
        n,
        k,
        pad,
        act,
        f16,
        sigma,
        seed,
        ..
    } = c;
    let lda = k + pad;
    let x = values(seed, m * lda + 1);
    let w = weights(seed ^ 1, n, k, f16);
    let bv = values(seed ^ 2, n);
    let noise = Noise {
        seed: seed ^ 0x5eed,
        candidate: c.candidate,
        kind: c.kind,
        antithetic: c.antithetic,
    };
    let packed = Packed::new(&w, n, k, f16);
    let before = packed.bytes();
    let ldc = n + pad % 3;
    let mut y = vec![f32::from_bits(SENTINEL); m * ldc + 2];
    let mut scratch = vec![f32::NAN; perturbed_scratch_len(k)];
    let bias = c.bias.then_some(&bv[..]);
    b.dense_perturbed(
        MatRef::with_stride(&x, m, k, lda).unwrap(),
        packed.weights(n, k),
        &noise,
        sigma,
        bias,
        act,
        MatMut::with_stride(&mut y, m, n, ldc).unwrap(),
        &mut scratch,
    )
    .map_err(|e| format!("{:?} {c:?}: unexpected error {e}", b.isa()))?;
    if packed.bytes() != before {
        return Err(format!("{:?} {c:?}: packed W was modified", b.isa()));
    }
    let wp = perturbed_ref(&w, n, k, &noise, sigma);
    for i in 0..m {
        for j in 0..n {
            let mut z = if c.bias { bv[j] as f64 } else { 0.0 };
            let mut s = z.abs();
            for kk in 0..k {
                let t = x[i * lda + kk] as f64 * wp[j * k + kk] as f64;
                z += t;
                s += t.abs();
            }
            let r = act_f64(act, z);
            let got = y[i * ldc + j] as f64;
            let tol = dense_tol(k, s, r);
            if !close(got, r, tol) {
                return Err(format!(
                    "{:?} {c:?}: y[{i}][{j}] = {got}, reference {r}, tol {tol}",
                    b.isa()
                ));
            }
        }
    }
    for (idx, v) in y.iter().enumerate() {
        let (i, j) = (idx / ldc, idx % ldc);
        let inside = i < m && j < n;
        if !inside && v.to_bits() != SENTINEL {
            return Err(format!("{:?} {c:?}: wrote outside Y at {idx}", b.isa()));
        }
    }
    Ok(())
}

/// Every noise kind × antithetic × storage × activation on a few fixed
/// shapes, including the (50, 128, 128) serving shape and shapes that
/// exercise 1–2 row tiles (split-k) and column tails.
#[test]
fn dense_perturbed_all_modes_fixed_shapes() {
    let shapes = [
        (50, 128, 128),
        (1, 17, 40),
        (2, 33, 9),
        (7, 16, 16),
        (13, 5, 3),
    ];
    for b in backends() {
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            for kind in KINDS {
                for antithetic in [false, true] {
                    for f16 in [false, true] {
                        for (ai, act) in ACTS.into_iter().enumerate() {
                            let case = Case {
                                m,
                                n,
                                k,
                                pad: si % 3,
                                act,
                                f16,
                                kind,
                                antithetic,
                                candidate: (ai * 2 + antithetic as usize) as u32,
                                sigma: [0.05, 0.5, 1.0, 2.0][ai],
                                bias: ai % 2 == 0,
                                seed: 1000 + si as u64,
                            };
                            check_perturbed(b, case).unwrap();
                        }
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn dense_perturbed_random_shapes(
        m in 0usize..30, n in 1usize..50, k in 1usize..41, pad in 0usize..4,
        act in 0usize..4, f16 in any::<bool>(), gauss in any::<bool>(),
        antithetic in any::<bool>(), candidate in any::<u32>(),
        sigma in prop_oneof![Just(0.0f32), -2.0f32..2.0, Just(3.0f32)],
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let case = Case {
            m, n, k, pad, act: ACTS[act], f16,
            kind: if gauss { NoiseKind::Gaussian } else { NoiseKind::Rademacher },
            antithetic, candidate, sigma, bias, seed,
        };
        for b in backends() {
            check_perturbed(b, case).map_err(TestCaseError::fail)?;
        }
    }
}

/// `perturb_weights` output: bit-identical on every backend, equal bit for
/// bit to `w.get(j, kk) + σ·noise.value(j·k + kk)` (separate mul/add), zero
/// padding (+0.0 bits) in the last panel, nothing written past
/// `packed_len(n, k)`, W unchanged, and the returned view has shape n × k.
#[test]
fn perturb_weights_bit_exact_everywhere() {
    let shapes = [
        (1, 1),
        (15, 1),
        (16, 3),
        (17, 2),
        (31, 7),
        (32, 8),
        (33, 9),
        (49, 40),
        (64, 17),
    ];
    for (si, &(n, k)) in shapes.iter().enumerate() {
        for kind in KINDS {
            for antithetic in [false, true] {
                for f16 in [false, true] {
                    let w = weights(si as u64 * 7 + 3, n, k, f16);
                    let packed = Packed::new(&w, n, k, f16);
                    let before = packed.bytes();
                    let noise = Noise {
                        seed: 77 + si as u64,
                        candidate: 3 + antithetic as u32,
                        kind,
                        antithetic,
                    };
                    let sigma = 0.37f32;
                    let len = pack::packed_len(n, k);
                    let expect: Vec<u32> = {
                        let wp = perturbed_ref(&w, n, k, &noise, sigma);
                        let mut e = vec![0u32; len];
                        for j in 0..n {
                            for kk in 0..k {
                                e[(j / 16) * 16 * k + kk * 16 + j % 16] = wp[j * k + kk].to_bits();
                            }
                        }
                        e
                    };
                    let mut first: Option<Vec<u32>> = None;
                    for b in backends() {
                        let mut out = vec![f32::from_bits(SENTINEL); len + 5];
                        let view = b
                            .perturb_weights(packed.weights(n, k), &noise, sigma, &mut out)
                            .unwrap();
                        assert_eq!((view.n(), view.k(), view.data().len()), (n, k, len));
                        let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                        let ctx = format!(
                            "{:?} n={n} k={k} {kind:?} anti={antithetic} f16={f16}",
                            b.isa()
                        );
                        for (idx, (&g, &e)) in got[..len].iter().zip(&expect).enumerate() {
                            assert_eq!(g, e, "{ctx}: packed element {idx}");
                        }
                        assert!(
                            got[len..].iter().all(|&v| v == SENTINEL),
                            "{ctx}: wrote past packed_len"
                        );
                        assert_eq!(packed.bytes(), before, "{ctx}: W modified");
                        match &first {
                            None => first = Some(got),
                            Some(f) => assert_eq!(f, &got, "{ctx}: differs from scalar"),
                        }
                    }
                }
            }
        }
    }
}

/// Dense over `perturb_weights`' output and `dense_perturbed` are both within
/// `dense_tol` of the f64 reference of the same W', hence within
/// `2·dense_tol` of each other (triangle inequality). They are not required
/// to be bit-identical: `dense` has shape-specialised paths (e.g. n ≤ 2) that
/// sum in a different order than the perturbed kernel's panel driver.
#[test]
fn dense_over_perturb_weights_matches_dense_perturbed() {
    for b in backends() {
        for (ci, &(m, n, k)) in [
            (50usize, 128usize, 128usize),
            (1, 20, 33),
            (8, 47, 5),
            (3, 16, 8),
        ]
        .iter()
        .enumerate()
        {
            for f16 in [false, true] {
                for kind in KINDS {
                    let act = ACTS[ci];
                    let seed = 900 + ci as u64;
                    let x = values(seed, m * k);
                    let w = weights(seed ^ 1, n, k, f16);
                    let bv = values(seed ^ 2, n);
                    let noise = Noise {
                        seed: 5,
                        candidate: 9,
                        kind,
                        antithetic: true,
                    };
                    let sigma = 0.25f32;
                    let packed = Packed::new(&w, n, k, f16);
                    let xm = MatRef::new(&x, m, k).unwrap();
                    let mut y1 = vec![0f32; m * n];
                    let mut y2 = vec![0f32; m * n];
                    let mut scratch = vec![0f32; perturbed_scratch_len(k)];
                    b.dense_perturbed(
                        xm,
                        packed.weights(n, k),
                        &noise,
                        sigma,
                        Some(&bv),
                        act,
                        MatMut::new(&mut y1, m, n).unwrap(),
                        &mut scratch,
                    )
                    .unwrap();
                    let mut pbuf = vec![0f32; pack::packed_len(n, k)];
                    let pw = b
                        .perturb_weights(packed.weights(n, k), &noise, sigma, &mut pbuf)
                        .unwrap();
                    b.dense(xm, pw, Some(&bv), act, MatMut::new(&mut y2, m, n).unwrap())
                        .unwrap();
                    let wp = perturbed_ref(&w, n, k, &noise, sigma);
                    for i in 0..m {
                        for j in 0..n {
                            let mut z = bv[j] as f64;
                            let mut s = z.abs();
                            for kk in 0..k {
                                let t = x[i * k + kk] as f64 * wp[j * k + kk] as f64;
                                z += t;
                                s += t.abs();
                            }
                            let r = act_f64(act, z);
                            let tol = dense_tol(k, s, r);
                            for (name, y) in
                                [("dense_perturbed", &y1), ("dense∘perturb_weights", &y2)]
                            {
                                let got = y[i * n + j] as f64;
                                assert!(
                                    (got - r).abs() <= tol,
                                    "{:?} {name} m={m} n={n} k={k} f16={f16}: y[{i}][{j}]={got} ref={r} tol={tol}",
                                    b.isa()
                                );
                            }
                            let d = (y1[i * n + j] as f64 - y2[i * n + j] as f64).abs();
                            assert!(
                                d <= 2.0 * tol,
                                "{:?} m={m} n={n} k={k} f16={f16} {kind:?}: y[{i}][{j}] dense_perturbed {} vs dense over perturb_weights {}",
                                b.isa(),
                                y1[i * n + j],
                                y2[i * n + j]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// σ = 0 must reproduce the unperturbed layer: `w + 0·e = w` exactly for
/// finite e (up to the sign of a zero weight, which changes no product), so
/// the output is within `dense_tol` of the f64 reference of the *unperturbed*
/// W, and within `2·dense_tol` of `Backend::dense` (triangle inequality).
#[test]
fn sigma_zero_is_plain_dense() {
    for b in backends() {
        for (m, n, k) in [(9usize, 37usize, 21usize), (1, 2, 5), (7, 1, 30)] {
            sigma_zero_case(b, m, n, k);
        }
    }
}

fn sigma_zero_case(b: Backend, m: usize, n: usize, k: usize) {
    let x = values(1, m * k);
    let w = weights(2, n, k, false);
    let packed = Packed::new(&w, n, k, false);
    let noise = Noise {
        seed: 3,
        candidate: 0,
        kind: NoiseKind::Gaussian,
        antithetic: false,
    };
    let mut y1 = vec![0f32; m * n];
    let mut y2 = vec![0f32; m * n];
    let mut scratch = vec![0f32; perturbed_scratch_len(k)];
    let xm = MatRef::new(&x, m, k).unwrap();
    b.dense_perturbed(
        xm,
        packed.weights(n, k),
        &noise,
        0.0,
        None,
        Activation::Tanh,
        MatMut::new(&mut y1, m, n).unwrap(),
        &mut scratch,
    )
    .unwrap();
    b.dense(
        xm,
        packed.weights(n, k),
        None,
        Activation::Tanh,
        MatMut::new(&mut y2, m, n).unwrap(),
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let mut z = 0.0f64;
            let mut s = 0.0f64;
            for kk in 0..k {
                let t = x[i * k + kk] as f64 * w[j * k + kk] as f64;
                z += t;
                s += t.abs();
            }
            let r = z.tanh();
            let tol = dense_tol(k, s, r);
            let (g1, g2) = (y1[i * n + j] as f64, y2[i * n + j] as f64);
            assert!(
                (g1 - r).abs() <= tol,
                "{:?} m={m} n={n} k={k} y[{i}][{j}] = {g1}, ref {r}",
                b.isa()
            );
            assert!(
                (g1 - g2).abs() <= 2.0 * tol,
                "{:?} y[{i}][{j}]: {g1} vs dense {g2}",
                b.isa()
            );
        }
    }
}

/// Low-rank: `Y = act(X·(W + σ·U·Vᵀ)ᵀ + b)`, U n × r, Vᵀ r × k.
///
/// Tolerance derivation. The kernel computes `t_q = fl(σ·fl(x·v_q))`:
/// the dot product has error ≤ γ_k·Σ|x||v_q| and the σ multiply adds one
/// rounding, so `|t_q − σ(x·v_q)| ≤ γ_{k+1}·|σ|·Σ|x||v_q|`. Then the output
/// accumulates k + r products (and the bias) in one chain: error
/// ≤ γ_{k+r+1}·(Σ|x·w| + Σ_q|t_q·u_jq| + |b|), covered by
/// `dense_tol(k + r, ·)` (which is 2(k+r+2)·2⁻²⁴·S + activation terms).
/// The t_q errors reach the output multiplied by |u_jq|, so we add
/// `2(k+2)·2⁻²⁴·|σ|·Σ_q(Σ|x||v_q|)·|u_jq|` (γ_{k+1} doubled, the same
/// safety factor dense_tol uses). The scratch `t` is also checked against
/// `σ·X·V` with the bound `2(k+2)·2⁻²⁴·|σ|·Σ|x||v_q|`.
#[allow(clippy::too_many_arguments)]
fn check_low_rank(
    b: Backend,
    m: usize,
    n: usize,
    k: usize,
    r: usize,
    act: Activation,
    f16: bool,
    sigma: f32,
    seed: u64,
) -> Result<(), String> {
    let ctx = format!(
        "{:?} m={m} n={n} k={k} r={r} act={act:?} f16={f16} σ={sigma}",
        b.isa()
    );
    let x = values(seed, m * k);
    let w = weights(seed ^ 1, n, k, f16);
    let bv = values(seed ^ 2, n);
    let u = values(seed ^ 3, n * r);
    let vt = values(seed ^ 4, r * k);
    let packed = Packed::new(&w, n, k, f16);
    let wbytes = packed.bytes();
    let mut ubuf = vec![0f32; pack::packed_len(n, r)];
    let pu = pack::pack_f32(&u, n, r, &mut ubuf).unwrap();
    let ubytes: Vec<u32> = pu.data().iter().map(|v| v.to_bits()).collect();
    let lr = LowRank {
        u: pu,
        vt: MatRef::new(&vt, r, k).unwrap(),
        sigma,
    };
    let mut y = vec![f32::from_bits(SENTINEL); m * n + 3];
    let mut t = vec![f32::NAN; m * r + 2];
    b.dense_low_rank(
        MatRef::new(&x, m, k).unwrap(),
        packed.weights(n, k),
        lr,
        Some(&bv),
        act,
        MatMut::new(&mut y, m, n).unwrap(),
        &mut t,
    )
    .map_err(|e| format!("{ctx}: unexpected error {e}"))?;
    if packed.bytes() != wbytes
        || pu
            .data()
            .iter()
            .map(|v| v.to_bits())
            .ne(ubytes.iter().copied())
    {
        return Err(format!("{ctx}: W or U modified"));
    }
    let sig = sigma as f64;
    for i in 0..m {
        // Exact σ·x·v_q and Σ|x||v_q|.
        let mut tq = vec![0f64; r];
        let mut aq = vec![0f64; r];
        for q in 0..r {
            for kk in 0..k {
                let p = x[i * k + kk] as f64 * vt[q * k + kk] as f64;
                tq[q] += p;
                aq[q] += p.abs();
            }
            tq[q] *= sig;
            let got = t[i * r + q] as f64;
            let tol = 2.0 * (k as f64 + 2.0) * U32 * sig.abs() * aq[q] + 1e-30;
            if !close(got, tq[q], tol) {
                return Err(format!(
                    "{ctx}: t[{i}][{q}] = {got}, σ·x·v = {}, tol {tol}",
                    tq[q]
                ));
            }
        }
        for j in 0..n {
            let mut z = bv[j] as f64;
            let mut s = z.abs();
            for kk in 0..k {
                let p = x[i * k + kk] as f64 * w[j * k + kk] as f64;
                z += p;
                s += p.abs();
            }
            let mut extra = 0.0;
            for q in 0..r {
                let uj = u[j * r + q] as f64;
                z += tq[q] * uj;
                s += (tq[q] * uj).abs();
                extra += 2.0 * (k as f64 + 2.0) * U32 * sig.abs() * aq[q] * uj.abs();
            }
            let rf = act_f64(act, z);
            let tol = dense_tol(k + r, s, rf) + extra;
            let got = y[i * n + j] as f64;
            if !close(got, rf, tol) {
                return Err(format!(
                    "{ctx}: y[{i}][{j}] = {got}, reference {rf}, tol {tol}"
                ));
            }
        }
    }
    if y[m * n..].iter().any(|v| v.to_bits() != SENTINEL) {
        return Err(format!("{ctx}: wrote past Y"));
    }
    Ok(())
}

#[test]
fn low_rank_fixed_shapes() {
    for b in backends() {
        for (si, &(m, n, k)) in [
            (50usize, 128usize, 128usize),
            (1, 17, 40),
            (2, 5, 8),
            (13, 33, 3),
        ]
        .iter()
        .enumerate()
        {
            for r in 1..=4 {
                for f16 in [false, true] {
                    let act = ACTS[(si + r) % 4];
                    check_low_rank(
                        b,
                        m,
                        n,
                        k,
                        r,
                        act,
                        f16,
                        [0.1, 1.0, -0.7, 2.5][r - 1],
                        si as u64,
                    )
                    .unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn low_rank_random_shapes(
        m in 0usize..30, n in 1usize..50, k in 1usize..41, r in 1usize..=4,
        act in 0usize..4, f16 in any::<bool>(), sigma in -3.0f32..3.0, seed in any::<u64>(),
    ) {
        for b in backends() {
            check_low_rank(b, m, n, k, r, ACTS[act], f16, sigma, seed).map_err(TestCaseError::fail)?;
        }
    }
}

/// Non-finite σ and short scratch are errors, and nothing is written
/// (neither Y nor the scratch / output buffer).
#[test]
fn errors_leave_outputs_untouched() {
    let (m, n, k, r) = (3usize, 20usize, 5usize, 2usize);
    let x = values(1, m * k);
    let w = weights(2, n, k, false);
    let packed = Packed::new(&w, n, k, false);
    let noise = Noise {
        seed: 1,
        candidate: 0,
        kind: NoiseKind::Gaussian,
        antithetic: false,
    };
    let bad_sigmas = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    for b in backends() {
        let xm = MatRef::new(&x, m, k).unwrap();
        let run = |sigma: f32, scratch_len: usize| {
            let mut y = vec![7.0f32; m * n];
            let mut scratch = vec![9.0f32; scratch_len];
            let res = b.dense_perturbed(
                xm,
                packed.weights(n, k),
                &noise,
                sigma,
                None,
                Activation::Relu,
                MatMut::new(&mut y, m, n).unwrap(),
                &mut scratch,
            );
            let untouched = y.iter().all(|&v| v == 7.0) && scratch.iter().all(|&v| v == 9.0);
            (res, untouched)
        };
        for s in bad_sigmas {
            let (res, untouched) = run(s, perturbed_scratch_len(k));
            assert!(
                matches!(res, Err(KernelError::OutOfRange { .. })),
                "{:?} σ={s}: {res:?}",
                b.isa()
            );
            assert!(untouched, "{:?} σ={s}: output written on error", b.isa());
        }
        let (res, untouched) = run(0.5, perturbed_scratch_len(k) - 1);
        assert!(
            matches!(res, Err(KernelError::BufferTooSmall { .. })),
            "{:?}: short scratch gave {res:?}",
            b.isa()
        );
        assert!(
            untouched,
            "{:?}: output written with short scratch",
            b.isa()
        );
        // Sanity: the same call with a valid σ and scratch succeeds and writes.
        let (res, untouched) = run(0.5, perturbed_scratch_len(k));
        assert!(res.is_ok() && !untouched, "{:?}: valid call", b.isa());

        // perturb_weights: bad σ, short output.
        for s in bad_sigmas {
            let mut out = vec![5.0f32; pack::packed_len(n, k)];
            let res = b.perturb_weights(packed.weights(n, k), &noise, s, &mut out);
            assert!(res.is_err(), "{:?} perturb_weights σ={s}", b.isa());
            assert!(
                out.iter().all(|&v| v == 5.0),
                "{:?} perturb_weights wrote on error",
                b.isa()
            );
        }
        let mut out = vec![5.0f32; pack::packed_len(n, k) - 1];
        let res = b.perturb_weights(packed.weights(n, k), &noise, 0.5, &mut out);
        assert!(
            matches!(res, Err(KernelError::BufferTooSmall { .. })),
            "{:?} perturb_weights short out: {res:?}",
            b.isa()
        );
        assert!(out.iter().all(|&v| v == 5.0));

        // dense_low_rank: bad σ, short t, mismatched U / Vᵀ shapes.
        let u = values(3, n * r);
        let vt = values(4, r * k);
        let mut ubuf = vec![0f32; pack::packed_len(n, r)];
        let pu = pack::pack_f32(&u, n, r, &mut ubuf).unwrap();
        let mut ubuf_bad = vec![0f32; pack::packed_len(n - 1, r)];
        let pu_bad = pack::pack_f32(&u[..(n - 1) * r], n - 1, r, &mut ubuf_bad).unwrap();
        let lr = |sigma: f32| LowRank {
            u: pu,
            vt: MatRef::new(&vt, r, k).unwrap(),
            sigma,
        };
        let cases: Vec<(String, LowRank<'_>, usize)> = vec![
            ("σ=NaN".into(), lr(f32::NAN), m * r),
            ("σ=inf".into(), lr(f32::INFINITY), m * r),
            ("short t".into(), lr(0.5), m * r - 1),
            (
                "U rows ≠ n".into(),
                LowRank {
                    u: pu_bad,
                    ..lr(0.5)
                },
                m * r,
            ),
            (
                "Vᵀ rows ≠ rank of U".into(),
                LowRank {
                    vt: MatRef::new(&vt, r - 1, k).unwrap(),
                    ..lr(0.5)
                },
                m * r,
            ),
            (
                "Vᵀ cols ≠ k".into(),
                LowRank {
                    vt: MatRef::new(&vt, r, k - 1).unwrap(),
                    ..lr(0.5)
                },
                m * r,
            ),
        ];
        for (name, lr, tlen) in cases {
            let mut y = vec![7.0f32; m * n];
            let mut t = vec![9.0f32; tlen];
            let res = b.dense_low_rank(
                xm,
                packed.weights(n, k),
                lr,
                None,
                Activation::Identity,
                MatMut::new(&mut y, m, n).unwrap(),
                &mut t,
            );
            assert!(res.is_err(), "{:?} low rank {name}: {res:?}", b.isa());
            assert!(
                y.iter().all(|&v| v == 7.0) && t.iter().all(|&v| v == 9.0),
                "{:?} low rank {name}: output written on error",
                b.isa()
            );
        }
    }
}

/// `dense_perturbed_table` equals, bit for bit, `dense` over the packed
/// `W + σ·t` built by hand (separate multiply and add, in packed order),
/// on every path and for f32 and f16 storage; `dense` itself is checked
/// against f64 in `dense.rs`. For n ≤ 2 `dense` takes its narrow
/// (dot-product) kernel, which sums in another order: there the two must
/// agree within twice `dense_tol`. A short table is an error and leaves Y
/// alone.
fn check_table(
    b: Backend,
    m: usize,
    n: usize,
    k: usize,
    f16: bool,
    seed: u64,
) -> Result<(), String> {
    let x = values(seed, m * k);
    let w = weights(seed ^ 1, n, k, f16);
    let bv = values(seed ^ 2, n);
    let len = pack::packed_len(n, k);
    let table = values(seed ^ 3, len + 5);
    let off = (seed % 6) as usize;
    let sigma = 0.3f32;
    let packed = Packed::new(&w, n, k, f16);
    let before = packed.bytes();
    let wts = packed.weights(n, k);
    // W' in packed order: lane l of panel p, row kk is table[p·16k + kk·16 + l].
    let mut wp = vec![0f32; len];
    for j in 0..n {
        for kk in 0..k {
            let idx = (j / 16) * 16 * k + kk * 16 + j % 16;
            let se = sigma * table[off + idx];
            wp[idx] = wts.get(j, kk) + se;
        }
    }
    let wp = pack::PackedF32::from_packed(&wp, n, k).unwrap();
    let mut want = vec![0f32; m * n];
    b.dense(
        MatRef::new(&x, m, k).unwrap(),
        wp,
        Some(&bv),
        Activation::Tanh,
        MatMut::new(&mut want, m, n).unwrap(),
    )
    .unwrap();
    let mut got = vec![f32::NAN; m * n];
    let mut scratch = vec![0f32; perturbed_scratch_len(k)];
    b.dense_perturbed_table(
        MatRef::new(&x, m, k).unwrap(),
        wts,
        &table[off..],
        sigma,
        Some(&bv),
        Activation::Tanh,
        MatMut::new(&mut got, m, n).unwrap(),
        &mut scratch,
    )
    .map_err(|e| format!("{:?}: {e}", b.isa()))?;
    for i in 0..m {
        for j in 0..n {
            let (g, w_) = (got[i * n + j], want[i * n + j]);
            let ok = if n > 2 {
                g.to_bits() == w_.to_bits()
            } else {
                let s: f64 = (0..k)
                    .map(|kk| (x[i * k + kk] as f64 * wp.get(j, kk) as f64).abs())
                    .sum::<f64>()
                    + (bv[j] as f64).abs();
                close(g as f64, w_ as f64, 2.0 * dense_tol(k, s, w_ as f64))
            };
            if !ok {
                return Err(format!(
                    "{:?} m={m} n={n} k={k} f16={f16}: y[{i}][{j}] = {g}, dense(W + σt) = {w_}",
                    b.isa()
                ));
            }
        }
    }
    if packed.bytes() != before {
        return Err(format!("{:?}: packed W was modified", b.isa()));
    }
    let mut y = vec![7.0f32; m * n];
    let r = b.dense_perturbed_table(
        MatRef::new(&x, m, k).unwrap(),
        wts,
        &table[..len - 1],
        sigma,
        None,
        Activation::Identity,
        MatMut::new(&mut y, m, n).unwrap(),
        &mut scratch,
    );
    if !matches!(r, Err(KernelError::BufferTooSmall { .. })) || y.iter().any(|&v| v != 7.0) {
        return Err(format!(
            "{:?}: short table not refused cleanly ({r:?})",
            b.isa()
        ));
    }
    Ok(())
}

#[test]
fn dense_perturbed_table_serving_shape() {
    for b in backends() {
        for f16 in [false, true] {
            check_table(b, 50, 128, 128, f16, 11).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn dense_perturbed_table_random_shapes(
        m in 0usize..20, n in 1usize..40, k in 1usize..40, f16 in any::<bool>(), seed in any::<u64>(),
    ) {
        for b in backends() {
            check_table(b, m, n, k, f16, seed).map_err(TestCaseError::fail)?;
        }
    }
}
