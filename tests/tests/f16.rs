//! f16 → f32 widening (`Backend::f16_to_f32`) and f16-stored dense weights.
//!
//! Widening is exact (every f16 value is an f32 value), so every bit
//! pattern must convert bit-identically to `half`'s software conversion.
//! That includes the 2046 NaN patterns: the hardware converters
//! (`vcvtph2ps`, `fcvtl`) keep the payload and set the quiet bit, and so does
//! `half` (measured: 0 of 2046 NaN patterns differ on AVX2). Should a
//! platform differ only in NaN bits, the assertion message says so.

use last_kernels::{pack, Activation, Backend, KernelError, MatMut, MatRef};
use last_tests::{act_f64, backends, dense_tol, values};

/// A NaN with a payload no kernel produces: "never written" sentinel.
const SENTINEL: u32 = 0x7fc0_dead;

#[test]
fn exhaustive_all_65536_patterns() {
    let src: Vec<u16> = (0..=u16::MAX).collect();
    for b in backends() {
        let mut dst = vec![f32::from_bits(SENTINEL); src.len()];
        b.f16_to_f32(&src, &mut dst).unwrap();
        let mut nans = 0usize;
        for (&s, &d) in src.iter().zip(&dst) {
            let want = half::f16::from_bits(s).to_f32();
            if want.is_nan() {
                assert!(d.is_nan(), "{:?}: 0x{s:04x} (NaN) → {d}", b.isa());
                nans += 1;
            }
            assert_eq!(
                d.to_bits(),
                want.to_bits(),
                "{:?}: 0x{s:04x} → {d:e} (bits 0x{:08x}), want {want:e} (bits 0x{:08x}){}",
                b.isa(),
                d.to_bits(),
                want.to_bits(),
                if want.is_nan() {
                    " — NaN payload/quiet-bit difference only"
                } else {
                    ""
                }
            );
        }
        assert_eq!(nans, 2046);
    }
}

/// Lengths 0..20 at every alignment offset: the 8-lane body plus the masked
/// tail must convert exactly `dst[..len]` and never touch the rest.
#[test]
fn tails_and_untouched_neighbours() {
    // A mix of normals, subnormals, ±0, ±inf.
    let pool: Vec<u16> = (0..64u32)
        .map(|i| {
            let h = last_kernels::rng::lowbias32(i.wrapping_mul(2_654_435_761));
            match i % 8 {
                0 => 0x0001 + (h as u16 & 0x3ff),
                1 => 0x8000,
                2 => 0x7c00,
                3 => 0xfc00,
                _ => (h as u16) & 0x7bff | ((h >> 16) as u16 & 0x8000),
            }
        })
        .collect();
    for b in backends() {
        for len in 0..=20 {
            for off in 0..3 {
                let src = &pool[off..off + len];
                let mut dst = vec![f32::from_bits(SENTINEL); len + 12];
                b.f16_to_f32(src, &mut dst[off..off + len]).unwrap();
                for (i, &d) in dst.iter().enumerate() {
                    if (off..off + len).contains(&i) {
                        let want = half::f16::from_bits(src[i - off]).to_f32();
                        assert_eq!(
                            d.to_bits(),
                            want.to_bits(),
                            "{:?} len={len} off={off} i={i}",
                            b.isa()
                        );
                    } else {
                        assert_eq!(
                            d.to_bits(),
                            SENTINEL,
                            "{:?} len={len} off={off}: wrote outside dst at {i}",
                            b.isa()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn length_mismatch_is_an_error() {
    for b in backends() {
        for (ls, ld) in [(3usize, 4usize), (9, 8), (0, 1), (16, 0)] {
            let src = vec![0x3c00u16; ls];
            let mut dst = vec![7.0f32; ld];
            let r = b.f16_to_f32(&src, &mut dst);
            assert!(
                matches!(r, Err(KernelError::ShapeMismatch { .. })),
                "{:?} {ls} vs {ld}: {r:?}",
                b.isa()
            );
            assert!(
                dst.iter().all(|&v| v == 7.0),
                "{:?}: dst written on error",
                b.isa()
            );
        }
    }
}

const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];

/// Runs dense with f32 weights `w` (already representable or not) stored
/// as f16 (`pack_f16`) and as f32 (`pack_f32` of the f16-rounded values).
#[allow(clippy::too_many_arguments)]
fn both(
    b: Backend,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    m: usize,
    n: usize,
    k: usize,
    act: Activation,
) -> (Vec<f32>, Vec<f32>) {
    let rounded: Vec<f32> = w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
    let mut b16 = vec![0u16; pack::packed_len(n, k)];
    let p16 = pack::pack_f16(w, n, k, &mut b16).unwrap();
    let mut b32 = vec![0f32; pack::packed_len(n, k)];
    let p32 = pack::pack_f32(&rounded, n, k, &mut b32).unwrap();
    let xm = MatRef::new(x, m, k).unwrap();
    let mut y16 = vec![f32::NAN; m * n];
    let mut y32 = vec![f32::NAN; m * n];
    b.dense(
        xm,
        p16,
        Some(bias),
        act,
        MatMut::new(&mut y16, m, n).unwrap(),
    )
    .unwrap();
    b.dense(
        xm,
        p32,
        Some(bias),
        act,
        MatMut::new(&mut y32, m, n).unwrap(),
    )
    .unwrap();
    (y16, y32)
}

/// f16-stored weights vs f32 weights holding the same (f16-rounded) values:
/// the widening is exact, so the two products see identical operands. Each
/// result is within `dense_tol` of the f64 reference on the rounded weights,
/// hence they differ by at most `2·dense_tol` from each other (triangle
/// inequality). Bit-identity is not required (the f16 path may use a
/// different loop structure); the number of bit differences is printed.
///
/// Against the *unrounded* f32 weights the only extra error is the f16
/// rounding of each weight: relative ≤ 2⁻¹¹ for normal f16 values, absolute
/// ≤ 2⁻²⁵ in the f16 subnormal range, so
/// `|y16 − y(w)| ≤ 2⁻¹¹·Σ|x·w| + 2⁻²⁵·Σ|x| + dense_tol` (activations are
/// 1-Lipschitz, so the bound passes through them).
#[test]
fn f16_weights_dense() {
    let shapes = [
        (1usize, 16usize, 8usize),
        (2, 17, 33),
        (6, 48, 40),
        (13, 5, 3),
        (50, 128, 128),
        (3, 70, 257),
    ];
    let mut worst_ratio = 0.0f64;
    let mut bit_differences = 0usize;
    for b in backends() {
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            for act in ACTS {
                let seed = 40 + si as u64;
                let x = values(seed, m * k);
                let w = values(seed ^ 1, n * k);
                let bias = values(seed ^ 2, n);
                let (y16, y32) = both(b, &x, &w, &bias, m, n, k, act);
                for i in 0..m {
                    for j in 0..n {
                        let (mut zr, mut zu) = (bias[j] as f64, bias[j] as f64);
                        let (mut sr, mut su, mut sx) = (zr.abs(), zu.abs(), 0.0);
                        for kk in 0..k {
                            let xv = x[i * k + kk] as f64;
                            let wv = w[j * k + kk];
                            let wr = half::f16::from_f32(wv).to_f32() as f64;
                            zr += xv * wr;
                            sr += (xv * wr).abs();
                            zu += xv * wv as f64;
                            su += (xv * wv as f64).abs();
                            sx += xv.abs();
                        }
                        let (rr, ru) = (act_f64(act, zr), act_f64(act, zu));
                        let (g16, g32) = (y16[i * n + j] as f64, y32[i * n + j] as f64);
                        let ctx = format!("{:?} m={m} n={n} k={k} {act:?} y[{i}][{j}]", b.isa());
                        let tol = dense_tol(k, sr, rr);
                        assert!(
                            (g16 - rr).abs() <= tol,
                            "{ctx}: f16 {g16} vs ref {rr}, tol {tol}"
                        );
                        assert!(
                            (g32 - rr).abs() <= tol,
                            "{ctx}: f32 {g32} vs ref {rr}, tol {tol}"
                        );
                        assert!(
                            (g16 - g32).abs() <= 2.0 * tol,
                            "{ctx}: f16 {g16} vs f32 {g32}"
                        );
                        bit_differences += (g16 != g32) as usize;
                        let round_bound = 2f64.powi(-11) * su + 2f64.powi(-25) * sx;
                        let tol_u = round_bound + dense_tol(k, su, ru);
                        assert!(
                            (g16 - ru).abs() <= tol_u,
                            "{ctx}: f16 {g16} vs unrounded ref {ru}, tol {tol_u}"
                        );
                        if round_bound > 0.0 {
                            worst_ratio = worst_ratio.max((g16 - ru).abs() / round_bound);
                        }
                    }
                }
            }
        }
    }
    eprintln!("max |y_f16 − y(w)| / (2⁻¹¹·Σ|xw| + 2⁻²⁵·Σ|x|) = {worst_ratio:.4}");
    eprintln!("outputs where f16 and f32 storage differ in bits: {bit_differences}");
}

/// f16 weights that are not finite in f16 (beyond ±65504) become ±∞ when
/// packed, as documented; exact f16 values (e.g. 65504, 2⁻²⁴) pack exactly.
#[test]
fn pack_f16_rounding_edges() {
    let w = [
        65504.0f32,
        65520.0,
        -1e6,
        5.960_464_5e-8,
        1.0 + 2f32.powi(-11),
        0.1,
    ];
    let mut buf = vec![0u16; pack::packed_len(1, w.len())];
    let p = pack::pack_f16(&w, 1, w.len(), &mut buf).unwrap();
    assert_eq!(p.get(0, 0), 65504.0);
    assert_eq!(p.get(0, 1), f32::INFINITY);
    assert_eq!(p.get(0, 2), f32::NEG_INFINITY);
    assert_eq!(p.get(0, 3), 5.960_464_5e-8);
    assert_eq!(p.get(0, 4), 1.0, "ties round to even");
    assert_eq!(p.get(0, 5), half::f16::from_f32(0.1).to_f32());
}
