//! AVX-512 implementation of [`Simd`]: one `__m512` per vector, 16 lanes.
//!
//! Features: `avx512f` (arithmetic, masked memory ops), `avx512bw` (the
//! byte sums of the noise hash), `avx512vl`, `fma`, `f16c`. No AVX512DQ:
//! float bitwise ops go through the integer domain (`vpandd` and friends),
//! which every AVX-512 core runs at the same rate.
//!
//! | op | instruction | why |
//! |---|---|---|
//! | `fma` | `vfmadd231ps zmm` | 2 per cycle on Sapphire Rapids / Zen 4 (Zen 4 splits into two 256-bit halves) |
//! | `broadcast` | `vbroadcastss zmm, m32` | a load-port op; the compiler may fold it into the FMA as `{1to16}` |
//! | `load_partial` / `store_partial` | `vmovups zmm{k}{z}` | `__mmask16` tails: masked-off lanes never touch memory |
//! | `load_f16` | `vcvtph2ps zmm, m256` | f16 storage widened exactly |
//! | `lt` / `select` | `vcmpps k` → `vpternlogd` fill, `vptestmd` → `vblendmps` | masks live in k-registers; the trait keeps lane masks |
//! | `byte_sum` | `vpmaddubsw` + `vpmaddwd` (AVX512BW) | as on AVX2, twice as wide |
//! | `reduce_add` | high 256 onto low 256, then the AVX2 sequence | the same order as [`super::pair::Pair`] on AVX2 |
//!
//! The register tile is 12 rows × two panels of one zmm each
//! ([`Simd::TILE_PANELS`] = 2; 24 accumulators, 2 panel rows and one
//! broadcast of the 32 registers): each `vbroadcastss` feeds two FMAs, so
//! 12 broadcasts and 2 panel loads serve 24 FMAs and the load ports keep
//! up with two FMAs per cycle. With one panel (products that generate
//! perturbed panels one at a time) the tile is 12 × one zmm, and the
//! broadcast folds into the FMA as `{1to16}`.
//!
//! ```text
//!            panel 0 (16 cols)   panel 1 (16 cols)
//!  row  0    zmm23               zmm11
//!  row  1    zmm22               zmm10
//!   …         …                   …
//!  row 11    zmm12               zmm0      (register numbers as compiled)
//!  B rows    zmm25               zmm24/26  x broadcast: zmm26/27
//! ```

use super::{Body, Kernel, Simd};
use core::arch::x86_64::*;

/// The AVX-512 vector vocabulary (zero-sized; only reachable through [`run`]).
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

/// Runs `k`'s SIMD body compiled for AVX-512 F/BW/VL + FMA + F16C.
///
/// # Safety
/// The CPU must support AVX512F, AVX512BW, AVX512VL, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn run<K: Kernel>(k: K) -> K::Output {
    // SAFETY: the caller guarantees the features; `simd` is inline(always)
    // so its body is compiled with them.
    unsafe { k.simd::<Avx512>() }
}

/// Lanes `i < n` set.
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// The function [`Simd::outlined`] runs a body in: this ISA's features,
/// never inlined.
///
/// # Safety
/// The CPU must support the features enabled here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline(never)]
unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
    // SAFETY: the caller guarantees the features; `simd` is inline(always).
    unsafe { b.simd::<V>() }
}

// SAFETY (whole impl): every function is only called from inside `run`,
// whose caller proved the features; pointer contracts are documented on the
// trait and upheld by the kernel bodies.
#[allow(clippy::undocumented_unsafe_blocks)]
impl Simd for Avx512 {
    #[inline(always)]
    unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
        unsafe { outlined::<V, B>(b) }
    }
    const LANES: usize = 16;
    const TILE_ROWS: usize = 12;
    const MIN_TAIL_ROWS: usize = 8;
    const TILE_PANELS: usize = 2;
    type F = __m512;
    type U = __m512i;
    type Row = [__m512; 1];

    #[inline(always)]
    fn row_splat(x: __m512) -> Self::Row {
        [x; 1]
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    #[inline(always)]
    unsafe fn broadcast(p: *const f32) -> __m512 {
        unsafe { _mm512_set1_ps(*p) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> __m512 {
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m512, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn lt(a: __m512, b: __m512) -> __m512 {
        unsafe {
            let m = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b);
            _mm512_castsi512_ps(_mm512_maskz_mov_epi32(m, _mm512_set1_epi32(-1)))
        }
    }
    #[inline(always)]
    unsafe fn select(m: __m512, t: __m512, f: __m512) -> __m512 {
        unsafe {
            let mi = _mm512_castps_si512(m);
            _mm512_mask_blend_ps(_mm512_test_epi32_mask(mi, mi), f, t)
        }
    }
    #[inline(always)]
    unsafe fn and(a: __m512, b: __m512) -> __m512 {
        unsafe { Self::u_as_f(_mm512_and_si512(Self::f_as_u(a), Self::f_as_u(b))) }
    }
    #[inline(always)]
    unsafe fn or(a: __m512, b: __m512) -> __m512 {
        unsafe { Self::u_as_f(_mm512_or_si512(Self::f_as_u(a), Self::f_as_u(b))) }
    }
    #[inline(always)]
    unsafe fn xor(a: __m512, b: __m512) -> __m512 {
        unsafe { Self::u_as_f(_mm512_xor_si512(Self::f_as_u(a), Self::f_as_u(b))) }
    }
    #[inline(always)]
    unsafe fn reduce_add(a: __m512) -> f32 {
        unsafe {
            let lo = _mm512_castps512_ps256(a);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
            let s = _mm256_add_ps(lo, hi);
            let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    unsafe fn usplat(x: u32) -> __m512i {
        unsafe { _mm512_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn uiota() -> __m512i {
        unsafe { _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }
    }
    #[inline(always)]
    unsafe fn uadd(a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn umul(a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_mullo_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn uxor(a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_xor_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn uand(a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn ushr<const N: i32>(a: __m512i) -> __m512i {
        // The shift count as a vector operand (the immediate form takes a
        // `u32` const generic); a constant count still emits `vpsrld imm`.
        unsafe { _mm512_srl_epi32(a, _mm_cvtsi32_si128(N)) }
    }
    #[inline(always)]
    unsafe fn ushl<const N: i32>(a: __m512i) -> __m512i {
        unsafe { _mm512_sll_epi32(a, _mm_cvtsi32_si128(N)) }
    }
    #[inline(always)]
    unsafe fn byte_sum(a: __m512i) -> __m512i {
        unsafe {
            let pairs = _mm512_maddubs_epi16(a, _mm512_set1_epi8(1));
            _mm512_madd_epi16(pairs, _mm512_set1_epi16(1))
        }
    }
    #[inline(always)]
    unsafe fn u_to_f(a: __m512i) -> __m512 {
        unsafe { _mm512_cvtepi32_ps(a) }
    }
    #[inline(always)]
    unsafe fn f_as_u(a: __m512) -> __m512i {
        unsafe { _mm512_castps_si512(a) }
    }
    #[inline(always)]
    unsafe fn u_as_f(a: __m512i) -> __m512 {
        unsafe { _mm512_castsi512_ps(a) }
    }
    #[inline(always)]
    unsafe fn f_to_i(a: __m512) -> __m512i {
        unsafe { _mm512_cvttps_epi32(a) }
    }
}
