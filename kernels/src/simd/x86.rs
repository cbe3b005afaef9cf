//! AVX2 + FMA + F16C implementation of [`Simd`]: one `__m256` per vector.
//!
//! | op | instruction | why |
//! |---|---|---|
//! | `fma` | `vfmadd231ps` | 2 per cycle on Zen 3 / Haswell+: the whole point |
//! | `broadcast` | `vbroadcastss ymm, m32` | a load-port op, no shuffle port |
//! | `load_f16` | `vcvtph2ps ymm, m128` | f16 is a storage format; widening is ~free |
//! | `load_partial` / `store_partial` | `vmaskmovps` | tails without touching memory past the end |
//! | `umul` | `vpmulld` | low 32 bits for the counter hash |
//! | `byte_sum` | `vpmaddubsw` + `vpmaddwd` (by ones) | byte pairs, then 16-bit pairs: 2 ops instead of 6 shifts, masks and adds |
//! | `reduce8` | `vhaddps` ×6 + `vperm2f128` | 8 dot products finished at once (narrow layers) |

use super::{Body, Kernel, Simd};
use core::arch::x86_64::*;

/// The AVX2 vector vocabulary (zero-sized; only reachable through [`run`]).
#[derive(Clone, Copy)]
pub(crate) struct Avx2;

/// Runs `k`'s SIMD body compiled for AVX2 + FMA + F16C, on 16-lane vectors
/// made of two ymm each ([`super::pair::Pair`]): the geometry of the AVX-512
/// path, testable on any AVX2 machine.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn run_pair<K: Kernel>(k: K) -> K::Output {
    // SAFETY: as in `run`.
    unsafe { k.simd::<super::pair::Pair<Avx2>>() }
}

/// Runs `k`'s SIMD body compiled for AVX2 + FMA + F16C.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn run<K: Kernel>(k: K) -> K::Output {
    // SAFETY: the caller guarantees the features; `simd` is inline(always)
    // so its body is compiled with them.
    unsafe { k.simd::<Avx2>() }
}

#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    // Lanes i < n all-ones.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// The function [`Simd::outlined`] runs a body in: this ISA's features,
/// never inlined.
///
/// # Safety
/// The CPU must support the features enabled here.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline(never)]
unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
    // SAFETY: the caller guarantees the features; `simd` is inline(always).
    unsafe { b.simd::<V>() }
}

// SAFETY (whole impl): every function is only called from inside `run`,
// whose caller proved the features; pointer contracts are documented on the
// trait and upheld by the kernel bodies.
#[allow(clippy::undocumented_unsafe_blocks)]
impl Simd for Avx2 {
    #[inline(always)]
    unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
        unsafe { outlined::<V, B>(b) }
    }
    const LANES: usize = 8;
    // 6 rows × 2 ymm = 12 accumulators of the 16 registers.
    const TILE_ROWS: usize = 6;
    const MIN_TAIL_ROWS: usize = 3;
    const TILE_PANELS: usize = 1;
    type F = __m256;
    type U = __m256i;
    type Row = [__m256; 2];

    #[inline(always)]
    fn row_splat(x: __m256) -> Self::Row {
        [x; 2]
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m256 {
        unsafe { _mm256_maskload_ps(p, mask(n)) }
    }
    #[inline(always)]
    unsafe fn broadcast(p: *const f32) -> __m256 {
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m256, n: usize) {
        unsafe { _mm256_maskstore_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn lt(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    unsafe fn select(m: __m256, t: __m256, f: __m256) -> __m256 {
        unsafe { _mm256_blendv_ps(f, t, m) }
    }
    #[inline(always)]
    unsafe fn and(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn or(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_or_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn xor(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_xor_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn reduce_add(a: __m256) -> f32 {
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    unsafe fn reduce8(a: [__m256; 8]) -> __m256 {
        // Three levels of `vhaddps` and one cross-lane add: 7 shuffling adds
        // for 8 sums instead of 8 separate reductions.
        unsafe {
            let t0 = _mm256_hadd_ps(a[0], a[1]);
            let t1 = _mm256_hadd_ps(a[2], a[3]);
            let t2 = _mm256_hadd_ps(a[4], a[5]);
            let t3 = _mm256_hadd_ps(a[6], a[7]);
            let u0 = _mm256_hadd_ps(t0, t1);
            let u1 = _mm256_hadd_ps(t2, t3);
            let lo = _mm256_permute2f128_ps::<0x20>(u0, u1);
            let hi = _mm256_permute2f128_ps::<0x31>(u0, u1);
            _mm256_add_ps(lo, hi)
        }
    }
    #[inline(always)]
    unsafe fn usplat(x: u32) -> __m256i {
        unsafe { _mm256_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn uiota() -> __m256i {
        unsafe { _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7) }
    }
    #[inline(always)]
    unsafe fn uadd(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn umul(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_mullo_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn uxor(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_xor_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn uand(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_and_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn ushr<const N: i32>(a: __m256i) -> __m256i {
        unsafe { _mm256_srli_epi32::<N>(a) }
    }
    #[inline(always)]
    unsafe fn ushl<const N: i32>(a: __m256i) -> __m256i {
        unsafe { _mm256_slli_epi32::<N>(a) }
    }
    #[inline(always)]
    unsafe fn byte_sum(a: __m256i) -> __m256i {
        // Unsigned bytes × 1 summed in pairs (≤ 510, no saturation), then
        // 16-bit pairs × 1 summed into 32 bits.
        unsafe {
            let pairs = _mm256_maddubs_epi16(a, _mm256_set1_epi8(1));
            _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
        }
    }
    #[inline(always)]
    unsafe fn u_to_f(a: __m256i) -> __m256 {
        unsafe { _mm256_cvtepi32_ps(a) }
    }
    #[inline(always)]
    unsafe fn f_as_u(a: __m256) -> __m256i {
        unsafe { _mm256_castps_si256(a) }
    }
    #[inline(always)]
    unsafe fn u_as_f(a: __m256i) -> __m256 {
        unsafe { _mm256_castsi256_ps(a) }
    }
    #[inline(always)]
    unsafe fn f_to_i(a: __m256) -> __m256i {
        unsafe { _mm256_cvttps_epi32(a) }
    }
}
