//! Elementwise math without `std`: `exp`, `tanh`, `sigmoid`, `ln`.
//!
//! `core` has no transcendental functions, and the activations must run
//! vectorised inside the dense epilogue, so both the scalar and the SIMD
//! forms below use the same Cephes-style polynomials with the same range
//! reduction. They differ only in fused vs separate multiply-add, i.e. by a
//! few ULP. Accuracy (checked against `f64` in the tests):
//! `exp` ≤ 2 ULP on [-87, 88] (inputs are clamped there: results saturate at
//! ≈ 1.6·10⁻³⁸ / 1.7·10³⁸ instead of 0 / ∞); `tanh` ≤ 3 ULP + 2⁻²⁴ absolute;
//! `sigmoid` ≤ 4 ULP + 2⁻²⁶ absolute; `ln` ≤ 3 ULP for normal positive inputs.

use crate::simd::Simd;

const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2²³: adding and subtracting it rounds to the nearest integer (ties to even).
const ROUND: f32 = 12_582_912.0;
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// tanh(x) = x + x·z·Q(z), z = x², for |x| < 0.625 (Cephes `tanhf`).
const TANH_SMALL: f32 = 0.625;
const Q: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_909e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328e-1,
];

// Coefficients of the rational tanh (see `tanh_fast`).
const FT_CLAMP: f32 = 7.905_311;
const FT_A: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
const FT_B: [f32; 4] = [1.198_258_4e-6, 1.185_347e-4, 2.268_434_6e-3, 4.893_525e-3];

/// Rational minimax tanh (the form Eigen uses; the vector form uses the same coefficients and order): `x·P(x²)/Q(x²)` on
/// |x| ≤ 7.9053, saturating beyond. About half the instructions of [`tanh`]
/// and one division; accuracy ≤ 8 ULP (measured 7), absolute error ≤ 5·10⁻⁷ (measured 4.3·10⁻⁷
/// against f64; the worst case is near |x| ≈ 7 where tanh ≈ 1). Used where a
/// kernel evaluates tanh `N·H` times per decoder step (pointer scores).
#[inline]
pub fn tanh_fast(x: f32) -> f32 {
    let x = x.clamp(-FT_CLAMP, FT_CLAMP);
    let z = x * x;
    let mut p = FT_A[0];
    for c in &FT_A[1..] {
        p = p * z + c;
    }
    let mut q = FT_B[0];
    for c in &FT_B[1..] {
        q = q * z + c;
    }
    x * p / q
}

/// Vector rational tanh (see [`tanh_fast`]).
#[inline(always)]
pub(crate) unsafe fn tanh_fast_v<S: Simd>(x: S::F) -> S::F {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let x = S::min(S::max(x, S::splat(-FT_CLAMP)), S::splat(FT_CLAMP));
        let z = S::mul(x, x);
        let mut p = S::splat(FT_A[0]);
        for c in &FT_A[1..] {
            p = S::fma(p, z, S::splat(*c));
        }
        let mut q = S::splat(FT_B[0]);
        for c in &FT_B[1..] {
            q = S::fma(q, z, S::splat(*c));
        }
        S::div(S::mul(x, p), q)
    }
}

/// `eˣ` for `x` clamped to [-87, 88]. NaN propagates as NaN-free garbage on
/// no input the kernels produce; callers validate inputs for finiteness.
#[inline]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI;
    let r = r - n * LN2_LO;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let y = p * (r * r) + r + 1.0;
    let scale = f32::from_bits((((n as i32) + 127) as u32) << 23);
    y * scale
}

/// Hyperbolic tangent (odd polynomial near 0, `1 − 2/(e^{2|x|}+1)` elsewhere).
#[inline]
pub fn tanh(x: f32) -> f32 {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    if a < TANH_SMALL {
        let z = x * x;
        let mut q = Q[0];
        for c in &Q[1..] {
            q = q * z + c;
        }
        x + x * z * q
    } else {
        let t = exp(a + a);
        let y = 1.0 - 2.0 / (t + 1.0);
        f32::from_bits(y.to_bits() | (x.to_bits() & 0x8000_0000))
    }
}

/// Logistic sigmoid `1/(1+e^{−x})`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Cephes `logf` polynomial: leading coefficient, then the rest in Horner
/// order (shared by [`ln`] and its vector form).
const LN_P0: f32 = 7.037_683_6e-2;
const LN_P: [f32; 8] = [
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_5e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];

/// Natural logarithm for finite `x > 0` (Cephes `logf`); `ln(0) = −∞`,
/// negative or NaN input gives NaN, `ln(+∞) = +∞`.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    // Normalise subnormals.
    let (x, bias) = if x < f32::MIN_POSITIVE {
        (x * 16_777_216.0, -24)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32) - 126 + bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // [0.5, 1)
    if m < core::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut y = LN_P0;
    for c in LN_P {
        y = y * m + c;
    }
    y *= m * z;
    let ef = e as f32;
    y += LN2_LO * ef;
    y += -0.5 * z;
    m + y + LN2_HI * ef
}

/// Vector [`ln`] for **positive normal finite** lanes only (no special
/// cases: the caller guarantees the domain). Every operation is the scalar
/// one in the same order — separate multiplies and adds, no FMA — so each
/// lane is bit-identical to [`ln`] on that domain.
#[inline(always)]
pub(crate) unsafe fn ln_pos_v<S: Simd>(x: S::F) -> S::F {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let bits = S::f_as_u(x);
        // e = (bits >> 23) − 126, exact in f32.
        let ef = S::sub(S::u_to_f(S::ushr::<23>(bits)), S::splat(126.0));
        // Mantissa in [0.5, 1): the masked bits never overlap 0x3f00_0000.
        let m = S::u_as_f(S::uxor(
            S::uand(bits, S::usplat(0x007f_ffff)),
            S::usplat(0x3f00_0000),
        ));
        let one = S::splat(1.0);
        let small = S::lt(m, S::splat(core::f32::consts::FRAC_1_SQRT_2));
        let ef = S::select(small, S::sub(ef, one), ef);
        let m = S::select(small, S::sub(S::add(m, m), one), S::sub(m, one));
        let z = S::mul(m, m);
        let mut y = S::splat(LN_P0);
        for c in LN_P {
            y = S::add(S::mul(y, m), S::splat(c));
        }
        y = S::mul(y, S::mul(m, z));
        y = S::add(y, S::mul(S::splat(LN2_LO), ef));
        y = S::add(y, S::mul(S::splat(-0.5), z));
        S::add(S::add(m, y), S::mul(S::splat(LN2_HI), ef))
    }
}

/// Vector `exp`, same algorithm as [`exp`] with fused multiply-adds.
#[inline(always)]
pub(crate) unsafe fn exp_v<S: Simd>(x: S::F) -> S::F {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let x = S::min(S::max(x, S::splat(EXP_LO)), S::splat(EXP_HI));
        let n = S::sub(S::fma(x, S::splat(LOG2E), S::splat(ROUND)), S::splat(ROUND));
        let r = S::fma(n, S::splat(-LN2_HI), x);
        let r = S::fma(n, S::splat(-LN2_LO), r);
        let mut p = S::splat(P[0]);
        for c in &P[1..] {
            p = S::fma(p, r, S::splat(*c));
        }
        let y = S::add(S::fma(p, S::mul(r, r), r), S::splat(1.0));
        let e = S::uadd(S::f_to_i(n), S::usplat(127));
        S::mul(y, S::u_as_f(S::ushl::<23>(e)))
    }
}

/// Vector `tanh`, same algorithm as [`tanh`].
#[inline(always)]
pub(crate) unsafe fn tanh_v<S: Simd>(x: S::F) -> S::F {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let sign = S::u_as_f(S::usplat(0x8000_0000));
        let a = S::xor(S::or(x, sign), sign); // |x|
        let z = S::mul(x, x);
        let mut q = S::splat(Q[0]);
        for c in &Q[1..] {
            q = S::fma(q, z, S::splat(*c));
        }
        let small = S::fma(S::mul(x, z), q, x);
        let t = exp_v::<S>(S::add(a, a));
        let big = S::sub(
            S::splat(1.0),
            S::div(S::splat(2.0), S::add(t, S::splat(1.0))),
        );
        let big = S::or(big, S::and(x, sign));
        S::select(S::lt(a, S::splat(TANH_SMALL)), small, big)
    }
}

/// Vector sigmoid.
#[inline(always)]
pub(crate) unsafe fn sigmoid_v<S: Simd>(x: S::F) -> S::F {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let neg = S::xor(x, S::u_as_f(S::usplat(0x8000_0000)));
        let one = S::splat(1.0);
        S::div(one, S::add(one, exp_v::<S>(neg)))
    }
}
