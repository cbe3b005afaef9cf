//! Weight packing: `W` (n outputs × k inputs, row-major, PyTorch's
//! `Linear.weight` layout) into panels of 16 output columns.
//!
//! ```text
//! panel p = columns 16p .. 16p+15 of Wᵀ, stored k rows × 16 lanes:
//!   data[p·16·k + kk·16 + j] = W[16p + j][kk]     (0 where 16p + j ≥ n)
//! ```
//! One panel row is exactly the two 8-lane vectors the micro-kernel loads per
//! step, so the inner loop reads weights with unit stride and no bounds
//! logic; the zero padding makes the column tail free. Packing also removes
//! power-of-two row strides (L1 set conflicts cost ≈ 20 % unpacked).
//! Pack once at load time; the kernels only read.

use crate::error::{need, same, KernelError};
use crate::PANEL;
use half::f16;

/// Elements a packed `n × k` matrix occupies: `ceil(n/16)·16·k`.
pub fn packed_len(n: usize, k: usize) -> usize {
    n.div_ceil(PANEL)
        .checked_mul(PANEL)
        .and_then(|v| v.checked_mul(k))
        .unwrap_or(usize::MAX)
}

#[inline]
fn packed_index(j: usize, kk: usize, k: usize) -> usize {
    (j / PANEL) * PANEL * k + kk * PANEL + (j % PANEL)
}

fn check(w_len: usize, n: usize, k: usize, out_len: usize) -> Result<usize, KernelError> {
    let len = packed_len(n, k);
    if len == usize::MAX || n.checked_mul(k).is_none() || n * k > u32::MAX as usize {
        return Err(KernelError::OutOfRange {
            what: "weight shape",
        });
    }
    need("weights", n * k, w_len)?;
    need("packed buffer", len, out_len)?;
    Ok(len)
}

/// 64 bytes of f32 storage aligned to a cache line. Allocate packed weights
/// as `Vec<Block32>` (or `[Block32; N]`) and view them with
/// [`as_f32_mut`]: panel rows are 64 bytes, so with a 64-byte-aligned base no
/// weight load ever splits a cache line (unaligned bases cost 20–40 % on
/// Zen 3 when every other load splits).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
pub struct Block32(pub [f32; 16]);

/// 64 bytes of f16 storage aligned to a cache line (two f16 panel rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Block16(pub [u16; 32]);

// SAFETY: both are repr(C) arrays of plain numbers whose size (64) equals
// their alignment, so there is no padding and every bit pattern is valid.
unsafe impl bytemuck::Zeroable for Block32 {}
unsafe impl bytemuck::Pod for Block32 {}
unsafe impl bytemuck::Zeroable for Block16 {}
unsafe impl bytemuck::Pod for Block16 {}

/// Number of [`Block32`] (or [`Block16`], for f16) that hold a packed
/// `n × k` matrix (rounded up).
pub fn blocks_f32(n: usize, k: usize) -> usize {
    packed_len(n, k).div_ceil(16)
}
/// Number of [`Block16`] that hold a packed f16 `n × k` matrix.
pub fn blocks_f16(n: usize, k: usize) -> usize {
    packed_len(n, k).div_ceil(32)
}
/// Views aligned blocks as f32 storage.
pub fn as_f32_mut(blocks: &mut [Block32]) -> &mut [f32] {
    bytemuck::cast_slice_mut(blocks)
}
/// Views aligned blocks as f16 (bit) storage.
pub fn as_u16_mut(blocks: &mut [Block16]) -> &mut [u16] {
    bytemuck::cast_slice_mut(blocks)
}

/// Packed f32 weights (a borrowed view).
#[derive(Clone, Copy, Debug)]
pub struct PackedF32<'a> {
    data: &'a [f32],
    n: usize,
    k: usize,
    /// Panel height of the storage (the parent's `k` for a column view).
    ld: usize,
    /// First parent column of this view.
    k0: usize,
}

/// Packed f16-stored weights (raw IEEE binary16 bits; f32 accumulation).
#[derive(Clone, Copy, Debug)]
pub struct PackedF16<'a> {
    data: &'a [u16],
    n: usize,
    k: usize,
    /// Panel height of the storage (the parent's `k` for a column view).
    ld: usize,
    /// First parent column of this view.
    k0: usize,
}

/// Packed weights of either storage type.
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// f32 storage.
    F32(PackedF32<'a>),
    /// f16 storage.
    F16(PackedF16<'a>),
}

/// Fills the packed layout: `out[packed_index(j, kk)] = get(j·k + kk)`,
/// padding lanes `zero`. Shapes are checked by the callers.
fn pack_with<T: Copy>(out: &mut [T], zero: T, n: usize, k: usize, get: impl Fn(usize) -> T) {
    out.fill(zero);
    for j in 0..n {
        for kk in 0..k {
            out[packed_index(j, kk, k)] = get(j * k + kk);
        }
    }
}

/// Packs row-major f32 `w` (n × k) into `out` (at least [`packed_len`]).
pub fn pack_f32<'a>(
    w: &[f32],
    n: usize,
    k: usize,
    out: &'a mut [f32],
) -> Result<PackedF32<'a>, KernelError> {
    let len = check(w.len(), n, k, out.len())?;
    let out = &mut out[..len];
    pack_with(out, 0.0, n, k, |i| w[i]);
    Ok(PackedF32 {
        data: out,
        n,
        k,
        ld: k,
        k0: 0,
    })
}

/// Packs row-major f32 `w` into f16 storage (round to nearest even; values
/// beyond ±65504 become ±∞ — callers check finiteness of what they load).
pub fn pack_f16<'a>(
    w: &[f32],
    n: usize,
    k: usize,
    out: &'a mut [u16],
) -> Result<PackedF16<'a>, KernelError> {
    let len = check(w.len(), n, k, out.len())?;
    let out = &mut out[..len];
    pack_with(out, 0, n, k, |i| f16::from_f32(w[i]).to_bits());
    Ok(PackedF16 {
        data: out,
        n,
        k,
        ld: k,
        k0: 0,
    })
}

/// Packs row-major f16 bits `w` (as stored in a weight file) without rounding.
pub fn pack_f16_bits<'a>(
    w: &[u16],
    n: usize,
    k: usize,
    out: &'a mut [u16],
) -> Result<PackedF16<'a>, KernelError> {
    let len = check(w.len(), n, k, out.len())?;
    let out = &mut out[..len];
    pack_with(out, 0, n, k, |i| w[i]);
    Ok(PackedF16 {
        data: out,
        n,
        k,
        ld: k,
        k0: 0,
    })
}

macro_rules! packed_common {
    ($t:ident, $e:ty) => {
        impl<'a> $t<'a> {
            /// Views storage previously filled by the matching `pack_*` call.
            pub fn from_packed(data: &'a [$e], n: usize, k: usize) -> Result<Self, KernelError> {
                let len = packed_len(n, k);
                if len == usize::MAX || n.saturating_mul(k) > u32::MAX as usize {
                    return Err(KernelError::OutOfRange { what: "weight shape" });
                }
                same("packed buffer length", len, data.len())?;
                Ok(Self {
                    data,
                    n,
                    k,
                    ld: k,
                    k0: 0,
                })
            }
            /// Output features (rows of `W`).
            pub fn n(&self) -> usize {
                self.n
            }
            /// Input features (columns of `W`).
            pub fn k(&self) -> usize {
                self.k
            }
            /// The whole packed storage (for a column view, the parent's).
            pub fn data(&self) -> &'a [$e] {
                self.data
            }
            /// The sub-matrix of input columns `k0..k1` (`W[:, k0..k1]`), a
            /// view of the same storage: `x·W[:, k0..k1]ᵀ` is the part of a
            /// layer's pre-activation contributed by that slice of its input
            /// (how a concatenated input is split into precomputable parts).
            pub fn columns(&self, k0: usize, k1: usize) -> Result<Self, KernelError> {
                if k0 > k1 || k1 > self.k {
                    return Err(KernelError::OutOfRange {
                        what: "column range",
                    });
                }
                Ok(Self {
                    k: k1 - k0,
                    k0: self.k0 + k0,
                    ..*self
                })
            }
            pub(crate) fn panel_ptr(&self, p: usize) -> *const $e {
                // In bounds: p < ceil(n/16), data.len() == packed_len(n, ld)
                // and k0 + k <= ld, so the k panel rows from here are inside.
                self.data[p * PANEL * self.ld + self.k0 * PANEL..].as_ptr()
            }
        }
    };
}
packed_common!(PackedF32, f32);
packed_common!(PackedF16, u16);

impl<'a> PackedF32<'a> {
    /// `W[j][kk]`.
    pub fn get(&self, j: usize, kk: usize) -> f32 {
        self.data[packed_index(j, self.k0 + kk, self.ld)]
    }
    /// As [`Weights`].
    pub fn as_weights(self) -> Weights<'a> {
        Weights::F32(self)
    }
}

impl<'a> PackedF16<'a> {
    /// `W[j][kk]`, widened to f32.
    pub fn get(&self, j: usize, kk: usize) -> f32 {
        f16::from_bits(self.data[packed_index(j, self.k0 + kk, self.ld)]).to_f32()
    }
    /// As [`Weights`].
    pub fn as_weights(self) -> Weights<'a> {
        Weights::F16(self)
    }
}

impl<'a> Weights<'a> {
    /// Output features.
    pub fn n(&self) -> usize {
        match self {
            Weights::F32(w) => w.n,
            Weights::F16(w) => w.n,
        }
    }
    /// Input features.
    pub fn k(&self) -> usize {
        match self {
            Weights::F32(w) => w.k,
            Weights::F16(w) => w.k,
        }
    }
    /// `W[j][kk]` as f32.
    pub fn get(&self, j: usize, kk: usize) -> f32 {
        match self {
            Weights::F32(w) => w.get(j, kk),
            Weights::F16(w) => w.get(j, kk),
        }
    }
    /// The view of input columns `k0..k1` (see [`PackedF32::columns`]).
    pub fn columns(&self, k0: usize, k1: usize) -> Result<Self, KernelError> {
        Ok(match self {
            Weights::F32(w) => Weights::F32(w.columns(k0, k1)?),
            Weights::F16(w) => Weights::F16(w.columns(k0, k1)?),
        })
    }
}

impl<'a> From<PackedF32<'a>> for Weights<'a> {
    fn from(w: PackedF32<'a>) -> Self {
        Weights::F32(w)
    }
}
impl<'a> From<PackedF16<'a>> for Weights<'a> {
    fn from(w: PackedF16<'a>) -> Self {
        Weights::F16(w)
    }
}

/// An element type a weight panel can be stored in.
pub(crate) trait PanelElem: Copy {
    /// Loads `S::LANES` consecutive elements as f32.
    ///
    /// # Safety
    /// `p[..S::LANES]` readable; ISA features of `S` available.
    unsafe fn load_lanes<S: crate::simd::Simd>(p: *const Self) -> S::F;
    /// One element as f32.
    fn to_f32(self) -> f32;
}

impl PanelElem for f32 {
    #[inline(always)]
    unsafe fn load_lanes<S: crate::simd::Simd>(p: *const f32) -> S::F {
        // SAFETY: the caller guarantees `S`'s target features and that `p` is valid for the lanes read or written.
        unsafe { S::load(p) }
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl PanelElem for u16 {
    #[inline(always)]
    unsafe fn load_lanes<S: crate::simd::Simd>(p: *const u16) -> S::F {
        // SAFETY: the caller guarantees `S`'s target features and that `p` is valid for the lanes read or written.
        unsafe { S::load_f16(p) }
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::from_bits(self).to_f32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_padding() {
        let (n, k) = (17, 3);
        let w: [f32; 51] = core::array::from_fn(|i| i as f32 + 1.0);
        let mut buf = [f32::NAN; 96];
        let p = pack_f32(&w, n, k, &mut buf).unwrap();
        for j in 0..n {
            for kk in 0..k {
                assert_eq!(p.get(j, kk), w[j * k + kk]);
            }
        }
        // Second panel: only lane 0 is a real column; the rest is zero.
        assert_eq!(buf[48], w[16 * 3]);
        assert!(buf[49..64].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn column_views_index_the_parent() {
        let (n, k) = (19, 7);
        let w: [f32; 133] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
        let mut buf = [0.0f32; 224];
        let p = pack_f32(&w, n, k, &mut buf).unwrap();
        let v = p.columns(2, 6).unwrap();
        assert_eq!((v.n(), v.k()), (n, 4));
        let vv = v.columns(1, 3).unwrap();
        for j in 0..n {
            for kk in 0..4 {
                assert_eq!(v.get(j, kk), w[j * k + 2 + kk]);
            }
            for kk in 0..2 {
                assert_eq!(vv.get(j, kk), w[j * k + 3 + kk]);
            }
        }
        assert_eq!(p.columns(7, 7).unwrap().k(), 0);
        assert!(p.columns(3, 8).is_err());
        assert!(p.columns(4, 3).is_err());
        assert!(v.columns(0, 5).is_err());
    }

    #[test]
    fn short_buffers_are_errors() {
        let w = [0.0f32; 6];
        let mut out = [0.0f32; 31];
        assert!(matches!(
            pack_f32(&w, 2, 3, &mut out),
            Err(KernelError::BufferTooSmall { .. })
        ));
        let mut out = [0.0f32; 48];
        assert!(pack_f32(&w[..5], 2, 3, &mut out).is_err());
    }
}
