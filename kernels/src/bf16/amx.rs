//! The AMX-BF16 path: `tdpbf16ps` on tiles, through inline `asm!`.
//!
//! | op | instruction | why |
//! |---|---|---|
//! | configure | `ldtilecfg` / `tilerelease` | once per call: every tile 16 rows × 64 bytes |
//! | A, B tiles | `tileloadd tmm, [base + stride]` | an activation block (16 rows × 32 bf16) and a weight panel block (16 k pairs × 16 columns) are each 1 KiB contiguous, stride 64 |
//! | product | `tdpbf16ps tmm_c, tmm_a, tmm_b` | C[16×16 f32] += A[16×32 bf16]·B[32×16 bf16]: 16,384 flops per instruction |
//! | C out | `tilestored` into a 64-byte-aligned stack tile | then the AVX-512 epilogue adds bias, applies the activation and stores with masks |
//!
//! Register tile, per k block of 32:
//! ```text
//!            tmm6 = B(panel p)   tmm7 = B(panel p+1)
//! tmm4 = A(rows 16R..)   tmm0 += A·B       tmm1 += A·B
//! tmm5 = A(rows 16R+16..) tmm2 += A·B      tmm3 += A·B
//! ```
//! 4 loads per 4 products; at the matrix edges the missing tiles are
//! skipped. Padding rows and columns are zero in the packed layouts, so
//! tiles are always full; only the epilogue looks at the true m and n.

use super::dpbf16::store_row;
use super::layout::{padded_k, ActsBf16, PackedBf16, KB, RB};
use crate::{Activation, MatMut};
use core::arch::asm;
use core::arch::x86_64::*;

/// The 64-byte tile configuration (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    _reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// Tiles 0–7 all 16 rows × 64 bytes.
const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    _reserved: [0; 14],
    colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// Bytes between tile rows in both packed layouts.
const ROW_BYTES: usize = 64;

/// A C tile's contents: 16 rows × 16 f32.
#[repr(C, align(64))]
struct CTile([[f32; 16]; 16]);

/// `tileloadd tmmT, [p + 64·row]`.
///
/// # Safety
/// AMX is configured; `p` is valid for 16 rows of 64 bytes at stride 64.
#[inline(always)]
unsafe fn load<const T: u8>(p: *const u16) {
    // SAFETY: the caller's contract; the instruction reads 1 KiB from p.
    unsafe {
        asm!("tileloadd tmm{t}, [{p} + {s}*1]", t = const T, p = in(reg) p,
             s = in(reg) ROW_BYTES, options(nostack, readonly, preserves_flags));
    }
}

/// `tdpbf16ps tmmC, tmmA, tmmB`.
///
/// # Safety
/// AMX is configured and the tiles hold loaded (or zeroed) data.
#[inline(always)]
unsafe fn dp<const C: u8, const A: u8, const B: u8>() {
    // SAFETY: register-only tile arithmetic.
    unsafe {
        asm!("tdpbf16ps tmm{c}, tmm{a}, tmm{b}", c = const C, a = const A, b = const B,
             options(nostack, nomem, preserves_flags));
    }
}

/// `tilezero tmmT`.
///
/// # Safety
/// AMX is configured.
#[inline(always)]
unsafe fn zero<const T: u8>() {
    // SAFETY: register-only.
    unsafe { asm!("tilezero tmm{t}", t = const T, options(nostack, nomem, preserves_flags)) }
}

/// `tilestored [c], tmmT` (16 rows × 64 bytes).
///
/// # Safety
/// AMX is configured.
#[inline(always)]
unsafe fn store<const T: u8>(c: &mut CTile) {
    // SAFETY: `c` is 1 KiB, rows 64 bytes apart.
    unsafe {
        asm!("tilestored [{p} + {s}*1], tmm{t}", t = const T, p = in(reg) c.0.as_mut_ptr(),
             s = in(reg) ROW_BYTES, options(nostack, preserves_flags));
    }
}

/// `y = act(x·wᵀ + bias)`, shapes already checked.
///
/// # Safety
/// The CPU supports AMX-TILE, AMX-BF16 and the AVX-512 features, and this
/// thread may use tile data (the [`super::Amx`] token proves both).
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
    let (blocks, panels) = (m.div_ceil(RB), n.div_ceil(RB));
    let mut c = CTile([[0.0; 16]; 16]);
    // SAFETY: the token proves AMX and the permission; CONFIG is a valid
    // palette-1 configuration; every tile below is loaded before use.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly, preserves_flags)) };
    for p in (0..panels).step_by(2) {
        let two_p = p + 1 < panels;
        for r in (0..blocks).step_by(2) {
            let two_r = r + 1 < blocks;
            // SAFETY: row blocks r, r+1 (if two_r) and panels p, p+1 (if
            // two_p) exist; each k block b < kp/32 is 1 KiB inside them.
            unsafe {
                zero::<0>();
                zero::<1>();
                zero::<2>();
                zero::<3>();
                let a0 = x.data().as_ptr().add(r * RB * kp);
                let b0 = w.data().as_ptr().add(p * RB * kp);
                for b in 0..kp / KB {
                    let off = b * RB * KB;
                    load::<4>(a0.add(off));
                    load::<6>(b0.add(off));
                    dp::<0, 4, 6>();
                    if two_p {
                        load::<7>(b0.add(RB * kp + off));
                        dp::<1, 4, 7>();
                    }
                    if two_r {
                        load::<5>(a0.add(RB * kp + off));
                        dp::<2, 5, 6>();
                        if two_p {
                            dp::<3, 5, 7>();
                        }
                    }
                }
                store::<0>(&mut c);
                epilogue(&c, r, p, m, bias, act, y);
                if two_p {
                    store::<1>(&mut c);
                    epilogue(&c, r, p + 1, m, bias, act, y);
                }
                if two_r {
                    store::<2>(&mut c);
                    epilogue(&c, r + 1, p, m, bias, act, y);
                    if two_p {
                        store::<3>(&mut c);
                        epilogue(&c, r + 1, p + 1, m, bias, act, y);
                    }
                }
            }
        }
    }
    // SAFETY: releases the tile state this call configured.
    unsafe { asm!("tilerelease", options(nostack, nomem, preserves_flags)) };
}

/// Stores the rows of C tile (row block `r`, panel `p`) that lie below `m`.
///
/// # Safety
/// AVX-512 features; `p < ceil(n/16)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn epilogue(
    c: &CTile,
    r: usize,
    p: usize,
    m: usize,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    let rows = (m - r * RB).min(RB);
    for (i, row) in c.0.iter().enumerate().take(rows) {
        // SAFETY: row i of the tile is 16 f32; the target row r·16 + i < m
        // and panel p's first column < n.
        unsafe {
            store_row(
                _mm512_loadu_ps(row.as_ptr()),
                bias,
                act,
                y,
                r * RB + i,
                p * RB,
            )
        };
    }
}

/// `iters` rounds of four independent `tdpbf16ps` on register-resident
/// tiles (zeroed A and B, 4 C accumulators): the AMX issue rate, for peak
/// measurement. 16,384 FLOP per instruction.
///
/// # Safety
/// As [`dense`].
pub(super) unsafe fn probe(iters: u64) {
    // SAFETY: the caller's contract (AMX and the permission); every tile is
    // zeroed before use; register-only afterwards.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly, preserves_flags));
        zero::<0>();
        zero::<1>();
        zero::<2>();
        zero::<3>();
        zero::<4>();
        zero::<5>();
        zero::<6>();
        zero::<7>();
        for _ in 0..iters {
            dp::<0, 4, 6>();
            dp::<1, 4, 7>();
            dp::<2, 5, 6>();
            dp::<3, 5, 7>();
        }
        asm!("tilerelease", options(nostack, nomem, preserves_flags));
    }
}
