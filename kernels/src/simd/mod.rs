//! The vector vocabulary every generic kernel body is written in.
//!
//! One trait, [`Simd`], with 8 f32 lanes and 8 u32 lanes on every ISA:
//! one `__m256` on AVX2, a pair of `float32x4_t` on NEON. Keeping the width
//! equal means the register tile (6 rows × 16 columns = 6 × 2 vectors) and
//! every loop bound are the same on both, so the kernel bodies are written
//! once. Every op is `#[inline(always)]`: a helper that is not inlined loses
//! the caller's `#[target_feature]` and becomes a call per instruction.

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

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

/// Writes `out[j..j + 8] = f(j, j+1, …, j+7)` for every `j` in steps of 8
/// (the last block partial): the driver of every kernel whose element `i`
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
            let w = (n - j).min(8);
            if w == 8 {
                S::store(op.add(j), v);
            } else {
                S::store_partial(op.add(j), v, w);
            }
            j += 8;
        }
    }
}

/// 8-lane f32 / u32 vector operations. All functions are `unsafe` because
/// they may only run where the ISA's features are enabled; pointer functions
/// additionally require their pointers to be valid for the lanes they touch.
#[allow(dead_code)]
pub(crate) trait Simd: Copy {
    /// f32 × 8.
    type F: Copy;
    /// u32 × 8 (wrapping integer arithmetic).
    type U: Copy;

    unsafe fn splat(x: f32) -> Self::F;
    unsafe fn zero() -> Self::F;
    /// Loads 8 f32 (unaligned).
    unsafe fn load(p: *const f32) -> Self::F;
    /// Loads `n < 8` f32, zero-filling the rest; touches only `p[..n]`.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::F;
    /// Broadcasts `*p`.
    unsafe fn broadcast(p: *const f32) -> Self::F;
    /// Loads 8 f16 (as raw bits) and widens them exactly to f32.
    unsafe fn load_f16(p: *const u16) -> Self::F;
    unsafe fn store(p: *mut f32, v: Self::F);
    /// Stores lanes `0..n` (`n < 8`); touches only `p[..n]`.
    unsafe fn store_partial(p: *mut f32, v: Self::F, n: usize);

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
    /// Lane `i` of the result is the horizontal sum of `a[i]` (a transpose-add).
    #[inline(always)]
    unsafe fn reduce8(a: [Self::F; 8]) -> Self::F {
        let mut t = [0f32; 8];
        for (o, v) in t.iter_mut().zip(a) {
            // SAFETY: the caller guarantees `S`'s target features; `t` is a local 8-lane array.
            *o = unsafe { Self::reduce_add(v) };
        }
        // SAFETY: the caller guarantees `S`'s target features; `t` is a local 8-lane array.
        unsafe { Self::load(t.as_ptr()) }
    }

    unsafe fn usplat(x: u32) -> Self::U;
    /// `[0, 1, ..., 7]`.
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
