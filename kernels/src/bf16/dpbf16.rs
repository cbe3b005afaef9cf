//! The AVX512-BF16 path, and the AVX-512 pieces the AMX path shares
//! (activation rounding, the epilogue).
//!
//! | op | instruction | why |
//! |---|---|---|
//! | product | `vdpbf16ps zmm, zmm, m32{1to16}` | 16 lanes × 2 bf16 products per instruction; the x pair is broadcast from memory inside the instruction |
//! | weight row | `vmovdqu16 zmm, m512` | one 64-byte pair-panel row per k pair, aligned with 64-byte storage |
//! | rounding | `vcvtne2ps2bf16 zmm` | 32 f32 → 32 bf16, RNE, subnormals as zero: [`super::to_bf16`] bit for bit |
//! | tails | `vmovups zmm{k}` | `__mmask16` loads and stores for partial columns |
//! | perturbed panel | `vcvtne2ps2bf16` + `vpermw zmm` | two f32 panel rows (k, k+1) → one pair row: round, then interleave the halves |
//!
//! Register tile: 8 rows of one activation block × two 16-column panels,
//! 16 zmm accumulators (16 independent chains, enough to cover the
//! instruction's latency on two FMA pipes). Per k pair: two weight loads
//! and 8 pair broadcasts feed 16 `vdpbf16ps` — 0.63 loads per product
//! instruction, where one panel × 16 rows needed 1.06 and ran into the load
//! ports on cores that retire two `vdpbf16ps` per cycle (Zen 5). Broadcasts
//! are at constant offsets `64·r` from one pointer. Tiles at the edges run
//! with 4 rows and/or one panel (padded rows are zero and never stored).
//!
//! ```text
//!              panel p (16 cols)   panel p+1 (16 cols)
//!   row r0+0   acc[0][0]           acc[0][1]
//!   ...        ...                 ...
//!   row r0+7   acc[7][0]           acc[7][1]
//! ```

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
    let full = k / KB;
    // Block by block, so the stores run through memory in order (a row's
    // blocks lie 1 KiB apart).
    for i0 in (0..mp).step_by(RB) {
        for b in 0..kp / KB {
            let k0 = b * KB;
            for i in i0..i0 + RB {
                // SAFETY: act_index(i, k0) + 32 ≤ out.len() (one 64-byte row
                // of the block); the loads read row i's columns k0..k0+32 ∩
                // 0..k only (the last block masked), inside `x`.
                unsafe {
                    let dst = o.add(act_index(i, k0, kp)) as *mut __m512i;
                    let v = if i >= m {
                        _mm512_setzero_si512()
                    } else if b < full {
                        let src = x.ptr().add(i * x.stride() + k0);
                        let lo = _mm512_loadu_ps(src);
                        let hi = _mm512_loadu_ps(src.add(16));
                        core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo))
                    } else {
                        let src = x.ptr().add(i * x.stride() + k0);
                        let lo = _mm512_maskz_loadu_ps(mask(k - k0), src);
                        let hi = if k > k0 + 16 {
                            _mm512_maskz_loadu_ps(mask(k - k0 - 16), src.add(16))
                        } else {
                            _mm512_setzero_ps()
                        };
                        core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo))
                    };
                    _mm512_storeu_si512(dst as *mut _, v);
                }
            }
        }
    }
}

/// One f32 panel (`k × 16`) → one bf16 pair panel, as
/// [`super::perturb::pack_panel_scalar`] (same bits): rows `2q` and `2q + 1`
/// are rounded together, then `vpermw` interleaves them column by column.
///
/// # Safety
/// AVX512F/BW/VL and AVX512-BF16; `panel.len() ≥ 16·k`, `dst.len() ==
/// 16·padded_k(k)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")]
pub(super) unsafe fn pack_panel(panel: &[f32], k: usize, valid: usize, dst: &mut [u16]) {
    debug_assert!(panel.len() >= 16 * k && dst.len() == 16 * padded_k(k));
    // Output lane 2j + e takes lane e·16 + j of [row 2q | row 2q + 1].
    let mut idx = [0u16; 32];
    for (l, v) in idx.iter_mut().enumerate() {
        *v = ((l & 1) * 16 + l / 2) as u16;
    }
    let cols = mask(valid);
    // SAFETY: the features are the caller's; the loads read rows < k of the
    // panel (masked to `valid` columns), the stores write pair rows
    // q < padded_k(k)/2 of `dst` (32 elements each).
    unsafe {
        let idx = _mm512_loadu_si512(idx.as_ptr() as *const _);
        let src = panel.as_ptr();
        for q in 0..dst.len() / 32 {
            let row = |kk: usize| {
                if kk < k {
                    _mm512_maskz_loadu_ps(cols, src.add(kk * 16))
                } else {
                    _mm512_setzero_ps()
                }
            };
            let (lo, hi) = (row(2 * q), row(2 * q + 1));
            let both = core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            let pairs = _mm512_permutexvar_epi16(idx, both);
            _mm512_storeu_si512(dst.as_mut_ptr().add(q * 32) as *mut _, pairs);
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
    if n <= NARROW_N && k <= NARROW_K {
        // SAFETY: the features and shapes are the caller's.
        return unsafe { narrow(x, w, bias, act, y) };
    }
    let kp = padded_k(k);
    let pairs = k.div_ceil(2);
    let panels = n.div_ceil(RB);
    for p in (0..panels).step_by(2) {
        // SAFETY: panel p holds 16·kp elements from p·16·kp (layout).
        let panel = unsafe { w.data().as_ptr().add(p * RB * kp) };
        let two = p + 1 < panels;
        for r0 in (0..m).step_by(MR) {
            let rows = (m - r0).min(MR);
            // SAFETY: row r0 lies in block r0/16, which holds 16·kp elements
            // from (r0/16)·16·kp; the tile's rows r0 % 16 + r < 16.
            let a = unsafe { x.data().as_ptr().add((r0 / RB) * RB * kp + (r0 % RB) * KB) };
            let t = Tile {
                a,
                panel,
                kp,
                pairs,
                rows,
                r0,
                c0: p * RB,
            };
            // SAFETY: features from the caller; the tile reads `pairs` pairs
            // of its rows and of its one or two panels (within their 16·kp
            // elements) and stores rows < m, columns of its panels below n.
            unsafe {
                match (rows > 4, two) {
                    (false, false) => t.run::<4, 1>(bias, act, y),
                    (false, true) => t.run::<4, 2>(bias, act, y),
                    (true, false) => t.run::<MR, 1>(bias, act, y),
                    (true, true) => t.run::<MR, 2>(bias, act, y),
                }
            }
        }
    }
}

/// Widest output handled by [`narrow`] instead of 16-column panels.
const NARROW_N: usize = 2;
/// Longest input [`narrow`] handles (its column buffer lives on the stack).
const NARROW_K: usize = 1024;

/// Layers with 1–2 outputs (a click-probability head), where a 16-column
/// panel would waste at least 14 of 16 lanes: each output column is
/// gathered once into a contiguous bf16 vector, then every row is a
/// `vdpbf16ps` dot product along `k` (one 64-byte activation row segment
/// per 32 inputs), 8 rows at a time for 8 independent chains, reduced
/// across lanes for the bias + activation epilogue.
///
/// # Safety
/// As for [`dense`], with `n ≤ NARROW_N` and `k ≤ NARROW_K`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")]
unsafe fn narrow(
    x: &ActsBf16<'_>,
    w: &PackedBf16<'_>,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    let (m, n, k) = (x.rows(), w.n(), w.k());
    let kp = padded_k(k);
    let blocks = kp / KB;
    let (a, ldc, y0) = (x.data().as_ptr(), y.stride(), y.ptr());
    // Pair q of column j is the u32 at q·16 + j of panel 0 (n ≤ 16).
    let pairs = w.data().as_ptr() as *const u32;
    let mut col = [0u32; NARROW_K / 2];
    for j in 0..n {
        for (q, c) in col.iter_mut().enumerate().take(kp / 2) {
            // SAFETY: q < kp/2 pairs of panel 0, j < 16 (layout).
            *c = unsafe { pairs.add(q * 16 + j).read_unaligned() };
        }
        let b = bias.map_or(0.0, |b| b[j]);
        for i0 in (0..m).step_by(8) {
            // SAFETY: rows i0..i0+8 lie inside the zero-padded blocks
            // (i0 is a multiple of 8 below m, blocks hold 16 rows); each
            // row segment is 32 elements at act_index(i, 32·b); `col`
            // holds kp/2 pairs.
            unsafe {
                let mut acc = [_mm512_setzero_ps(); 8];
                for bk in 0..blocks {
                    let wv: __m512bh = core::mem::transmute(_mm512_loadu_si512(
                        col.as_ptr().add(bk * 16) as *const _,
                    ));
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let xv: __m512bh = core::mem::transmute(_mm512_loadu_si512(
                            a.add(act_index(i0 + r, bk * KB, kp)) as *const _,
                        ));
                        *acc_r = _mm512_dpbf16_ps(*acc_r, xv, wv);
                    }
                }
                let v = Avx512::add(Avx512::reduce8(acc), Avx512::splat(b));
                let mut sums = [0f32; 16];
                Avx512::store(sums.as_mut_ptr(), act.apply_v::<Avx512>(v));
                for (r, s) in sums.iter().enumerate().take((m - i0).min(8)) {
                    // SAFETY: row i0 + r < m, column j < n ≤ ldc.
                    *y0.add((i0 + r) * ldc + j) = *s;
                }
            }
        }
    }
}

/// Rows per full register tile.
const MR: usize = 8;

/// Where one register tile reads and writes.
struct Tile {
    /// First activation row of the tile (row `r0 % 16` of its block).
    a: *const u16,
    /// First weight panel of the tile.
    panel: *const u16,
    kp: usize,
    pairs: usize,
    /// Rows to store (≤ the tile's `R`).
    rows: usize,
    r0: usize,
    c0: usize,
}

impl Tile {
    /// `R` rows × `P` panels.
    ///
    /// ```text
    /// per k pair q (block b = q / 16, l = q % 16):
    ///   w[c] = panel_c[q·32 .. q·32+32]                 (16 columns × pair)
    ///   acc[r][c] += dpbf16( bcast32(a + b·512 + 32r + 2l), w[c] )
    /// ```
    ///
    /// # Safety
    /// AVX-512 and AVX512-BF16; the reads and stores described at the call.
    #[inline(always)]
    unsafe fn run<const R: usize, const P: usize>(
        &self,
        bias: Option<&[f32]>,
        act: Activation,
        y: &mut MatMut<'_>,
    ) {
        let panel_len = RB * self.kp;
        // SAFETY (whole body): the caller guarantees the features; every
        // read is inside the tile's rows of the block (q < pairs ≤ kp/2,
        // r < R ≤ 16 − r0 % 16) or its panels (q < kp/2).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            let mut q = 0;
            while q < self.pairs {
                let ab = self.a.add((q / 16) * (RB * KB));
                let end = self.pairs.min(q - q % 16 + 16);
                while q < end {
                    let mut w = [_mm512_setzero_si512(); P];
                    for (c, wc) in w.iter_mut().enumerate() {
                        *wc =
                            _mm512_loadu_si512(self.panel.add(c * panel_len + q * 32) as *const _);
                    }
                    let l = (q % 16) * 2;
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let pair = (ab.add(r * KB + l) as *const i32).read_unaligned();
                        let xv: __m512bh = core::mem::transmute(_mm512_set1_epi32(pair));
                        for (a, wc) in acc_r.iter_mut().zip(&w) {
                            *a = _mm512_dpbf16_ps(
                                *a,
                                xv,
                                core::mem::transmute::<__m512i, __m512bh>(*wc),
                            );
                        }
                    }
                    q += 1;
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(self.rows) {
                for (c, v) in acc_r.iter().enumerate() {
                    store_row(*v, bias, act, y, self.r0 + r, self.c0 + c * RB);
                }
            }
        }
    }
}
