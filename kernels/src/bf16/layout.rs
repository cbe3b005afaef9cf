//! bf16 rounding and the two packed layouts of the bf16 product.
//!
//! Both layouts are built from 64-byte rows — one zmm, one AMX tile row —
//! and pad `k` to a multiple of [`KB`] = 32 (one AMX tile row of bf16):
//!
//! ```text
//! weights (PackedBf16), panel p = columns 16p .. 16p+15, k-pair q:
//!   data[p·16·kp + q·32 + 2j + e] = bf16(W[16p + j][2q + e])      e ∈ {0, 1}
//!   (one row = the 16 columns' pairs: a vdpbf16ps operand, an AMX B-tile row)
//!
//! activations (ActsBf16), row block R = rows 16R .. 16R+15, k block b:
//!   data[R·16·kp + b·512 + 32r + c] = bf16(X[16R + r][32b + c])
//!   (one 1 KiB block = an AMX A tile; the pair (c, c+1) of row r is the
//!    32-bit broadcast of the vdpbf16ps path, at a constant offset 64·r)
//! ```
//! Padding (columns ≥ n, rows ≥ m, k ≥ the true k) is zero, so it adds
//! nothing to any sum.
//!
//! Rounding ([`to_bf16`]) is round-to-nearest-even with f32 subnormals
//! flushed to a signed zero and NaN kept quiet — what `vcvtne2ps2bf16`
//! does — so the scalar and vector conversions give the same bits and no
//! packed value is subnormal (the hardware dot products treat subnormal
//! inputs as zero).

use crate::error::{need, KernelError};
use crate::MatRef;

/// k values per block: one AMX tile row of bf16 (64 bytes).
pub const KB: usize = 32;
/// Rows per activation block (one AMX A tile) and columns per weight panel.
pub const RB: usize = 16;

/// `k` rounded up to a multiple of [`KB`].
pub fn padded_k(k: usize) -> usize {
    k.div_ceil(KB) * KB
}

/// f32 → bf16 bits: round to nearest even; subnormals flush to a signed
/// zero; NaN stays NaN (quiet).
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) as u16) | 0x0040;
    }
    if b & 0x7f80_0000 == 0 {
        return ((b >> 16) as u16) & 0x8000;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

/// bf16 bits → f32 (exact).
#[inline]
pub fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// bf16 bits as stored by [`pack_bf16_bits`]: subnormals flushed to a
/// signed zero (as [`to_bf16`] does), everything else unchanged.
#[inline]
fn flush(b: u16) -> u16 {
    if b & 0x7f80 == 0 {
        b & 0x8000
    } else {
        b
    }
}

/// Elements (u16) of packed `n × k` bf16 weights: `ceil(n/16)·16·padded_k(k)`.
pub fn packed_len_bf16(n: usize, k: usize) -> usize {
    n.div_ceil(RB)
        .checked_mul(RB)
        .and_then(|v| v.checked_mul(padded_k(k)))
        .unwrap_or(usize::MAX)
}

/// Elements (u16) of rounded `m × k` activations: `ceil(m/16)·16·padded_k(k)`.
pub fn acts_len(m: usize, k: usize) -> usize {
    packed_len_bf16(m, k)
}

#[inline]
fn weight_index(j: usize, kk: usize, kp: usize) -> usize {
    (j / RB) * RB * kp + (kk / 2) * 32 + (j % RB) * 2 + (kk & 1)
}

#[inline]
pub(crate) fn act_index(i: usize, kk: usize, kp: usize) -> usize {
    (i / RB) * RB * kp + (kk / KB) * (RB * KB) + (i % RB) * KB + (kk % KB)
}

fn check_shape(what: &'static str, rows: usize, k: usize) -> Result<usize, KernelError> {
    let len = packed_len_bf16(rows, k);
    if len == usize::MAX || rows.checked_mul(k).is_none() || len > u32::MAX as usize {
        return Err(KernelError::OutOfRange { what });
    }
    Ok(len)
}

/// Packed bf16 weights (a borrowed view), in the pair-panel layout.
#[derive(Clone, Copy, Debug)]
pub struct PackedBf16<'a> {
    data: &'a [u16],
    n: usize,
    k: usize,
}

impl<'a> PackedBf16<'a> {
    /// Views storage filled by [`pack_bf16`], [`pack_bf16_bits`] or
    /// [`crate::bf16::Bf16Backend::perturb`] (exactly
    /// [`packed_len_bf16`]`(n, k)` elements). The padding of `k` is checked
    /// to be zero (it enters every sum); padded columns only reach outputs
    /// that are never written. Subnormal bf16 values (which the packers
    /// flush) are read as zero on every path.
    pub fn from_packed(data: &'a [u16], n: usize, k: usize) -> Result<Self, KernelError> {
        let len = check_shape("weight shape", n, k)?;
        crate::error::same("packed buffer length", len, data.len())?;
        let kp = padded_k(k);
        if kp == 0 {
            return Ok(PackedBf16 { data, n, k });
        }
        for panel in data.chunks_exact(RB * kp) {
            // Pairs from k/2 on hold at least one padded value.
            for (q, row) in panel.chunks_exact(32).enumerate().skip(k / 2) {
                let pad = row.iter().enumerate().filter(|(i, _)| 2 * q + (i & 1) >= k);
                if pad.into_iter().any(|(_, v)| *v != 0) {
                    return Err(KernelError::OutOfRange {
                        what: "bf16 k padding",
                    });
                }
            }
        }
        Ok(PackedBf16 { data, n, k })
    }
    /// Output count.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Input count (unpadded).
    pub fn k(&self) -> usize {
        self.k
    }
    /// The packed storage.
    pub fn data(&self) -> &'a [u16] {
        self.data
    }
    /// Weight `W[j][kk]` as f32 (the stored bf16, widened exactly).
    pub fn get(&self, j: usize, kk: usize) -> f32 {
        from_bf16(self.data[weight_index(j, kk, padded_k(self.k))])
    }
}

fn pack_with<'a>(
    w_len: usize,
    n: usize,
    k: usize,
    out: &'a mut [u16],
    get: impl Fn(usize) -> u16,
) -> Result<PackedBf16<'a>, KernelError> {
    let len = check_shape("weight shape", n, k)?;
    need("weights", n * k, w_len)?;
    need("packed buffer", len, out.len())?;
    let out = &mut out[..len];
    out.fill(0);
    let kp = padded_k(k);
    for j in 0..n {
        for kk in 0..k {
            out[weight_index(j, kk, kp)] = get(j * k + kk);
        }
    }
    Ok(PackedBf16 { data: out, n, k })
}

/// Rounds row-major f32 `w` (n × k, PyTorch's `Linear.weight` layout) to
/// bf16 and packs it into `out` (at least [`packed_len_bf16`] elements;
/// 64-byte aligned storage, e.g. [`crate::pack::Block16`], keeps every row
/// in one cache line).
pub fn pack_bf16<'a>(
    w: &[f32],
    n: usize,
    k: usize,
    out: &'a mut [u16],
) -> Result<PackedBf16<'a>, KernelError> {
    pack_with(w.len(), n, k, out, |i| to_bf16(w[i]))
}

/// Packs row-major bf16 bits (n × k, e.g. a safetensors `BF16` tensor)
/// without rounding; subnormals are flushed to a signed zero.
pub fn pack_bf16_bits<'a>(
    w: &[u16],
    n: usize,
    k: usize,
    out: &'a mut [u16],
) -> Result<PackedBf16<'a>, KernelError> {
    pack_with(w.len(), n, k, out, |i| flush(w[i]))
}

/// Activations rounded to bf16 in the row-block layout (a borrowed view).
/// Made by [`crate::bf16::Bf16Backend::round`].
#[derive(Clone, Copy, Debug)]
pub struct ActsBf16<'a> {
    data: &'a [u16],
    m: usize,
    k: usize,
}

impl<'a> ActsBf16<'a> {
    /// Views a buffer that [`crate::bf16::Bf16Backend::round`] filled for an
    /// `m × k` input (exactly [`acts_len`]`(m, k)` elements), e.g. to reuse
    /// one rounding across several products. The padding (rows ≥ m, k ≥ the
    /// true k) is checked to be zero: it enters every sum. Subnormal values
    /// are read as zero on every path.
    pub fn from_rounded(data: &'a [u16], m: usize, k: usize) -> Result<Self, KernelError> {
        let len = check_shape("activation shape", m, k)?;
        crate::error::same("activation buffer length", len, data.len())?;
        let kp = padded_k(k);
        for i in 0..m.div_ceil(RB) * RB {
            for b in 0..kp / KB {
                let row = &data[act_index(i, b * KB, kp)..][..KB];
                let valid = if i < m {
                    k.saturating_sub(b * KB).min(KB)
                } else {
                    0
                };
                if row[valid..].iter().any(|v| *v != 0) {
                    return Err(KernelError::OutOfRange {
                        what: "bf16 activation padding",
                    });
                }
            }
        }
        Ok(ActsBf16 { data, m, k })
    }
    /// Row count (unpadded).
    pub fn rows(&self) -> usize {
        self.m
    }
    /// Column count (unpadded).
    pub fn cols(&self) -> usize {
        self.k
    }
    /// The packed storage.
    pub fn data(&self) -> &'a [u16] {
        self.data
    }
    /// Element `X[i][kk]` as f32 (the rounded value, widened exactly).
    pub fn get(&self, i: usize, kk: usize) -> f32 {
        from_bf16(self.data[act_index(i, kk, padded_k(self.k))])
    }
}

/// Checks `out` for `x` and returns the used prefix (not yet written).
pub(crate) fn acts_buffer<'a>(
    x: &MatRef<'_>,
    out: &'a mut [u16],
) -> Result<&'a mut [u16], KernelError> {
    let len = check_shape("activation shape", x.rows(), x.cols())?;
    need("activation buffer", len, out.len())?;
    Ok(&mut out[..len])
}

/// Wraps a buffer that [`round_scalar`] or a vector path has filled.
pub(crate) fn acts_view<'a>(data: &'a [u16], m: usize, k: usize) -> ActsBf16<'a> {
    ActsBf16 { data, m, k }
}

/// The scalar rounding of `x` into `out` (already checked by [`acts_buffer`]).
pub(crate) fn round_scalar(x: &MatRef<'_>, out: &mut [u16]) {
    out.fill(0);
    let kp = padded_k(x.cols());
    for i in 0..x.rows() {
        for (kk, &v) in x.row(i).iter().enumerate() {
            out[act_index(i, kk, kp)] = to_bf16(v);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn rounding_is_nearest_even_with_flushed_subnormals() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties to even (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties to even (up).
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert_eq!(to_bf16(f32::from_bits(1)), 0);
        assert_eq!(to_bf16(-f32::from_bits(0x007f_ffff)), 0x8000);
        assert_eq!(to_bf16(f32::MAX), 0x7f80, "overflow rounds to +∞");
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(0x4049), 3.140625);
    }

    #[test]
    fn layouts_place_and_pad() {
        let (n, k) = (17, 33);
        let w: std::vec::Vec<f32> = (0..n * k).map(|i| i as f32).collect();
        let mut buf = std::vec![7u16; packed_len_bf16(n, k)];
        let p = pack_bf16(&w, n, k, &mut buf).unwrap();
        assert_eq!(p.data().len(), 2 * 16 * 64);
        for j in 0..n {
            for kk in 0..k {
                assert_eq!(p.get(j, kk), from_bf16(to_bf16(w[j * k + kk])));
            }
        }
        // Column 17 and k ≥ 33 are zero padding.
        assert_eq!(p.data()[weight_index(17, 0, 64)], 0);
        assert_eq!(p.data()[weight_index(3, 40, 64)], 0);
        assert!(pack_bf16(&w[1..], n, k, &mut buf).is_err());
        let mut short = [0u16; 10];
        assert!(pack_bf16(&w, n, k, &mut short).is_err());
    }
}
