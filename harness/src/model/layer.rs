//! One dense layer: the row-major master copy and the packed copy the kernels read.

use super::{Dtype, ModelError};
use last_kernels::bf16::{self, PackedBf16};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef, Weights};

/// Packed storage of one layer, 64-byte aligned.
#[derive(Debug, Clone)]
pub(super) enum Packed {
    F32(Vec<pack::Block32>),
    F16(Vec<pack::Block16>),
}

/// One dense layer: the row-major master copy (for saving, training and
/// gradients) and the packed copy the kernels read.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    pub(super) w: Vec<f32>,
    pub(super) b: Vec<f32>,
    pub(super) packed: Packed,
    /// bf16 pair-panel copy for the bf16 kernels (models stored as
    /// [`Dtype::Bf16`] only).
    pub(super) bf16: Option<Vec<pack::Block16>>,
    pub(super) rms: f32,
}

impl Layer {
    /// Builds and packs a layer from row-major `w` (n × k) and bias `b` (n).
    pub fn new(
        n: usize,
        k: usize,
        mut w: Vec<f32>,
        b: Vec<f32>,
        dtype: Dtype,
    ) -> Result<Self, ModelError> {
        let bad = |why: String| ModelError::Tensor {
            name: "layer".into(),
            why,
        };
        if n == 0 || k == 0 || w.len() != n * k || b.len() != n {
            return Err(bad(format!(
                "weight {} / bias {} elements for a {n}×{k} layer",
                w.len(),
                b.len()
            )));
        }
        // The master copy holds exactly what the kernels compute with; a
        // value the storage type cannot hold (an f16 above 65504, a bf16
        // near f32::MAX) is refused, not stored as ±∞.
        match dtype {
            Dtype::F32 => {}
            Dtype::F16 => w
                .iter_mut()
                .for_each(|v| *v = half::f16::from_f32(*v).to_f32()),
            Dtype::Bf16 => w
                .iter_mut()
                .for_each(|v| *v = bf16::from_bf16(bf16::to_bf16(*v))),
        }
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(bad(format!("non-finite value (or out of {dtype:?} range)")));
        }
        let packed = match dtype {
            Dtype::F32 | Dtype::Bf16 => {
                let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
                pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).expect("sized above");
                Packed::F32(blocks)
            }
            Dtype::F16 => {
                let mut blocks = vec![pack::Block16::default(); pack::blocks_f16(n, k)];
                pack::pack_f16(&w, n, k, pack::as_u16_mut(&mut blocks)).expect("sized above");
                Packed::F16(blocks)
            }
        };
        let bf16 = (dtype == Dtype::Bf16).then(|| {
            let len = bf16::packed_len_bf16(n, k);
            let mut blocks = vec![pack::Block16::default(); len.div_ceil(32)];
            bf16::pack_bf16(&w, n, k, &mut pack::as_u16_mut(&mut blocks)[..len])
                .expect("sized above");
            blocks
        });
        let mut l = Layer {
            n,
            k,
            w,
            b,
            packed,
            bf16,
            rms: 0.0,
        };
        let ss: f64 = l.w.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        l.rms = (ss / l.w.len() as f64).sqrt() as f32;
        Ok(l)
    }
    /// Root-mean-square of the weights (the scale of σ in LAST's noise).
    pub fn rms(&self) -> f32 {
        self.rms
    }
    /// Row-major weights.
    pub fn weight(&self) -> &[f32] {
        &self.w
    }
    /// Bias.
    pub fn bias(&self) -> &[f32] {
        &self.b
    }
    /// The packed weights as the kernels take them.
    pub fn packed(&self) -> Weights<'_> {
        let len = pack::packed_len(self.n, self.k);
        match &self.packed {
            Packed::F32(b) => {
                let s: &[f32] = bytemuck::cast_slice(b);
                pack::PackedF32::from_packed(&s[..len], self.n, self.k)
                    .expect("packed at construction")
                    .into()
            }
            Packed::F16(b) => {
                let s: &[u16] = bytemuck::cast_slice(b);
                pack::PackedF16::from_packed(&s[..len], self.n, self.k)
                    .expect("packed at construction")
                    .into()
            }
        }
    }
    /// The bf16 copy the bf16 kernels read (layers of a [`Dtype::Bf16`]
    /// model), holding the same values as [`Layer::weight`].
    pub fn packed_bf16(&self) -> Option<PackedBf16<'_>> {
        let len = bf16::packed_len_bf16(self.n, self.k);
        self.bf16.as_ref().map(|b| {
            let s: &[u16] = bytemuck::cast_slice(b);
            PackedBf16::from_packed(&s[..len], self.n, self.k).expect("packed at construction")
        })
    }
    /// `y = act(x·Wᵀ + b)`.
    pub fn forward(
        &self,
        be: Backend,
        x: MatRef<'_>,
        act: Activation,
        y: MatMut<'_>,
    ) -> Result<(), last_kernels::KernelError> {
        be.dense(x, self.packed(), Some(&self.b), act, y)
    }
    /// Byte view of weights and bias (for hashing the deployed model).
    pub fn bytes(&self) -> impl Iterator<Item = &[u8]> {
        let packed: &[u8] = match &self.packed {
            Packed::F32(b) => bytemuck::cast_slice(b),
            Packed::F16(b) => bytemuck::cast_slice(b),
        };
        let bf16: &[u8] = self.bf16.as_deref().map_or(&[], bytemuck::cast_slice);
        [
            bytemuck::cast_slice::<f32, u8>(&self.w),
            bytemuck::cast_slice::<f32, u8>(&self.b),
            packed,
            bf16,
        ]
        .into_iter()
    }
}
