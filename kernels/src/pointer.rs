//! Pointer-network scores: `score_i = v · tanh(k_i + q)` for every candidate
//! key `k_i` (additive attention, one decoder step), with a taken-mask that
//! sends already chosen items to −∞ so a following arg-max never repeats one.
//!
//! The cost is `N·H` tanh evaluations per step — the largest single cost of
//! a LAST request — so tanh is the rational [`math::tanh_fast`] (≤ 8 ULP,
//! |error| ≤ 5·10⁻⁷, about half the work of [`math::tanh`]), 8 lanes at a
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
                let (mut a0, mut a1) = (S::zero(), S::zero());
                let mut j = 0;
                while j + 16 <= h {
                    let t0 = math::tanh_fast_v::<S>(S::add(S::load(kp.add(j)), S::load(qp.add(j))));
                    let t1 = math::tanh_fast_v::<S>(S::add(
                        S::load(kp.add(j + 8)),
                        S::load(qp.add(j + 8)),
                    ));
                    a0 = S::fma(t0, S::load(vp.add(j)), a0);
                    a1 = S::fma(t1, S::load(vp.add(j + 8)), a1);
                    j += 16;
                }
                while j < h {
                    let w = (h - j).min(8);
                    let t = math::tanh_fast_v::<S>(S::add(
                        S::load_partial(kp.add(j), w),
                        S::load_partial(qp.add(j), w),
                    ));
                    a0 = S::fma(t, S::load_partial(vp.add(j), w), a0);
                    j += 8;
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
