//! Selection over score vectors: arg-max, masked arg-max, top-k, Gumbel-max
//! sampling, log-softmax, and enumeration of ordered selections (top
//! permutations). Scalar, allocation-free, panic-free.
//!
//! # Order, NaN and ties
//!
//! Every ranking here uses one total order on `(score, index)` pairs:
//!
//! * a larger score ranks first;
//! * NaN ranks **below** every number, including `-∞` (so a NaN score is
//!   only chosen when nothing else is left — it is never silently promoted,
//!   and it never poisons the comparison of the other scores);
//! * equal scores tie, and ties go to the **lowest index**. `-0.0` and
//!   `+0.0` are equal (IEEE comparison), and all NaNs are equal to each other.
//!
//! So [`argmax`] over a non-empty slice always returns an index, even when
//! every score is NaN (then it is `Some(0)`): NaN still ranks, just last.
//! "Nothing to choose" is expressed as `None`, never as a sentinel index.
//!
//! [`gumbel_argmax`] and [`log_softmax`] have their own non-finite rules,
//! documented on each function.

use crate::math::{exp, ln, ln_pos_v};
use crate::rng::{hash_v, splitmix64, uniform01, UNIFORM_TAG};
use crate::simd::{fill_indexed, Kernel, Simd};
use crate::{Backend, KernelError};

/// `true` if `a` ranks strictly above `b` in the total order of the module
/// docs (NaN lowest; equal values, including ±0 and NaN/NaN, tie).
#[inline]
fn ranks_above(a: f32, b: f32) -> bool {
    a > b || (b.is_nan() && !a.is_nan())
}

/// Index of the best score (largest; NaN lowest; ties to the lowest index).
///
/// Returns `None` only for an empty slice. All-NaN input returns `Some(0)`,
/// because NaN still ranks (below everything else) — see the module docs.
///
/// ```
/// use last_kernels::select::argmax;
/// assert_eq!(argmax(&[1.0, f32::NAN, 3.0, 3.0]), Some(2));
/// assert_eq!(argmax(&[]), None);
/// ```
pub fn argmax(scores: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in scores.iter().enumerate() {
        match best {
            Some((_, b)) if !ranks_above(s, b) => {}
            _ => best = Some((i, s)),
        }
    }
    best.map(|(i, _)| i)
}

/// Index of the best score among indices `i` with `taken[i] == false`
/// (pointer-network decoding: already emitted items are masked out).
///
/// Same order as [`argmax`]. Returns `Ok(None)` when every index is masked
/// (or the input is empty), and [`KernelError::ShapeMismatch`] when
/// `taken.len() != scores.len()`.
pub fn argmax_masked(scores: &[f32], taken: &[bool]) -> Result<Option<usize>, KernelError> {
    crate::error::same("taken", scores.len(), taken.len())?;
    let mut best: Option<(usize, f32)> = None;
    for (i, (&s, &t)) in scores.iter().zip(taken).enumerate() {
        if t {
            continue;
        }
        match best {
            Some((_, b)) if !ranks_above(s, b) => {}
            _ => best = Some((i, s)),
        }
    }
    Ok(best.map(|(i, _)| i))
}

/// Writes the indices of the `min(k, n)` best scores, best first, into
/// `out[..min(k, n)]` and returns how many it wrote (so callers can keep a
/// fixed buffer and rank a prefix without allocating).
///
/// Same order as [`argmax`] (NaN last, ties to the lowest index), so the
/// result equals the first `min(k, n)` entries of a stable sort by that
/// order. Cost is `O(n·min(k, n))` (insertion into the output). Returns
/// [`KernelError::BufferTooSmall`] if `out.len() < min(k, n)`, writing
/// nothing.
///
/// ```
/// use last_kernels::select::top_k;
/// let scores = [0.5, f32::NAN, 2.0, -1.0, 2.0];
/// let mut out = [0usize; 3];
/// let written = top_k(&scores, 3, &mut out).unwrap();
/// assert_eq!(&out[..written], &[2, 4, 0]);
/// ```
pub fn top_k(scores: &[f32], k: usize, out: &mut [usize]) -> Result<usize, KernelError> {
    let m = k.min(scores.len());
    crate::error::need("out", m, out.len())?;
    if m == 0 {
        return Ok(0);
    }
    let out = &mut out[..m];
    let mut count = 0usize;
    for (i, &s) in scores.iter().enumerate() {
        // Later indices lose ties, so the new item goes after every kept item
        // it does not strictly beat.
        let pos = out[..count]
            .iter()
            .position(|&j| scores.get(j).is_some_and(|&sj| ranks_above(s, sj)))
            .unwrap_or(count);
        if pos >= m {
            continue;
        }
        let end = if count < m {
            count += 1;
            count
        } else {
            m
        };
        // Shift out[pos..end-1] right by one (dropping the last if full).
        out.copy_within(pos..end - 1, pos + 1);
        out[pos] = i;
    }
    Ok(count)
}

/// Gumbel noise `-ln(-ln(u))` for `u = uniform01(seed, stream, i)` (the
/// scalar reference of [`Backend::gumbel_noise`]). `u` lies in
/// `[2⁻²⁴, 1 − 2⁻²⁴]`, so the result is finite.
#[inline]
pub fn gumbel(seed: u64, stream: u64, i: usize) -> f32 {
    let u = uniform01(seed, stream, i as u32);
    -ln(-ln(u))
}

/// `out[i] = gumbel(seed, stream, i)`, `LANES` at a time on SIMD paths.
struct GumbelNoise<'o> {
    seed: u64,
    stream: u64,
    out: &'o mut [f32],
}

impl Kernel for GumbelNoise<'_> {
    type Output = ();
    fn scalar(self) {
        for (i, o) in self.out.iter_mut().enumerate() {
            *o = gumbel(self.seed, self.stream, i);
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let k = splitmix64(self.seed ^ splitmix64(self.stream ^ UNIFORM_TAG));
        // SAFETY: the caller guarantees `S`'s target features; the rest is
        // register-only arithmetic. Both logarithms see positive normal
        // inputs (u ∈ [2⁻²⁴, 1 − 2⁻²⁴], −ln u ∈ [6·10⁻⁸, 17]), the domain
        // where `ln_pos_v` equals the scalar `ln` bit for bit.
        unsafe {
            let (lo, hi) = (S::usplat(k as u32), S::usplat((k >> 32) as u32));
            let sign = S::u_as_f(S::usplat(0x8000_0000));
            fill_indexed::<S>(self.out, |idx| {
                let h = hash_v::<S>(S::uxor(hash_v::<S>(S::uxor(idx, lo)), hi));
                let u = S::mul(
                    S::add(S::u_to_f(S::ushr::<9>(h)), S::splat(0.5)),
                    S::splat(1.0 / 8_388_608.0),
                );
                S::xor(ln_pos_v::<S>(S::xor(ln_pos_v::<S>(u), sign)), sign)
            })
        }
    }
}

impl Backend {
    /// `out[i] = `[`gumbel`]`(seed, stream, i)` for every `i`: the noise
    /// [`gumbel_argmax`] draws, bit-identical on every path (the vector
    /// logarithm repeats the scalar one's operations), for callers that
    /// sample from many score vectors ([`gumbel_argmax_with`]).
    pub fn gumbel_noise(self, seed: u64, stream: u64, out: &mut [f32]) {
        self.run(GumbelNoise { seed, stream, out });
    }
}

/// Draws one index from `softmax(logits)` restricted to unmasked indices, by
/// Gumbel-max: `argmax_i logits[i] + g_i` with `g_i = -ln(-ln(u_i))` and
/// `u_i = rng::uniform01(seed, stream, i as u32)`.
///
/// Deterministic in `(seed, stream)`: use one `stream` per sample to draw
/// independent samples without any state. `taken` (if given) masks indices
/// out as in [`argmax_masked`]; [`KernelError::ShapeMismatch`] if its length
/// differs from `logits.len()`.
///
/// Non-finite logits:
/// * `-∞` and NaN logits are never sampled while some unmasked logit is
///   finite or `+∞`;
/// * if some unmasked logit is `+∞`, the draw is uniform among the `+∞`
///   logits (the limit of the softmax);
/// * if every unmasked logit is `-∞` or NaN, this falls back to the
///   deterministic [`argmax_masked`] rule (first `-∞`, else first NaN);
/// * returns `Ok(None)` exactly when every index is masked (or `logits` is
///   empty).
///
/// Indices are fed to the RNG as `u32`; beyond 2³² candidates the noise
/// repeats (N is expected to be tens to hundreds).
pub fn gumbel_argmax(
    logits: &[f32],
    taken: Option<&[bool]>,
    seed: u64,
    stream: u64,
) -> Result<Option<usize>, KernelError> {
    gumbel_select(logits, taken, |i| gumbel(seed, stream, i))
}

/// [`gumbel_argmax`] with the noise given: `g[i]` is used for index `i`
/// (normally filled by [`Backend::gumbel_noise`]; then the result equals
/// `gumbel_argmax(logits, taken, seed, stream)`). Errors as
/// [`gumbel_argmax`], plus [`KernelError::ShapeMismatch`] if `g` and
/// `logits` differ in length.
pub fn gumbel_argmax_with(
    logits: &[f32],
    taken: Option<&[bool]>,
    g: &[f32],
) -> Result<Option<usize>, KernelError> {
    crate::error::same("gumbel noise", logits.len(), g.len())?;
    gumbel_select(logits, taken, |i| g[i])
}

fn gumbel_select(
    logits: &[f32],
    taken: Option<&[bool]>,
    noise: impl Fn(usize) -> f32,
) -> Result<Option<usize>, KernelError> {
    if let Some(t) = taken {
        crate::error::same("taken", logits.len(), t.len())?;
    }
    let is_taken = |i: usize| taken.and_then(|t| t.get(i).copied()).unwrap_or(false);
    // Best eligible candidate as (index, is_pos_inf, key). Candidates with a
    // `+∞` logit beat every finite one; among themselves they compare by the
    // Gumbel noise alone. Among finite logits the key is `logit + g`, which is
    // never NaN (g is finite).
    let mut best: Option<(usize, bool, f32)> = None;
    for (i, &x) in logits.iter().enumerate() {
        if is_taken(i) || x.is_nan() || x == f32::NEG_INFINITY {
            continue;
        }
        let g = noise(i);
        let inf = x == f32::INFINITY;
        let key = if inf { g } else { x + g };
        let better = match best {
            None => true,
            Some((_, binf, bkey)) => (inf && !binf) || (inf == binf && ranks_above(key, bkey)),
        };
        if better {
            best = Some((i, inf, key));
        }
    }
    match best {
        Some((i, _, _)) => Ok(Some(i)),
        None => match taken {
            Some(t) => argmax_masked(logits, t),
            None => Ok(argmax(logits)),
        },
    }
}

/// Numerically stable `out[i] = logits[i] - ln Σ_j exp(logits[j])`
/// (subtracts the maximum first; the sum and the final subtraction are done
/// in `f64`, so the result is within a few f32 ULP of the exact value).
///
/// * [`KernelError::ShapeMismatch`] if `out.len() != logits.len()`
///   (nothing written); empty input is `Ok(())`.
/// * `-∞` entries give `-∞` (probability 0) as long as some entry is finite.
/// * If any entry is NaN, the maximum is `+∞`, or every entry is `-∞`, the
///   distribution is undefined and **every** output is NaN.
pub fn log_softmax(logits: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    crate::error::same("out", logits.len(), out.len())?;
    if logits.is_empty() {
        return Ok(());
    }
    let mut max = f32::NEG_INFINITY;
    let mut any_nan = false;
    for &x in logits {
        if x.is_nan() {
            any_nan = true;
        } else if x > max {
            max = x;
        }
    }
    if any_nan || !max.is_finite() {
        out.fill(f32::NAN);
        return Ok(());
    }
    // Every term is ≤ 1 and the max contributes exactly 1, so sum ∈ [1, n].
    let mut sum = 0.0f64;
    for &x in logits {
        sum += f64::from(exp(x - max));
    }
    let lse = f64::from(max) + f64::from(ln(sum as f32));
    for (o, &x) in out.iter_mut().zip(logits) {
        *o = (f64::from(x) - lse) as f32;
    }
    Ok(())
}

/// Largest `n` [`Permutations`] accepts: its state lives in fixed arrays of
/// this size (no allocation), and `16!` still fits in a `u64` count.
pub const MAX_PERM_N: usize = 16;

/// Number of ordered selections of `l` distinct items out of `n`:
/// `n! / (n - l)!`. `None` if `l > n` or the count overflows `u64`.
/// `permutation_count(n, 0) == Some(1)` (the one empty selection).
pub fn permutation_count(n: usize, l: usize) -> Option<u64> {
    if l > n {
        return None;
    }
    let n = u64::try_from(n).ok()?;
    let l = u64::try_from(l).ok()?;
    let mut acc = 1u64;
    // Factors n, n-1, …, n-l+1 are all ≥ 1; the product overflows within
    // ~64 steps unless n is small, so this loop is short.
    for i in 0..l {
        acc = acc.checked_mul(n - i)?;
    }
    Some(acc)
}

/// Enumerates every ordered selection of `l` distinct items out of `0..n`
/// (the "top-`l` permutations" of `n` candidates) in lexicographic order,
/// without allocating, so a caller can score all of them — one at a time
/// with [`next_into`](Self::next_into) or in batches with
/// [`fill_batch`](Self::fill_batch) — and keep the best.
///
/// Items are written as `u8` (`n ≤` [`MAX_PERM_N`]). Stepping is
/// incremental (next-permutation style on a bitmask of used items), `O(l)`
/// per selection, never unranking. `l == 0` yields exactly one empty
/// selection (also for `n == 0`).
///
/// ```
/// use last_kernels::select::Permutations;
/// let mut p = Permutations::new(3, 2).unwrap();
/// assert_eq!(p.len(), 6);
/// let mut sel = [0u8; 2];
/// assert!(p.next_into(&mut sel));
/// assert_eq!(sel, [0, 1]);
/// // The other five, in batches of up to two selections (2 bytes each).
/// let mut batch = [0u8; 4];
/// assert_eq!(p.fill_batch(&mut batch), 2);
/// assert_eq!(batch, [0, 2, 1, 0]);
/// assert_eq!(p.fill_batch(&mut batch), 2);
/// assert_eq!(batch, [1, 2, 2, 0]);
/// assert_eq!(p.fill_batch(&mut batch), 1);
/// assert_eq!(&batch[..2], &[2, 1]);
/// assert_eq!(p.remaining(), 0);
/// assert!(!p.next_into(&mut sel));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutations {
    /// The next selection to emit (valid in `cur[..l]` while `emitted < total`).
    cur: [u8; MAX_PERM_N],
    /// Bit `v` set iff item `v` appears in `cur[..l]`.
    used: u32,
    n: usize,
    l: usize,
    total: u64,
    emitted: u64,
}

impl Permutations {
    /// Starts the enumeration of `l`-selections out of `0..n`.
    /// [`KernelError::OutOfRange`] if `n > MAX_PERM_N` or `l > n`.
    pub fn new(n: usize, l: usize) -> Result<Self, KernelError> {
        if n > MAX_PERM_N {
            return Err(KernelError::OutOfRange { what: "n" });
        }
        if l > n {
            return Err(KernelError::OutOfRange { what: "l" });
        }
        let total = permutation_count(n, l).ok_or(KernelError::OutOfRange { what: "n" })?;
        let mut p = Permutations {
            cur: [0; MAX_PERM_N],
            used: 0,
            n,
            l,
            total,
            emitted: 0,
        };
        p.reset();
        Ok(p)
    }

    /// Restarts from the first selection `[0, 1, …, l-1]`.
    pub fn reset(&mut self) {
        self.used = 0;
        for (v, c) in self.cur.iter_mut().enumerate().take(self.l) {
            *c = v as u8;
            self.used |= 1 << v;
        }
        self.emitted = 0;
    }

    /// Number of candidates `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Length `l` of each selection (bytes written per selection).
    pub fn l(&self) -> usize {
        self.l
    }

    /// Total number of selections, `n! / (n - l)!`.
    #[allow(clippy::len_without_is_empty)] // never empty: l == 0 still yields one
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Selections not yet emitted.
    pub fn remaining(&self) -> u64 {
        self.total - self.emitted
    }

    /// Writes the next selection into `out[..l]` and returns `true`.
    ///
    /// Returns `false` without writing anything when the enumeration is
    /// exhausted, or when `out.len() < l` — in that case the state is
    /// unchanged, so the call can be retried with a larger buffer.
    pub fn next_into(&mut self, out: &mut [u8]) -> bool {
        if self.emitted >= self.total {
            return false;
        }
        let (Some(dst), Some(src)) = (out.get_mut(..self.l), self.cur.get(..self.l)) else {
            return false;
        };
        dst.copy_from_slice(src);
        self.emitted += 1;
        if self.emitted < self.total {
            self.advance();
        }
        true
    }

    /// Writes as many whole selections as fit in `out` (`l` bytes each,
    /// back to back, in enumeration order) and returns how many it wrote;
    /// bytes after the last whole selection are untouched. Returns 0 once
    /// exhausted. With `l == 0` the single empty selection counts as written
    /// whatever the buffer size.
    pub fn fill_batch(&mut self, out: &mut [u8]) -> usize {
        if self.l == 0 {
            let r = self.remaining();
            self.emitted = self.total;
            return r as usize;
        }
        let mut written = 0usize;
        for chunk in out.chunks_exact_mut(self.l) {
            if !self.next_into(chunk) {
                break;
            }
            written += 1;
        }
        written
    }

    /// Steps `cur` to its lexicographic successor. Only called when one exists.
    fn advance(&mut self) {
        let all: u32 = if self.n >= 32 {
            u32::MAX
        } else {
            (1u32 << self.n) - 1
        };
        let l = self.l.min(MAX_PERM_N);
        // Rightmost position whose item can be raised to a larger free item.
        let mut p = l;
        while p > 0 {
            p -= 1;
            let v = u32::from(self.cur[p]);
            self.used &= !(1u32 << v);
            let free_above = all & !self.used & !((2u32 << v) - 1);
            if free_above != 0 {
                let nv = free_above.trailing_zeros();
                self.cur[p] = nv as u8;
                self.used |= 1 << nv;
                // Fill the suffix with the smallest free items, ascending.
                for c in self.cur.iter_mut().take(l).skip(p + 1) {
                    let free = all & !self.used;
                    let s = free.trailing_zeros();
                    *c = s as u8;
                    self.used |= 1u32.checked_shl(s).unwrap_or(0);
                }
                return;
            }
        }
        // No successor (not reached while emitted < total): leave the
        // counter as the source of truth.
    }
}

#[cfg(test)]
mod tests;
