//! bf16 candidate products (models stored as [`crate::model::Dtype::Bf16`]):
//! a candidate's perturbed layer `bf16(W + σE)` (full-rank or table noise,
//! on W2 or on the keys' A) and its keys `A·h_j` run on the bf16 kernels,
//! activations rounded to bf16 at the product's input. Low-rank and serial
//! candidates, the encoder, the decoder and the evaluator stay f32.
//!
//! The noise is the f32 path's (the same `E` on every ISA), rounded once
//! into the candidate's packed bf16 weights; the bf16 path (AMX,
//! AVX512-BF16 or the scalar reference) was chosen once for the model.
//! Every path computes the same sums up to the order of f32 additions, so
//! lists may differ between bf16 paths where two scores tie to rounding,
//! and they differ from f32 lists where the bf16 rounding reorders scores.

use super::grow;
use crate::model::Layer;
use crate::serve::ServeError;
use last_kernels::bf16::{self, Bf16Backend, Perturbation};
use last_kernels::pack::Block16;
use last_kernels::perturb::perturbed_scratch_len;
use last_kernels::{Activation, Backend, MatMut, MatRef};

/// `len` u16 of 64-byte aligned scratch.
fn grow16(v: &mut Vec<Block16>, len: usize) -> &mut [u16] {
    &mut last_kernels::pack::as_u16_mut(grow(v, len.div_ceil(32)))[..len]
}

/// Scratch of the bf16 candidate products, 64-byte aligned (one
/// pair-panel or activation row per cache line).
#[derive(Debug, Default, Clone)]
pub(super) struct Bf16Bufs {
    /// The chunk's shared input (`e1` or `h0`: a chunk perturbs one
    /// target), rounded once per chunk.
    shared: Vec<Block16>,
    /// Whether `shared` holds the current chunk's rounding.
    shared_ready: bool,
    /// A candidate's own input (its `h_j`), rounded.
    x: Vec<Block16>,
    /// A candidate's perturbed weights.
    w: Vec<Block16>,
    /// f32 panel scratch of the perturbation.
    panel: Vec<f32>,
}

/// Whose rows a bf16 product reads.
pub(super) enum Input<'a> {
    /// The chunk's shared input of the perturbed layer (`e1` for W2, `h0`
    /// for the keys), rounded on first use in the chunk.
    Shared(MatRef<'a>),
    /// A candidate's own rows.
    Own(MatRef<'a>),
}

impl Bf16Bufs {
    /// Forgets the shared rounding (a new chunk or request).
    pub(super) fn new_chunk(&mut self) {
        self.shared_ready = false;
    }

    /// `y = act(x·(W + σE)ᵀ + b)` on the bf16 path `bb` (`noise` `None`:
    /// `W` itself, from the layer's bf16 copy; with noise, `bf16(W + σE)`
    /// is formed from the layer's f32-packed copy). `be` draws the noise.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn product(
        &mut self,
        be: Backend,
        bb: Bf16Backend,
        layer: &Layer,
        noise: Option<(Perturbation<'_>, f32)>,
        x: Input<'_>,
        act: Activation,
        y: MatMut<'_>,
    ) -> Result<(), ServeError> {
        let x = match x {
            Input::Shared(x) => {
                let len = bf16::acts_len(x.rows(), x.cols());
                if !self.shared_ready {
                    bb.round(x, grow16(&mut self.shared, len))?;
                    self.shared_ready = true;
                }
                let rounded: &[u16] = bytemuck::cast_slice(&self.shared);
                bf16::ActsBf16::from_rounded(&rounded[..len], x.rows(), x.cols())?
            }
            Input::Own(x) => {
                let len = bf16::acts_len(x.rows(), x.cols());
                bb.round(x, grow16(&mut self.x, len))?
            }
        };
        let (n, k) = (layer.n, layer.k);
        let w = match noise {
            Some((p, sigma)) => {
                let panel = grow(&mut self.panel, perturbed_scratch_len(k));
                let out = grow16(&mut self.w, bf16::packed_len_bf16(n, k));
                bb.perturb(be, layer.packed(), p, sigma, panel, out)?
            }
            // Only the unperturbed product reads the layer's bf16 copy.
            None => layer.packed_bf16().ok_or(ServeError::Model(
                "bf16 config over a layer without bf16 weights",
            ))?,
        };
        bb.dense(x, w, Some(layer.bias()), act, y)?;
        Ok(())
    }
}
