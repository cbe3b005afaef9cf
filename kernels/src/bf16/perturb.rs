//! Perturbed bf16 weights: `bf16(W + σE)` for one candidate, in the
//! pair-panel layout, so a candidate's product runs on the bf16 paths.
//!
//! The noise is the f32 perturbed products' own: each 16-column panel of
//! `W + σE` is generated in f32 by the f32 backend (same counter hash or
//! table, same separate multiply and add), then rounded once to bf16 and
//! interleaved into k pairs. The bf16 weights are therefore the same bits on
//! every path (the rounding is [`super::to_bf16`] on all of them).

use super::layout::{packed_len_bf16, padded_k, PackedBf16, RB};
use super::{to_bf16, Bf16Backend};
use crate::error::{need, KernelError};
use crate::pack::Weights;
use crate::perturb::{perturbed_scratch_len, Source};
use crate::rng::Noise;
use crate::{Backend, PANEL};

/// Where a candidate's `E` comes from.
#[derive(Clone, Copy, Debug)]
pub enum Perturbation<'a> {
    /// The counter-hash stream of [`Backend::dense_perturbed`].
    Noise(&'a Noise),
    /// A pre-drawn table as for [`Backend::dense_perturbed_table`]
    /// (at least [`crate::pack::packed_len`]`(n, k)` values).
    Table(&'a [f32]),
}

impl Bf16Backend {
    /// Writes `bf16(W + σE)` into `out` (at least
    /// [`packed_len_bf16`]`(n, k)` elements) for [`Bf16Backend::dense`].
    /// `be` draws the noise (any f32 path gives the same values); `panel` is
    /// f32 scratch of [`perturbed_scratch_len`]`(k)`. Padding is zero; `W`
    /// is not modified.
    ///
    /// ```
    /// use last_kernels::bf16::{self, Bf16Backend, Perturbation};
    /// use last_kernels::{pack, perturb, rng::{Noise, NoiseKind}, Backend};
    /// let (n, k) = (3, 5);
    /// let w = [0.25f32; 15];
    /// let mut wp = vec![0f32; pack::packed_len(n, k)];
    /// let w = pack::pack_f32(&w, n, k, &mut wp)?;
    /// let noise = Noise { seed: 7, candidate: 0, kind: NoiseKind::Gaussian, antithetic: false };
    /// let mut panel = vec![0f32; perturb::perturbed_scratch_len(k)];
    /// let mut out = vec![0u16; bf16::packed_len_bf16(n, k)];
    /// let be = Backend::scalar();
    /// let wb = Bf16Backend::Scalar.perturb(be, w.into(), Perturbation::Noise(&noise), 0.0, &mut panel, &mut out)?;
    /// assert_eq!(wb.get(2, 4), 0.25); // σ = 0: the weights, rounded
    /// # Ok::<(), last_kernels::KernelError>(())
    /// ```
    pub fn perturb<'o>(
        self,
        be: Backend,
        w: Weights<'_>,
        noise: Perturbation<'_>,
        sigma: f32,
        panel: &mut [f32],
        out: &'o mut [u16],
    ) -> Result<PackedBf16<'o>, KernelError> {
        let (n, k) = (w.n(), w.k());
        let len = packed_len_bf16(n, k);
        if len == usize::MAX {
            return Err(KernelError::OutOfRange {
                what: "weight shape",
            });
        }
        need("packed buffer", len, out.len())?;
        need(
            "perturbation scratch",
            perturbed_scratch_len(k),
            panel.len(),
        )?;
        if !sigma.is_finite() {
            return Err(KernelError::OutOfRange { what: "sigma" });
        }
        let source = match noise {
            Perturbation::Noise(nz) => Source::Hash(nz.key()),
            Perturbation::Table(t) => {
                need("noise table", crate::pack::packed_len(n, k), t.len())?;
                Source::Table(t)
            }
        };
        let kp = padded_k(k);
        let (panel, out) = (&mut panel[..k * PANEL], &mut out[..len]);
        for p in 0..n.div_ceil(RB) {
            be.perturbed_panel_into(w, p, source, sigma, panel);
            let valid = (n - p * RB).min(RB);
            let dst = &mut out[p * RB * kp..(p + 1) * RB * kp];
            match self {
                Bf16Backend::Scalar => pack_panel_scalar(panel, k, valid, dst),
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the token proves AVX512F/BW/VL and AVX512-BF16;
                // `panel` holds k·16 floats and `dst` 16·kp elements.
                Bf16Backend::Avx512Bf16(_) | Bf16Backend::Amx(_) => unsafe {
                    super::dpbf16::pack_panel(panel, k, valid, dst)
                },
            }
        }
        PackedBf16::from_packed(out, n, k)
    }
}

/// One f32 panel (`k × 16`, row `kk` at `16·kk`) → one bf16 pair panel
/// (`dst[q·32 + 2j + e] = bf16(panel[(2q + e)·16 + j])`), columns ≥
/// `valid` and k ≥ `k` zero.
pub(super) fn pack_panel_scalar(panel: &[f32], k: usize, valid: usize, dst: &mut [u16]) {
    dst.fill(0);
    for kk in 0..k {
        for j in 0..valid {
            dst[(kk / 2) * 32 + 2 * j + (kk & 1)] = to_bf16(panel[kk * PANEL + j]);
        }
    }
}
