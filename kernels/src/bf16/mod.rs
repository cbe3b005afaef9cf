//! bf16 compute: `Y = act(X·Wᵀ + b)` with W stored as bf16, X rounded to
//! bf16 at the product's input, products accumulated in f32.
//!
//! Three paths, chosen by [`Bf16Backend`]:
//!
//! | path | instructions | tile |
//! |---|---|---|
//! | [`Bf16Backend::Scalar`] | the reference: exact bf16 products, f32 sums | — |
//! | [`Bf16Backend::Avx512Bf16`] | `vdpbf16ps zmm` (two products per lane per instruction), `{1to16}` pair broadcasts | 16 rows × 16 columns, 16 zmm accumulators |
//! | [`Bf16Backend::Amx`] | AMX-BF16 `tdpbf16ps` (16 × 16 × 32 per instruction), `tileloadd` | 32 rows × 32 columns: 2 A, 2 B, 4 C tiles |
//!
//! Every path computes, per output, the f32 sum of exact bf16 × bf16
//! products in `k` order, one rounding per addition (the two hardware
//! paths pair products `(2q, 2q+1)` inside one instruction; their internal
//! order is the hardware's). Each output depends only on its own row of `X`,
//! so rows are independent of their batch on every path. The error bound
//! against an f64 sum of the same bf16 inputs is the f32 dot-product bound
//! `γ_k·Σ|xw|`; against the f32 product of the unrounded inputs add the two
//! roundings to bf16 (relative 2⁻⁸ each).
//!
//! The layouts are in [`layout`]; pack weights once at load
//! ([`pack_bf16`] / [`pack_bf16_bits`]), round the activations per call
//! ([`Bf16Backend::round`], into a caller's buffer: the kernels never
//! allocate).
//!
//! ```
//! use last_kernels::bf16::{self, Bf16Backend};
//! use last_kernels::{Activation, MatMut, MatRef};
//! let (m, n, k) = (3, 2, 4);
//! let w = [0.5f32; 8];
//! let x = [1.0f32; 12];
//! let mut wb = vec![0u16; bf16::packed_len_bf16(n, k)];
//! let w = bf16::pack_bf16(&w, n, k, &mut wb)?;            // once, at load
//! let be = Bf16Backend::detect();                         // AMX / AVX512-BF16 / scalar
//! let mut xb = vec![0u16; bf16::acts_len(m, k)];
//! let xa = be.round(MatRef::new(&x, m, k)?, &mut xb)?;
//! let mut y = [0f32; 6];
//! be.dense(xa, w, None, Activation::Identity, MatMut::new(&mut y, m, n)?)?;
//! assert_eq!(y, [2.0; 6]);
//! # Ok::<(), last_kernels::KernelError>(())
//! ```

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod dpbf16;
pub mod layout;
mod perturb;
mod tokens;

pub use layout::{
    acts_len, from_bf16, pack_bf16, pack_bf16_bits, packed_len_bf16, padded_k, to_bf16, ActsBf16,
    PackedBf16,
};
pub use perturb::Perturbation;
pub use tokens::AmxUnavailable;
#[cfg(target_arch = "x86_64")]
pub use tokens::{Amx, Avx512Bf16};

use crate::dense::check_shapes;
use crate::error::KernelError;
use crate::{Activation, MatMut, MatRef};

/// The path that runs bf16 products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Backend {
    /// The scalar reference.
    Scalar,
    /// AVX512-BF16 `vdpbf16ps`.
    #[cfg(target_arch = "x86_64")]
    Avx512Bf16(Avx512Bf16),
    /// AMX-BF16 tiles.
    #[cfg(target_arch = "x86_64")]
    Amx(Amx),
}

impl Bf16Backend {
    /// The fastest bf16 path this CPU (and OS) allows: AMX, then
    /// AVX512-BF16, then the scalar reference.
    #[cfg(feature = "std")]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Ok(t) = Amx::try_new() {
            return Bf16Backend::Amx(t);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Avx512Bf16::try_new() {
            return Bf16Backend::Avx512Bf16(t);
        }
        Bf16Backend::Scalar
    }

    /// The path named `scalar`, `avx512bf16` or `amx`, if this machine has it.
    #[cfg(feature = "std")]
    pub fn for_name(name: &str) -> Option<Self> {
        match name {
            "scalar" => Some(Bf16Backend::Scalar),
            #[cfg(target_arch = "x86_64")]
            "avx512bf16" => Avx512Bf16::try_new().map(Bf16Backend::Avx512Bf16),
            #[cfg(target_arch = "x86_64")]
            "amx" => Amx::try_new().ok().map(Bf16Backend::Amx),
            _ => None,
        }
    }

    /// Every bf16 path this machine has, scalar first.
    #[cfg(feature = "std")]
    pub fn available() -> std::vec::Vec<Self> {
        ["scalar", "avx512bf16", "amx"]
            .into_iter()
            .filter_map(Self::for_name)
            .collect()
    }

    /// Short name: `scalar`, `avx512bf16`, `amx`.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Backend::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Bf16Backend::Avx512Bf16(_) => "avx512bf16",
            #[cfg(target_arch = "x86_64")]
            Bf16Backend::Amx(_) => "amx",
        }
    }

    /// Rounds `x` (m × k f32) to bf16 into `out` (at least
    /// [`acts_len`]`(m, k)` elements) in the activation layout.
    pub fn round<'a>(self, x: MatRef<'_>, out: &'a mut [u16]) -> Result<ActsBf16<'a>, KernelError> {
        let buf = layout::acts_buffer(&x, out)?;
        match self {
            Bf16Backend::Scalar => layout::round_scalar(&x, buf),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves AVX512F/BW/VL and AVX512-BF16; `buf`
            // holds acts_len(m, k) elements (checked above).
            Bf16Backend::Avx512Bf16(_) | Bf16Backend::Amx(_) => unsafe { dpbf16::round(&x, buf) },
        }
        Ok(layout::acts_view(buf, x.rows(), x.cols()))
    }

    /// `y = act(x·wᵀ + bias)`. Shapes are checked before anything is
    /// written; on error `y` is untouched.
    pub fn dense(
        self,
        x: ActsBf16<'_>,
        w: PackedBf16<'_>,
        bias: Option<&[f32]>,
        act: Activation,
        mut y: MatMut<'_>,
    ) -> Result<(), KernelError> {
        check_shapes(
            w.k(),
            w.n(),
            (x.rows(), x.cols()),
            (y.rows(), y.cols()),
            bias,
        )?;
        match self {
            Bf16Backend::Scalar => dense_scalar(&x, &w, bias, act, &mut y),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves the features; shapes checked above.
            Bf16Backend::Avx512Bf16(_) => unsafe { dpbf16::dense(&x, &w, bias, act, &mut y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves AMX-BF16 and the tile-data permission;
            // shapes checked above.
            Bf16Backend::Amx(_) => unsafe { amx::dense(&x, &w, bias, act, &mut y) },
        }
        Ok(())
    }
}

/// A subnormal input read as zero, as `vdpbf16ps` and AMX read it (the
/// packers and [`Bf16Backend::round`] never write one; a caller's buffer
/// viewed through `from_packed` / `from_rounded` might).
#[inline]
fn daz(v: f32) -> f32 {
    if v.is_subnormal() {
        0.0
    } else {
        v
    }
}

/// The reference: per output, `acc += x·w` over `k` in order (each product
/// of two bf16 values is exact in f32), then bias and activation.
fn dense_scalar(
    x: &ActsBf16<'_>,
    w: &PackedBf16<'_>,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
) {
    for i in 0..x.rows() {
        let yr = y.row_mut(i);
        for (j, out) in yr.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for kk in 0..x.cols() {
                acc += daz(x.get(i, kk)) * daz(w.get(j, kk));
            }
            if let Some(b) = bias {
                acc += b[j];
            }
            *out = act.apply(acc);
        }
    }
}
