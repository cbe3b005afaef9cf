//! The narrow-output path of the dense kernel: layers with 1–2 outputs
//! (a click-probability head), where a 16-wide panel would waste at least
//! 14 of 16 lanes.

use super::*;

/// Widest output handled by [`narrow`] instead of 16-wide panels.
pub(super) const NARROW_N: usize = 2;
/// Longest input [`narrow`] handles (its column buffer lives on the stack).
pub(super) const NARROW_K: usize = 1024;

/// Layers with 1–2 outputs (a click-probability head): a 16-wide panel
/// would waste ≥ 14 of 16 lanes, so each output column is unpacked once into
/// a stack buffer and every row is a vector dot product along `k`; results
/// are gathered 8 rows at a time for the vector bias + activation epilogue.
#[inline(always)]
pub(super) unsafe fn narrow<S: Simd, E: PanelElem>(
    x: &MatRef<'_>,
    n: usize,
    k: usize,
    panel0: *const E,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    let m = x.rows();
    let (lda, ldc) = (x.stride(), y.stride());
    let (x0, y0) = (x.ptr(), y.ptr());
    // Only the first k + LANES entries are ever read; no need to zero 4 KiB.
    let mut col = core::mem::MaybeUninit::<[f32; NARROW_K + 16]>::uninit();
    let cp = col.as_mut_ptr() as *mut f32;
    for j in 0..n {
        // SAFETY: k + LANES <= NARROW_K + 16 entries written before any read; the
        // first panel holds k rows of 16 elements and j < 16.
        unsafe {
            for kk in 0..k {
                *cp.add(kk) = (*panel0.add(kk * PANEL + j)).to_f32();
            }
            for kk in k..k + S::LANES {
                *cp.add(kk) = 0.0; // the tail load of the last vector reads zeros
            }
        }
        let b = bias.map_or(0.0, |b| b[j]);
        for i0 in (0..m).step_by(8) {
            let rows = (m - i0).min(8);
            // Rows past the end alias row i0 (valid memory); their sums are dropped.
            let mut xr = [x0; 8];
            for (r, p) in xr.iter_mut().enumerate() {
                // SAFETY: i0 + r < m rows (or i0 itself).
                *p = unsafe { x0.add((i0 + if r < rows { r } else { 0 }) * lda) };
            }
            let mut sums = [0f32; 16];
            // SAFETY: loads stay below k for every row and below k + LANES for `col`.
            unsafe {
                // 8 rows × one accumulator each: 8 independent FMA chains.
                let mut acc = [S::zero(); 8];
                let mut kk = 0;
                while kk + S::LANES <= k {
                    let w = S::load(cp.add(kk));
                    for (a, p) in acc.iter_mut().zip(&xr) {
                        *a = S::fma(S::load(p.add(kk)), w, *a);
                    }
                    kk += S::LANES;
                }
                if kk < k {
                    let w = S::load(cp.add(kk));
                    for (a, p) in acc.iter_mut().zip(&xr) {
                        *a = S::fma(S::load_partial(p.add(kk), k - kk), w, *a);
                    }
                }
                let v = S::add(S::reduce8(acc), S::splat(b));
                S::store(sums.as_mut_ptr(), act.apply_v::<S>(v));
            }
            for (r, s) in sums.iter().enumerate().take(rows) {
                // SAFETY: row i0 + r < m, column j < n <= ldc.
                unsafe { *y0.add((i0 + r) * ldc + j) = *s };
            }
        }
    }
}
