//! The AVX512-BF16 path, and the AVX-512 pieces the AMX path shares
//! (activation rounding, the epilogue).
//!
//! | op | instruction | why |
//! |---|---|---|
//! | product | `vdpbf16ps zmm, zmm, m32{1to16}` | 16 lanes × 2 bf16 products per instruction; the x pair is broadcast from memory inside the instruction |
//! | weight row | `vmovdqu16 zmm, m512` | one 64-byte pair-panel row per k pair, aligned with 64-byte storage |
//! | rounding | `vcvtne2ps2bf16 zmm` | 32 f32 → 32 bf16, RNE, subnormals as zero: [`super::to_bf16`] bit for bit |
//! | tails | `vmovups zmm{k}` | `__mmask16` loads and stores for partial columns |
//!
//! Register tile: the 16 rows of one activation block × one 16-column
//! panel, 16 zmm accumulators (16 independent chains). Per k pair: one
//! weight load and 16 `vdpbf16ps` whose broadcasts are at constant offsets
//! `64·r` from one pointer. Row tiles shorter than 16 run with 4, 8 or 12
//! accumulators (the padded rows are zero and never stored).

use super::layout::{act_index, padded_k, ActsBf16, PackedBf16, KB, RB};
use crate::simd::x86_512::Avx512;
use crate::simd::Simd;
use crate::{Activation, MatMut, MatRef};
use core::arch::x86_64::*;

/// Lanes `i < n` set.
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// Rounds `x` into `out` (`acts_len(m, k)` elements) in the activation layout.
///
/// # Safety
/// The CPU supports AVX512F/BW/VL and AVX512-BF16; `out.len() ==
/// acts_len(x.rows(), x.cols())`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")]
pub(super) unsafe fn round(x: &MatRef<'_>, out: &mut [u16]) {
    let (m, k) = (x.rows(), x.cols());
    let kp = padded_k(k);
    let mp = m.div_ceil(RB) * RB;
    debug_assert_eq!(out.len(), mp * kp);
    let o = out.as_mut_ptr();
    for i in 0..mp {
        for b in 0..kp / KB {
            let k0 = b * KB;
            // SAFETY: act_index(i, k0) + 32 ≤ out.len() (one 64-byte row of
            // the block); the loads read row i's columns k0..k0+32 ∩ 0..k
            // only (masked), inside `x`.
            unsafe {
                let dst = o.add(act_index(i, k0, kp)) as *mut __m512i;
                let v = if i < m {
                    let src = x.row(i).as_ptr().add(k0);
                    let lo = _mm512_maskz_loadu_ps(mask(k - k0), src);
                    let hi = if k > k0 + 16 {
                        _mm512_maskz_loadu_ps(mask(k - k0 - 16), src.add(16))
                    } else {
                        _mm512_setzero_ps()
                    };
                    core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo))
                } else {
                    _mm512_setzero_si512()
                };
                _mm512_storeu_si512(dst as *mut _, v);
            }
        }
    }
}

/// Adds the bias, applies `act` and stores row `r` of a 16-column tile:
/// columns `c0 .. c0 + min(16, n − c0)` of `y` row `r`.
///
/// # Safety
/// AVX-512 features; `r < y.rows()`, `c0 < y.cols()`, `bias` (if any) has
/// `y.cols()` elements.
#[inline(always)]
pub(super) unsafe fn store_row(
    acc: __m512,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
    r: usize,
    c0: usize,
) {
    let cols = y.cols() - c0;
    // SAFETY: the caller guarantees the features and the bounds; loads and
    // stores touch columns c0 .. c0 + min(16, cols) only.
    unsafe {
        let mut v = acc;
        if let Some(b) = bias {
            v = Avx512::add(v, Avx512::load_upto(b.as_ptr().add(c0), cols));
        }
        v = act.apply_v::<Avx512>(v);
        let p = y.ptr().add(r * y.stride() + c0);
        Avx512::store_upto(p, v, cols);
    }
}

/// `y = act(x·wᵀ + bias)`, shapes already checked.
///
/// # Safety
/// The CPU supports AVX512F/BW/VL, AVX512-BF16, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")]
pub(super) unsafe fn dense(
    x: &ActsBf16<'_>,
    w: &PackedBf16<'_>,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    let (m, n, k) = (x.rows(), w.n(), w.k());
    let kp = padded_k(k);
    let pairs = k.div_ceil(2);
    for p in 0..n.div_ceil(RB) {
        // SAFETY: panel p holds 16·kp elements from p·16·kp (layout).
        let panel = unsafe { w.data().as_ptr().add(p * RB * kp) };
        for blk in 0..m.div_ceil(RB) {
            let rows = (m - blk * RB).min(RB);
            // SAFETY: row block blk holds 16·kp elements from blk·16·kp.
            let a = unsafe { x.data().as_ptr().add(blk * RB * kp) };
            // SAFETY: features from the caller; `tile` reads `pairs` pairs of
            // the block and the panel (within their 16·kp elements) and
            // stores rows < rows ≤ m, columns of panel p below n.
            unsafe {
                match rows.div_ceil(4) {
                    1 => tile::<4>(a, panel, pairs, rows, blk, p, bias, act, y),
                    2 => tile::<8>(a, panel, pairs, rows, blk, p, bias, act, y),
                    3 => tile::<12>(a, panel, pairs, rows, blk, p, bias, act, y),
                    _ => tile::<16>(a, panel, pairs, rows, blk, p, bias, act, y),
                }
            }
        }
    }
}

/// One register tile: `MR` rows of activation block `blk` × panel `p`.
///
/// ```text
/// per k pair q (block b = q / 16, l = q % 16):
///   wrow = panel[q·32 .. q·32+32]              (16 columns × pair)
///   acc[r] += dpbf16( bcast32(a + b·512 + 32r + 2l), wrow )    r < MR
/// ```
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const MR: usize>(
    a: *const u16,
    panel: *const u16,
    pairs: usize,
    rows: usize,
    blk: usize,
    p: usize,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    // SAFETY (whole body): the caller guarantees the features; every read is
    // inside the block (q < pairs ≤ kp/2, r < 16) or the panel (q < kp/2).
    unsafe {
        let mut acc = [_mm512_setzero_ps(); MR];
        let mut q = 0;
        while q < pairs {
            let ab = a.add((q / 16) * (RB * KB));
            let end = pairs.min(q - q % 16 + 16);
            while q < end {
                let wrow: __m512bh =
                    core::mem::transmute(_mm512_loadu_si512(panel.add(q * 32) as *const _));
                let l = (q % 16) * 2;
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let pair = (ab.add(r * KB + l) as *const i32).read_unaligned();
                    let xv: __m512bh = core::mem::transmute(_mm512_set1_epi32(pair));
                    *acc_r = _mm512_dpbf16_ps(*acc_r, xv, wrow);
                }
                q += 1;
            }
        }
        for (r, v) in acc.iter().enumerate().take(rows) {
            store_row(*v, bias, act, y, blk * RB + r, p * RB);
        }
    }
}
