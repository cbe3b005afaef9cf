//! Counter-based noise: a value is a pure function of
//! `(seed, candidate, element index)`, so any path (scalar, AVX2, NEON),
//! any blocking and any thread order produce bit-identical noise, and
//! nothing has to be stored.
//!
//! * Key: `splitmix64` of the seed and candidate gives two 32-bit keys.
//! * Hash: `lowbias32(index ^ key)` (Wellons' 2-multiply integer hash).
//! * Gaussian: **Irwin–Hall(8) approximation**: the sum of the 8 bytes of two
//!   hashes, centred and scaled. Exact mean 0 and variance 1; kurtosis 2.85
//!   (a true Gaussian has 3); support ±4.9σ. Integer-only until one
//!   exact conversion and one rounding multiply, hence identical everywhere.
//! * Rademacher: ±1 from the top bit of one hash.
//! * Antithetic: candidates `2i` and `2i+1` share a draw with opposite signs.

use crate::simd::{fill_indexed, Kernel, Simd};
use crate::Backend;

/// Which distribution [`Noise`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoiseKind {
    /// Irwin–Hall(8) approximation of N(0, 1) (see the module docs).
    Gaussian,
    /// ±1 with equal probability.
    Rademacher,
}

/// A noise stream: one value per element index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Noise {
    /// Request-level seed.
    pub seed: u64,
    /// Candidate number within the request.
    pub candidate: u32,
    /// Distribution.
    pub kind: NoiseKind,
    /// If set, candidates `2i` and `2i+1` draw `+e` and `−e` from one stream.
    pub antithetic: bool,
}

/// splitmix64 finaliser: a bijective 64-bit mixer.
#[inline]
pub const fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Wellons' `lowbias32` integer hash.
#[inline]
pub const fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// 1/σ of the sum of 8 uniform bytes: σ² = 8·(256² − 1)/12.
const IH8_INV_STD: f32 = 0.004_784_196;
/// Mean of the sum of 8 uniform bytes.
const IH8_MEAN: f32 = 1020.0;
const BYTE_PAIRS: u32 = 0x00ff_00ff;

/// The per-stream constants the kernels need, derived once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseKey {
    k1: u32,
    k2: u32,
    /// 0 or 0x8000_0000: XORed into every value (antithetic sign).
    sign: u32,
    gaussian: bool,
}

impl Noise {
    /// Derives the stream key.
    pub fn key(&self) -> NoiseKey {
        let (base, sign) = if self.antithetic {
            (self.candidate >> 1, (self.candidate & 1) << 31)
        } else {
            (self.candidate, 0)
        };
        let h = splitmix64(self.seed ^ splitmix64(base as u64 ^ 0x4c41_5354_0000_0000));
        NoiseKey {
            k1: h as u32,
            k2: (h >> 32) as u32,
            sign,
            gaussian: self.kind == NoiseKind::Gaussian,
        }
    }
    /// Element `index` of the stream (scalar reference).
    pub fn value(&self, index: u32) -> f32 {
        self.key().value(index)
    }
    /// Fills `out[i]` with element `offset + i` of the stream.
    pub fn fill(&self, offset: u32, out: &mut [f32]) {
        let key = self.key();
        for (i, o) in out.iter_mut().enumerate() {
            *o = key.value(offset.wrapping_add(i as u32));
        }
    }
}

/// [`Noise::fill`] as a kernel: the vector path draws 8 elements at a time.
struct Fill<'o> {
    key: NoiseKey,
    offset: u32,
    out: &'o mut [f32],
}

impl Kernel for Fill<'_> {
    type Output = ();
    fn scalar(self) {
        for (i, o) in self.out.iter_mut().enumerate() {
            *o = self.key.value(self.offset.wrapping_add(i as u32));
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let key = self.key;
        // SAFETY: the caller guarantees `S`'s target features.
        unsafe {
            let off = S::usplat(self.offset);
            fill_indexed::<S>(self.out, |i| key.value_v::<S>(S::uadd(i, off)))
        }
    }
}

impl Backend {
    /// `out[i]` = element `offset + i` (wrapping) of `noise`'s stream:
    /// [`Noise::fill`], bit-identical, 8 elements at a time.
    pub fn noise_fill(self, noise: &Noise, offset: u32, out: &mut [f32]) {
        self.run(Fill {
            key: noise.key(),
            offset,
            out,
        });
    }
}

#[inline]
fn byte_sum(h: u32) -> u32 {
    (h & BYTE_PAIRS) + ((h >> 8) & BYTE_PAIRS)
}

impl NoiseKey {
    /// Element `index` of the stream.
    #[inline]
    pub fn value(&self, index: u32) -> f32 {
        let h1 = lowbias32(index ^ self.k1);
        let bits = if self.gaussian {
            let h2 = lowbias32(index ^ self.k2);
            let s = byte_sum(h1) + byte_sum(h2);
            let t = (s & 0xffff) + (s >> 16);
            ((t as f32 - IH8_MEAN) * IH8_INV_STD).to_bits()
        } else {
            1.0f32.to_bits() | (h1 & 0x8000_0000)
        };
        f32::from_bits(bits ^ self.sign)
    }

    /// Elements `idx[0..8]` of the stream; bit-identical to [`NoiseKey::value`].
    #[inline(always)]
    pub(crate) unsafe fn value_v<S: Simd>(&self, idx: S::U) -> S::F {
        // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
        unsafe {
            let h1 = hash_v::<S>(S::uxor(idx, S::usplat(self.k1)));
            let bits = if self.gaussian {
                let h2 = hash_v::<S>(S::uxor(idx, S::usplat(self.k2)));
                // The same integer as the scalar byte sums.
                let t = S::uadd(S::byte_sum(h1), S::byte_sum(h2));
                let e = S::mul(
                    S::sub(S::u_to_f(t), S::splat(IH8_MEAN)),
                    S::splat(IH8_INV_STD),
                );
                S::f_as_u(e)
            } else {
                S::uxor(
                    S::usplat(1.0f32.to_bits()),
                    S::uand(h1, S::usplat(0x8000_0000)),
                )
            };
            S::u_as_f(S::uxor(bits, S::usplat(self.sign)))
        }
    }
}

#[inline(always)]
pub(crate) unsafe fn hash_v<S: Simd>(x: S::U) -> S::U {
    // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
    unsafe {
        let x = S::uxor(x, S::ushr::<16>(x));
        let x = S::umul(x, S::usplat(0x7feb_352d));
        let x = S::uxor(x, S::ushr::<15>(x));
        let x = S::umul(x, S::usplat(0x846c_a68b));
        S::uxor(x, S::ushr::<16>(x))
    }
}

/// Domain tag of [`uniform01`]'s stream keys.
pub(crate) const UNIFORM_TAG: u64 = 0x554e_4946_0000_0000;

/// A uniform draw in the open interval (0, 1) from `(seed, stream, index)`:
/// 23 hashed bits, centred in their cell, so never 0 or 1.
#[inline]
pub fn uniform01(seed: u64, stream: u64, index: u32) -> f32 {
    let k = splitmix64(seed ^ splitmix64(stream ^ UNIFORM_TAG));
    let h = lowbias32(index ^ (k as u32)) ^ ((k >> 32) as u32);
    let h = lowbias32(h);
    // 23 bits + ½ is exact in f32, so the result lies in [2⁻²⁴, 1 − 2⁻²⁴].
    ((h >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
}
