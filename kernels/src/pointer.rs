//! Pointer-network scores: `score_i = v · tanh(k_i + q)` for every candidate
//! key `k_i` (additive attention, one decoder step), with a taken-mask that
//! sends already chosen items to −∞ so a following arg-max never repeats one.
//!
//! The cost is `N·H` tanh evaluations per step — the largest single cost of
//! a LAST request — so tanh is the rational [`math::tanh_fast`] (≤ 8 ULP,
//! |error| ≤ 5·10⁻⁷, about half the work of [`math::tanh`]), `LANES` at a
//! time, and masked rows are skipped entirely.

use crate::error::{same, KernelError};
use crate::math;
use crate::simd::{Kernel, Simd};
use crate::{Backend, MatRef};

struct Scores<'a, 'o> {
    keys: MatRef<'a>,
    q: &'a [f32],
    v: &'a [f32],
    taken: Option<&'a [bool]>,
    out: &'o mut [f32],
}

impl Kernel for Scores<'_, '_> {
    type Output = ();
    fn scalar(self) {
        for (i, o) in self.out.iter_mut().enumerate() {
            if self.taken.is_some_and(|t| t[i]) {
                *o = f32::NEG_INFINITY;
                continue;
            }
            let mut s = 0.0f32;
            for ((k, q), v) in self.keys.row(i).iter().zip(self.q).zip(self.v) {
                s += v * math::tanh_fast(k + q);
            }
            *o = s;
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let h = self.q.len();
        let (qp, vp) = (self.q.as_ptr(), self.v.as_ptr());
        for (i, o) in self.out.iter_mut().enumerate() {
            if self.taken.is_some_and(|t| t[i]) {
                *o = f32::NEG_INFINITY;
                continue;
            }
            let kp = self.keys.row(i).as_ptr();
            // SAFETY: every load stays below h = row length = q.len() = v.len().
            *o = unsafe {
                let l = S::LANES;
                let (mut a0, mut a1) = (S::zero(), S::zero());
                let mut j = 0;
                while j + 2 * l <= h {
                    let t0 = math::tanh_fast_v::<S>(S::add(S::load(kp.add(j)), S::load(qp.add(j))));
                    let t1 = math::tanh_fast_v::<S>(S::add(
                        S::load(kp.add(j + l)),
                        S::load(qp.add(j + l)),
                    ));
                    a0 = S::fma(t0, S::load(vp.add(j)), a0);
                    a1 = S::fma(t1, S::load(vp.add(j + l)), a1);
                    j += 2 * l;
                }
                while j < h {
                    let w = (h - j).min(l);
                    let t = math::tanh_fast_v::<S>(S::add(
                        S::load_partial(kp.add(j), w),
                        S::load_partial(qp.add(j), w),
                    ));
                    a0 = S::fma(t, S::load_partial(vp.add(j), w), a0);
                    j += l;
                }
                S::reduce_add(S::add(a0, a1))
            };
        }
    }
}

impl Backend {
    /// `out[i] = v · tanh(keys[i] + q)`, or −∞ where `taken[i]`.
    /// `keys` is N × H, `q` and `v` have H elements, `out` and `taken` N.
    pub fn pointer_scores(
        self,
        keys: MatRef<'_>,
        q: &[f32],
        v: &[f32],
        taken: Option<&[bool]>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        same("query length vs key width", keys.cols(), q.len())?;
        same("v length vs key width", keys.cols(), v.len())?;
        same("scores length vs keys", keys.rows(), out.len())?;
        if let Some(t) = taken {
            same("mask length vs keys", keys.rows(), t.len())?;
        }
        self.run(Scores {
            keys,
            q,
            v,
            taken,
            out,
        });
        Ok(())
    }
}

/// Largest `|k|` (and `|q|`) the exponential form of the pointer scores
/// accepts: `e^{2·20}·e^{2·20} ≈ 5.5·10³⁴` stays finite in f32, and
/// `e^{−80}` stays a normal number.
pub const EXP_FORM_LIMIT: f32 = 20.0;

/// Upper clamp of `1 + e^{2k}·e^{2q}` (≈ e¹⁸): beyond it `tanh(k + q)` is
/// within 3.1·10⁻⁸ of 1, so the clamp changes a term by less than that.
const D_MAX: f32 = 6.6e7;

/// `out = e^{2x}` elementwise; `ok` stays true only if every `|x| ≤ LIMIT`.
struct Exp2x<'a, 'o> {
    x: &'a [f32],
    out: &'o mut [f32],
}

impl Kernel for Exp2x<'_, '_> {
    type Output = bool;
    fn scalar(self) -> bool {
        let mut ok = true;
        for (o, &x) in self.out.iter_mut().zip(self.x) {
            // False for NaN.
            ok &= x.abs() <= EXP_FORM_LIMIT;
            *o = math::exp(x + x);
        }
        ok
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) -> bool {
        let n = self.x.len();
        let (xp, op) = (self.x.as_ptr(), self.out.as_mut_ptr());
        // SAFETY: loads and stores stay below n = x.len() = out.len().
        unsafe {
            let sign = S::u_as_f(S::usplat(0x8000_0000));
            // a ≤ LIMIT ⟺ a < next float above LIMIT (false for NaN).
            let lim = S::splat(f32::from_bits(EXP_FORM_LIMIT.to_bits() + 1));
            let one = S::splat(1.0);
            // Lanes count 1 wherever |x| ≤ LIMIT fails (NaN included).
            let mut bad = S::zero();
            let mut j = 0;
            while j < n {
                let x = S::load_upto(xp.add(j), n - j);
                let a = S::xor(S::or(x, sign), sign);
                bad = S::add(bad, S::select(S::lt(a, lim), S::zero(), one));
                let e = math::exp_v::<S>(S::add(x, x));
                S::store_upto(op.add(j), e, n - j);
                j += S::LANES;
            }
            S::reduce_add(bad) == 0.0
        }
    }
}

/// Pointer scores from exponentials: `out[i] = Σ_j v_j·(1 − 2/d_ij)`
/// `= Σ_j v_j − 2·Σ_j v_j/d_ij` with `d_ij = min(1 + ek_ij·eq_j, D_MAX)`,
/// or −∞ where `taken[i]`.
struct ScoresExp<'a, 'o> {
    ek: MatRef<'a>,
    eq: &'a [f32],
    v: &'a [f32],
    taken: Option<&'a [bool]>,
    out: &'o mut [f32],
}

impl Kernel for ScoresExp<'_, '_> {
    type Output = ();
    fn scalar(self) {
        let vs: f32 = self.v.iter().sum();
        for (i, o) in self.out.iter_mut().enumerate() {
            if self.taken.is_some_and(|t| t[i]) {
                *o = f32::NEG_INFINITY;
                continue;
            }
            let mut s = 0.0f32;
            for ((k, q), v) in self.ek.row(i).iter().zip(self.eq).zip(self.v) {
                s += v / (k * q + 1.0).min(D_MAX);
            }
            *o = vs - 2.0 * s;
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let h = self.eq.len();
        let (qp, vp) = (self.eq.as_ptr(), self.v.as_ptr());
        // SAFETY: every load stays below h = row length = eq.len() = v.len().
        unsafe {
            let one = S::splat(1.0);
            let dmax = S::splat(D_MAX);
            let mut vs = S::zero();
            let l = S::LANES;
            let mut j = 0;
            while j + l <= h {
                vs = S::add(vs, S::load(vp.add(j)));
                j += l;
            }
            if j < h {
                vs = S::add(vs, S::load_partial(vp.add(j), h - j));
            }
            let vs = S::reduce_add(vs);
            for (i, o) in self.out.iter_mut().enumerate() {
                if self.taken.is_some_and(|t| t[i]) {
                    *o = f32::NEG_INFINITY;
                    continue;
                }
                let kp = self.ek.row(i).as_ptr();
                // Four vectors share one division:
                //   Σ v_r/d_r = [(v1·d2 + v2·d1)·d3d4 + (v3·d4 + v4·d3)·d1d2] / (d1d2·d3d4)
                // with every d clamped to [1, D_MAX], so d⁴ ≤ 1.9·10³¹ stays finite;
                // the divider, not the FMA ports, bounds the plain form.
                let mut acc = S::zero();
                let mut j = 0;
                while j + 4 * l <= h {
                    let d = |o: usize| {
                        S::min(
                            S::fma(S::load(kp.add(j + o)), S::load(qp.add(j + o)), one),
                            dmax,
                        )
                    };
                    let (d1, d2, d3, d4) = (d(0), d(l), d(2 * l), d(3 * l));
                    let n12 = S::fma(S::load(vp.add(j)), d2, S::mul(S::load(vp.add(j + l)), d1));
                    let n34 = S::fma(
                        S::load(vp.add(j + 2 * l)),
                        d4,
                        S::mul(S::load(vp.add(j + 3 * l)), d3),
                    );
                    let (p12, p34) = (S::mul(d1, d2), S::mul(d3, d4));
                    let num = S::fma(n12, p34, S::mul(n34, p12));
                    acc = S::add(acc, S::div(num, S::mul(p12, p34)));
                    j += 4 * l;
                }
                while j < h {
                    let w = (h - j).min(l);
                    // Zero-filled lanes give 0 / (0·0 + 1) = 0.
                    let d = S::fma(
                        S::load_partial(kp.add(j), w),
                        S::load_partial(qp.add(j), w),
                        one,
                    );
                    acc = S::add(acc, S::div(S::load_partial(vp.add(j), w), S::min(d, dmax)));
                    j += l;
                }
                *o = vs - 2.0 * S::reduce_add(acc);
            }
        }
    }
}

impl Backend {
    /// `out[i] = e^{2·x[i]}` (the operand of [`Backend::pointer_scores_exp`]
    /// for keys and queries). Returns whether every `|x[i]| ≤`
    /// [`EXP_FORM_LIMIT`] (false for NaN): only then may the result be used
    /// with [`Backend::pointer_scores_exp`]; `out` is written either way.
    pub fn pointer_exp(self, x: &[f32], out: &mut [f32]) -> Result<bool, KernelError> {
        same("exp output length", x.len(), out.len())?;
        Ok(self.run(Exp2x { x, out }))
    }

    /// The pointer scores of [`Backend::pointer_scores`] from precomputed
    /// exponentials `ek = e^{2·keys}` and `eq = e^{2·q}` (see
    /// [`Backend::pointer_exp`]): since `tanh(k + q) = 1 − 2/(1 + e^{2k}·e^{2q})`,
    /// `out[i] = Σ_j v_j − 2·Σ_j v_j/(1 + ek_ij·eq_j)` — one fused multiply-add
    /// and one division per element instead of a rational tanh, with the
    /// exponentials of the keys computed once per candidate for every
    /// decoder step.
    ///
    /// The SIMD paths add four quotients over one division (see the kernel);
    /// the scalar path divides each term.
    ///
    /// Accuracy: for `|k|, |q| ≤` [`EXP_FORM_LIMIT`] each term's absolute
    /// error is ≤ about `6·10⁻⁷·|v_j|` (no argument rounding: `k + q` is never
    /// formed), comparable to [`math::tanh_fast`]; outside that range the
    /// product can overflow and the result is meaningless — callers check
    /// the flag [`Backend::pointer_exp`] returns and fall back to
    /// [`Backend::pointer_scores`].
    pub fn pointer_scores_exp(
        self,
        ek: MatRef<'_>,
        eq: &[f32],
        v: &[f32],
        taken: Option<&[bool]>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        same("query length vs key width", ek.cols(), eq.len())?;
        same("v length vs key width", ek.cols(), v.len())?;
        same("scores length vs keys", ek.rows(), out.len())?;
        if let Some(t) = taken {
            same("mask length vs keys", ek.rows(), t.len())?;
        }
        self.run(ScoresExp {
            ek,
            eq,
            v,
            taken,
            out,
        });
        Ok(())
    }
}
