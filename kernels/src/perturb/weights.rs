//! Materialised perturbed weights: one panel of `W + σE` (for callers that
//! convert it, e.g. the bf16 path) or the whole packed `W + σE` (for
//! callers that reuse one candidate's weights across many calls), with the
//! same values the fused perturbed products use.

use super::{perturbed_panel, PanelBody, Source};
use crate::error::{need, KernelError};
use crate::pack::{PackedF32, Weights};
use crate::rng::{Noise, NoiseKey};
use crate::simd::{Kernel, Simd};
use crate::{Backend, PANEL};

impl Backend {
    /// Panel `p` of `W + σE` (columns `16p .. 16p + 15`, `k × 16`, the
    /// packed f32 panel order) into `out`, the same values the perturbed
    /// products use on every path. Columns ≥ n hold noise; callers ignore
    /// them. Bounds are the caller's: `p < ceil(n/16)`, `out.len() ≥ 16·k`,
    /// a table source at least `packed_len(n, k)` long.
    pub(crate) fn perturbed_panel_into(
        self,
        w: Weights<'_>,
        p: usize,
        noise: Source<'_>,
        sigma: f32,
        out: &mut [f32],
    ) {
        struct One<'a, 'o> {
            w: Weights<'a>,
            p: usize,
            noise: Source<'a>,
            sigma: f32,
            out: &'o mut [f32],
        }
        impl Kernel for One<'_, '_> {
            type Output = ();
            fn scalar(self) {
                let (n, k) = (self.w.n(), self.w.k());
                for kk in 0..k {
                    for l in 0..PANEL {
                        let j = self.p * PANEL + l;
                        let w = if j < n { self.w.get(j, kk) } else { 0.0 };
                        self.out[kk * PANEL + l] = w + self.sigma * self.noise.value(j, kk, k);
                    }
                }
            }
            #[inline(always)]
            unsafe fn simd<S: Simd>(self) {
                let (p, k, noise, sigma) = (self.p, self.w.k(), &self.noise, self.sigma);
                let out = self.out.as_mut_ptr();
                // SAFETY: the caller's bounds (see the method): panel p of
                // `w` holds k·16 elements, `out` at least k·16.
                unsafe {
                    match self.w {
                        Weights::F32(w) => S::outlined::<S, _>(PanelBody {
                            src: w.panel_ptr(p),
                            p,
                            k,
                            noise,
                            sigma,
                            out,
                        }),
                        Weights::F16(w) => S::outlined::<S, _>(PanelBody {
                            src: w.panel_ptr(p),
                            p,
                            k,
                            noise,
                            sigma,
                            out,
                        }),
                    }
                }
            }
        }
        debug_assert!(p < w.n().div_ceil(PANEL) && out.len() >= w.k() * PANEL);
        self.run(One {
            w,
            p,
            noise,
            sigma,
            out,
        });
    }

    /// Writes the packed `W + σE` (same noise as [`Backend::dense_perturbed`])
    /// into `out` (at least [`crate::pack::packed_len`]`(n, k)`), for callers
    /// that reuse one candidate's weights across many calls. Padding stays 0.
    pub fn perturb_weights<'o>(
        self,
        w: Weights<'_>,
        noise: &Noise,
        sigma: f32,
        out: &'o mut [f32],
    ) -> Result<PackedF32<'o>, KernelError> {
        let (n, k) = (w.n(), w.k());
        let len = crate::pack::packed_len(n, k);
        need("packed buffer", len, out.len())?;
        if !sigma.is_finite() {
            return Err(KernelError::OutOfRange { what: "sigma" });
        }
        let key = noise.key();
        let out = &mut out[..len];
        struct Gen<'a, 'o> {
            w: Weights<'a>,
            key: NoiseKey,
            sigma: f32,
            out: &'o mut [f32],
        }
        impl Kernel for Gen<'_, '_> {
            type Output = ();
            fn scalar(self) {
                let (n, k) = (self.w.n(), self.w.k());
                for p in 0..n.div_ceil(PANEL) {
                    for kk in 0..k {
                        for l in 0..PANEL {
                            let j = p * PANEL + l;
                            let idx = ((j * k + kk) as u32, p * PANEL * k + kk * PANEL + l);
                            self.out[idx.1] = if j < n {
                                self.w.get(j, kk) + self.sigma * self.key.value(idx.0)
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            #[inline(always)]
            unsafe fn simd<S: Simd>(self) {
                let (n, k) = (self.w.n(), self.w.k());
                for p in 0..n.div_ceil(PANEL) {
                    let dst = self.out[p * PANEL * k..].as_mut_ptr();
                    // SAFETY: out has packed_len(n, k) elements; each panel k·16.
                    unsafe {
                        match self.w {
                            Weights::F32(w) => perturbed_panel::<S, f32>(
                                w.panel_ptr(p),
                                p,
                                k,
                                &Source::Hash(self.key),
                                self.sigma,
                                dst,
                            ),
                            Weights::F16(w) => perturbed_panel::<S, u16>(
                                w.panel_ptr(p),
                                p,
                                k,
                                &Source::Hash(self.key),
                                self.sigma,
                                dst,
                            ),
                        }
                    }
                    let valid = (n - p * PANEL).min(PANEL);
                    if valid < PANEL {
                        for kk in 0..k {
                            self.out[p * PANEL * k + kk * PANEL + valid..][..PANEL - valid]
                                .fill(0.0);
                        }
                    }
                }
            }
        }
        self.run(Gen {
            w,
            key,
            sigma,
            out: &mut *out,
        });
        PackedF32::from_packed(out, n, k)
    }
}
