//! NEON implementation of [`Simd`]: a pair of 4-lane registers per vector.
//!
//! Float arithmetic goes through `wide::f32x4`, which on aarch64 lowers to
//! the NEON instruction directly (`mul_add` → `fmla`, one rounding); loads,
//! stores and the integer hash use `core::arch::aarch64` intrinsics.
//!
//! | op | instruction | why |
//! |---|---|---|
//! | `fma` | `fmla v.4s` ×2 | fused, 2–4 per cycle on Neoverse cores |
//! | `broadcast` | `ld1r` | load + duplicate in one op |
//! | `load_f16` | `ldr q` + `fcvtl` / `fcvtl2` | base-ARMv8 widening, exact, no FP16 extension needed |
//! | `umul` | `mul v.4s` | low 32 bits for the counter hash |
//! | `byte_sum` | `uaddlp` (bytes) + `uaddlp` (halfwords) | pairwise widening adds: 2 ops per register |
//!
//! The 6 × 16 register tile uses 24 of the 32 vector registers for
//! accumulators, 4 for the weight panel row and 1 for the broadcast.

use super::{Body, Kernel, Simd};
use core::arch::aarch64::*;
use core::mem::transmute;
use wide::f32x4;

/// The NEON vector vocabulary (zero-sized; only reachable through [`run`]).
#[derive(Clone, Copy)]
pub(crate) struct NeonV;

/// Runs `k`'s SIMD body compiled for NEON on 16-lane vectors of two
/// [`NeonV`] each ([`super::pair::Pair`]): the AVX-512 geometry under NEON.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn run_pair<K: Kernel>(k: K) -> K::Output {
    // SAFETY: as in `run`.
    unsafe { k.simd::<super::pair::Pair<NeonV>>() }
}

/// Runs `k`'s SIMD body compiled for NEON.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn run<K: Kernel>(k: K) -> K::Output {
    // SAFETY: the caller guarantees NEON; `simd` is inline(always).
    unsafe { k.simd::<NeonV>() }
}

type F = (f32x4, f32x4);
type U = (uint32x4_t, uint32x4_t);

#[inline(always)]
fn raw(v: f32x4) -> float32x4_t {
    // SAFETY: on aarch64 with NEON, wide's f32x4 is a 16-byte wrapper of float32x4_t.
    unsafe { transmute(v) }
}
#[inline(always)]
fn wrap(v: float32x4_t) -> f32x4 {
    // SAFETY: as in `raw`.
    unsafe { transmute(v) }
}
#[inline(always)]
fn map2(a: F, b: F, f: impl Fn(f32x4, f32x4) -> f32x4) -> F {
    (f(a.0, b.0), f(a.1, b.1))
}
#[inline(always)]
unsafe fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` is base ARMv8 FP/SIMD; pure register-to-register.
    unsafe {
        core::arch::asm!(
            "fcvtl {o:v}.4s, {i:v}.4h",
            i = in(vreg) h,
            o = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// The function [`Simd::outlined`] runs a body in: this ISA's features,
/// never inlined.
///
/// # Safety
/// The CPU must support the features enabled here.
#[target_feature(enable = "neon")]
#[inline(never)]
unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
    // SAFETY: the caller guarantees the features; `simd` is inline(always).
    unsafe { b.simd::<V>() }
}

// SAFETY (whole impl): only called inside `run`; pointer contracts are the trait's.
impl Simd for NeonV {
    #[inline(always)]
    unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
        unsafe { outlined::<V, B>(b) }
    }
    const LANES: usize = 8;
    // 6 rows × 2 vectors (4 q-registers) = 24 of the 32 registers.
    const TILE_ROWS: usize = 6;
    const MIN_TAIL_ROWS: usize = 3;
    const TILE_PANELS: usize = 1;
    type F = F;
    type U = U;
    type Row = [F; 2];

    #[inline(always)]
    fn row_splat(x: F) -> Self::Row {
        [x; 2]
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> F {
        (f32x4::splat(x), f32x4::splat(x))
    }
    #[inline(always)]
    unsafe fn zero() -> F {
        (f32x4::ZERO, f32x4::ZERO)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F {
        unsafe { (wrap(vld1q_f32(p)), wrap(vld1q_f32(p.add(4)))) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> F {
        let mut buf = [0.0f32; 8];
        // SAFETY: the caller guarantees `p[..n]` is readable, n < 8.
        unsafe { core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n) };
        unsafe { Self::load(buf.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn broadcast(p: *const f32) -> F {
        let v = unsafe { wrap(vld1q_dup_f32(p)) };
        (v, v)
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> F {
        unsafe {
            let h = vld1q_u16(p);
            (
                wrap(f16x4_to_f32(vget_low_u16(h))),
                wrap(f16x4_to_f32(vget_high_u16(h))),
            )
        }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: F) {
        unsafe {
            vst1q_f32(p, raw(v.0));
            vst1q_f32(p.add(4), raw(v.1));
        }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: F, n: usize) {
        let mut buf = [0.0f32; 8];
        unsafe {
            Self::store(buf.as_mut_ptr(), v);
            // SAFETY: the caller guarantees `p[..n]` is writable, n < 8.
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn add(a: F, b: F) -> F {
        map2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    unsafe fn sub(a: F, b: F) -> F {
        map2(a, b, |x, y| x - y)
    }
    #[inline(always)]
    unsafe fn mul(a: F, b: F) -> F {
        map2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    unsafe fn div(a: F, b: F) -> F {
        map2(a, b, |x, y| x / y)
    }
    #[inline(always)]
    unsafe fn fma(a: F, b: F, c: F) -> F {
        (a.0.mul_add(b.0, c.0), a.1.mul_add(b.1, c.1))
    }
    #[inline(always)]
    unsafe fn max(a: F, b: F) -> F {
        map2(a, b, |x, y| x.fast_max(y))
    }
    #[inline(always)]
    unsafe fn min(a: F, b: F) -> F {
        map2(a, b, |x, y| x.fast_min(y))
    }
    #[inline(always)]
    unsafe fn lt(a: F, b: F) -> F {
        map2(a, b, |x, y| x.simd_lt(y))
    }
    #[inline(always)]
    unsafe fn select(m: F, t: F, f: F) -> F {
        (m.0.select(t.0, f.0), m.1.select(t.1, f.1))
    }
    #[inline(always)]
    unsafe fn and(a: F, b: F) -> F {
        map2(a, b, |x, y| x & y)
    }
    #[inline(always)]
    unsafe fn or(a: F, b: F) -> F {
        map2(a, b, |x, y| x | y)
    }
    #[inline(always)]
    unsafe fn xor(a: F, b: F) -> F {
        map2(a, b, |x, y| x ^ y)
    }
    #[inline(always)]
    unsafe fn reduce_add(a: F) -> f32 {
        (a.0 + a.1).reduce_add()
    }
    #[inline(always)]
    unsafe fn usplat(x: u32) -> U {
        unsafe { (vdupq_n_u32(x), vdupq_n_u32(x)) }
    }
    #[inline(always)]
    unsafe fn uiota() -> U {
        let lo = [0u32, 1, 2, 3];
        let hi = [4u32, 5, 6, 7];
        unsafe { (vld1q_u32(lo.as_ptr()), vld1q_u32(hi.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn uadd(a: U, b: U) -> U {
        unsafe { (vaddq_u32(a.0, b.0), vaddq_u32(a.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn umul(a: U, b: U) -> U {
        unsafe { (vmulq_u32(a.0, b.0), vmulq_u32(a.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn uxor(a: U, b: U) -> U {
        unsafe { (veorq_u32(a.0, b.0), veorq_u32(a.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn uand(a: U, b: U) -> U {
        unsafe { (vandq_u32(a.0, b.0), vandq_u32(a.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn ushr<const N: i32>(a: U) -> U {
        unsafe { (vshrq_n_u32::<N>(a.0), vshrq_n_u32::<N>(a.1)) }
    }
    #[inline(always)]
    unsafe fn ushl<const N: i32>(a: U) -> U {
        unsafe { (vshlq_n_u32::<N>(a.0), vshlq_n_u32::<N>(a.1)) }
    }
    #[inline(always)]
    unsafe fn byte_sum(a: U) -> U {
        unsafe {
            let s = |v: uint32x4_t| vpaddlq_u16(vpaddlq_u8(vreinterpretq_u8_u32(v)));
            (s(a.0), s(a.1))
        }
    }
    #[inline(always)]
    unsafe fn u_to_f(a: U) -> F {
        unsafe { (wrap(vcvtq_f32_u32(a.0)), wrap(vcvtq_f32_u32(a.1))) }
    }
    #[inline(always)]
    unsafe fn f_as_u(a: F) -> U {
        unsafe {
            (
                vreinterpretq_u32_f32(raw(a.0)),
                vreinterpretq_u32_f32(raw(a.1)),
            )
        }
    }
    #[inline(always)]
    unsafe fn u_as_f(a: U) -> F {
        unsafe {
            (
                wrap(vreinterpretq_f32_u32(a.0)),
                wrap(vreinterpretq_f32_u32(a.1)),
            )
        }
    }
    #[inline(always)]
    unsafe fn f_to_i(a: F) -> U {
        unsafe {
            (
                vreinterpretq_u32_s32(vcvtq_s32_f32(raw(a.0))),
                vreinterpretq_u32_s32(vcvtq_s32_f32(raw(a.1))),
            )
        }
    }
}
