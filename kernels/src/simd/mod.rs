//! The vector vocabulary every generic kernel body is written in.
//!
//! One trait, [`Simd`], whose implementations carry their own lane count
//! ([`Simd::LANES`]: 8 on AVX2 and NEON, 16 on AVX-512 and on the 16-lane
//! emulation in [`pair`]) and their own register tile ([`Simd::TILE_ROWS`]
//! rows × one 16-column panel row, [`Simd::Row`], of `16 / LANES` vectors).
//! The weight panel is 16 columns on every ISA (two ymm, one zmm, four NEON
//! q-registers), so weights packed once serve every path and each output is
//! the same FMA chain along `k` whatever the width. Kernel bodies are
//! written once, in terms of `LANES` and `Row`. Every op is
//! `#[inline(always)]`: a helper that is not inlined loses the caller's
//! `#[target_feature]` and becomes a call per instruction.

use crate::PANEL;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod pair;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_512;

/// A piece of a SIMD body that [`Simd::outlined`] compiles as a function of
/// its own (one register-tile shape, for instance).
pub(crate) trait Body {
    type Output;
    /// The body, `#[inline(always)]` like [`Kernel::simd`].
    ///
    /// # Safety
    /// The CPU supports the features `S` uses.
    unsafe fn simd<S: Simd>(self) -> Self::Output;
}

/// A kernel: a scalar reference and one generic SIMD body.
pub(crate) trait Kernel {
    type Output;
    /// The scalar reference implementation.
    fn scalar(self) -> Self::Output;
    /// The SIMD body. Implementations must be `#[inline(always)]` so the body
    /// is compiled inside the ISA's `#[target_feature]` trampoline.
    ///
    /// # Safety
    /// The CPU supports the features `S` uses (guaranteed by the token that
    /// reached the trampoline).
    unsafe fn simd<S: Simd>(self) -> Self::Output;
}

/// Writes `out[j..j + L] = f(j, j+1, …, j+L−1)` for every `j` in steps of
/// `L = S::LANES` (the last block partial): the driver of every kernel whose element `i`
/// is a pure function of the index `i` (noise streams).
///
/// # Safety
/// The CPU supports the features `S` uses.
#[inline(always)]
pub(crate) unsafe fn fill_indexed<S: Simd>(out: &mut [f32], f: impl Fn(S::U) -> S::F) {
    let n = out.len();
    let op = out.as_mut_ptr();
    let mut j = 0;
    // SAFETY: stores stay below n = out.len(); `f` is register-only arithmetic
    // under `S`'s target features (the caller's guarantee).
    unsafe {
        while j < n {
            let v = f(S::uadd(S::uiota(), S::usplat(j as u32)));
            S::store_upto(op.add(j), v, n - j);
            j += S::LANES;
        }
    }
}

/// `LANES`-wide f32 / u32 vector operations. All functions are `unsafe`
/// because they may only run where the ISA's features are enabled; pointer
/// functions additionally require their pointers to be valid for the lanes
/// they touch.
#[allow(dead_code)]
pub(crate) trait Simd: Copy {
    /// f32 lanes per vector (8 or 16; at most 16).
    const LANES: usize;
    /// Rows of the dense register tile: `TILE_ROWS × 16 / LANES`
    /// accumulators, at least 8 independent FMA chains to hide the FMA
    /// latency at two FMAs per cycle.
    const TILE_ROWS: usize;
    /// The fewest rows a tail tile may have when the batch is taller than one
    /// tile; a shorter remainder is merged with the last full tile and the
    /// merged rows run as two near-equal tiles (so few-chain tiles only
    /// occur when the whole batch is short).
    const MIN_TAIL_ROWS: usize;
    /// Panels per dense register tile where the weights' panels stay valid
    /// together (plain products): 1, or 2 on ISAs with one vector per panel
    /// row and registers for `TILE_ROWS × 2` accumulators (AVX-512's 32
    /// zmm), so each broadcast feeds two FMAs.
    const TILE_PANELS: usize;
    /// f32 × `LANES`.
    type F: Copy;
    /// u32 × `LANES` (wrapping integer arithmetic).
    type U: Copy;
    /// One 16-column panel row: `16 / LANES` vectors.
    type Row: Copy + AsRef<[Self::F]> + AsMut<[Self::F]>;

    /// Runs `b.simd::<V>()` in a function of its own, compiled with this
    /// ISA's target features and never inlined into the caller. `V` is
    /// `Self` or a vocabulary built on it (`Pair<Self>`). Every register-tile
    /// shape goes through here: inlined, the dozen tile shapes of one kernel
    /// made a single function that LLVM optimised in minutes rather than
    /// seconds; apart, each is small, and a call per tile costs nanoseconds
    /// against the tile's whole `k` loop.
    ///
    /// # Safety
    /// The CPU supports this ISA's features (and `V`'s, which are the same).
    unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output;

    /// A panel row with every vector `x`. (Rows are filled by loops over
    /// `as_mut()`, never by closures: a closure that is not inlined is
    /// compiled without the caller's target features, and every intrinsic
    /// inside it becomes a call.)
    fn row_splat(x: Self::F) -> Self::Row;

    unsafe fn splat(x: f32) -> Self::F;
    unsafe fn zero() -> Self::F;
    /// Loads `LANES` f32 (unaligned).
    unsafe fn load(p: *const f32) -> Self::F;
    /// Loads `n < LANES` f32, zero-filling the rest; touches only `p[..n]`.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::F;
    /// Broadcasts `*p`.
    unsafe fn broadcast(p: *const f32) -> Self::F;
    /// Loads `LANES` f16 (as raw bits) and widens them exactly to f32.
    unsafe fn load_f16(p: *const u16) -> Self::F;
    unsafe fn store(p: *mut f32, v: Self::F);
    /// Stores lanes `0..n` (`n < LANES`); touches only `p[..n]`.
    unsafe fn store_partial(p: *mut f32, v: Self::F, n: usize);
    /// Loads `min(n, LANES)` f32, zero-filling the rest (`n > 0`).
    #[inline(always)]
    unsafe fn load_upto(p: *const f32, n: usize) -> Self::F {
        // SAFETY: the caller guarantees the features and `p[..min(n, LANES)]`.
        unsafe {
            if n >= Self::LANES {
                Self::load(p)
            } else {
                Self::load_partial(p, n)
            }
        }
    }
    /// Stores lanes `0..min(n, LANES)` (`n > 0`).
    #[inline(always)]
    unsafe fn store_upto(p: *mut f32, v: Self::F, n: usize) {
        // SAFETY: the caller guarantees the features and `p[..min(n, LANES)]`.
        unsafe {
            if n >= Self::LANES {
                Self::store(p, v)
            } else {
                Self::store_partial(p, v, n)
            }
        }
    }

    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`, fused (one rounding).
    unsafe fn fma(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// Lane-wise max; if either lane is NaN the result is the other... on no
    /// ISA we rely on that: callers only pass finite or ±0 operands.
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn min(a: Self::F, b: Self::F) -> Self::F;
    /// All-ones lanes where `a < b`.
    unsafe fn lt(a: Self::F, b: Self::F) -> Self::F;
    /// `mask ? t : f` per lane (mask lanes all-ones or all-zeros).
    unsafe fn select(mask: Self::F, t: Self::F, f: Self::F) -> Self::F;
    unsafe fn and(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn or(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn xor(a: Self::F, b: Self::F) -> Self::F;
    /// Horizontal sum (order: pairwise, ISA-specific).
    unsafe fn reduce_add(a: Self::F) -> f32;
    /// Lane `i < 8` of the result is the horizontal sum of `a[i]` (a
    /// transpose-add); lanes 8 and above (16-lane ISAs) are zero.
    #[inline(always)]
    unsafe fn reduce8(a: [Self::F; 8]) -> Self::F {
        let mut t = [0f32; 16];
        for (o, v) in t.iter_mut().zip(a) {
            // SAFETY: the caller guarantees `S`'s target features.
            *o = unsafe { Self::reduce_add(v) };
        }
        // SAFETY: `t` holds 16 ≥ LANES floats; the caller guarantees the features.
        unsafe { Self::load(t.as_ptr()) }
    }

    unsafe fn usplat(x: u32) -> Self::U;
    /// `[0, 1, ..., LANES − 1]`.
    unsafe fn uiota() -> Self::U;
    unsafe fn uadd(a: Self::U, b: Self::U) -> Self::U;
    /// Low 32 bits of the product.
    unsafe fn umul(a: Self::U, b: Self::U) -> Self::U;
    unsafe fn uxor(a: Self::U, b: Self::U) -> Self::U;
    unsafe fn uand(a: Self::U, b: Self::U) -> Self::U;
    unsafe fn ushr<const N: i32>(a: Self::U) -> Self::U;
    unsafe fn ushl<const N: i32>(a: Self::U) -> Self::U;
    /// The sum of each lane's four bytes (exact; at most 1020).
    unsafe fn byte_sum(a: Self::U) -> Self::U;
    /// Converts lanes holding values below 2³¹ to f32 (exact below 2²⁴).
    unsafe fn u_to_f(a: Self::U) -> Self::F;
    /// Bit-casts.
    unsafe fn f_as_u(a: Self::F) -> Self::U;
    unsafe fn u_as_f(a: Self::U) -> Self::F;
    /// Truncating f32 → i32 conversion (lanes assumed in range), as u32 bits.
    unsafe fn f_to_i(a: Self::F) -> Self::U;
}

/// Loads one panel row of 16 elements as [`Simd::Row`].
///
/// # Safety
/// `p[..16]` readable; `S`'s features available.
#[inline(always)]
pub(crate) unsafe fn load_row<S: Simd, E: crate::pack::PanelElem>(p: *const E) -> S::Row {
    // SAFETY: vector v reads p[v·LANES..(v+1)·LANES], inside p[..16].
    unsafe {
        let mut r = S::row_splat(S::zero());
        for (v, x) in r.as_mut().iter_mut().enumerate() {
            *x = E::load_lanes::<S>(p.add(v * S::LANES));
        }
        r
    }
}

/// `acc = x·b + acc` on every vector of a panel row, with constant
/// indices. (An iterator over `as_mut()` here leaves the accumulators in a
/// stack array that the k loop stores to after every FMA; constant indices
/// let the optimiser keep them in registers.)
///
/// # Safety
/// `S`'s features available.
#[inline(always)]
pub(crate) unsafe fn row_fma<S: Simd>(x: S::F, b: &S::Row, acc: &mut S::Row) {
    const { assert!(PANEL / S::LANES >= 1 && PANEL / S::LANES <= 4) };
    let (b, a) = (b.as_ref(), acc.as_mut());
    // SAFETY: the caller guarantees `S`'s features; `Row` holds
    // `PANEL / LANES` vectors, so every index below is in bounds.
    unsafe {
        a[0] = S::fma(x, b[0], a[0]);
        if PANEL / S::LANES >= 2 {
            a[1] = S::fma(x, b[1], a[1]);
        }
        if PANEL / S::LANES >= 4 {
            a[2] = S::fma(x, b[2], a[2]);
            a[3] = S::fma(x, b[3], a[3]);
        }
    }
}

/// Loads `n` (≤ 16) floats as a panel row, zero-filling the rest.
///
/// # Safety
/// `p[..n]` readable; `S`'s features available.
#[inline(always)]
pub(crate) unsafe fn load_row_upto<S: Simd>(p: *const f32, n: usize) -> S::Row {
    // SAFETY: only lanes below n are touched.
    unsafe {
        let mut r = S::row_splat(S::zero());
        for (v, x) in r.as_mut().iter_mut().enumerate() {
            let j = v * S::LANES;
            if j < n {
                *x = S::load_upto(p.add(j), n - j);
            }
        }
        r
    }
}

/// Stores the first `n` (≤ 16) lanes of a panel row.
///
/// # Safety
/// `p[..n]` writable; `S`'s features available.
#[inline(always)]
pub(crate) unsafe fn store_row_upto<S: Simd>(p: *mut f32, r: &S::Row, n: usize) {
    for (v, x) in r.as_ref().iter().enumerate() {
        let j = v * S::LANES;
        if j < n {
            // SAFETY: only lanes below n are written.
            unsafe { S::store_upto(p.add(j), *x, n - j) };
        }
    }
}
