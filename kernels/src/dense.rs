//! Dense layers: `Y = act(X·Wᵀ + b)` over a batch of rows.
//!
//! The driver here walks the weights' 16-column panels and hands row tiles
//! to the register tile in `dense/tile.rs` (its module docs draw the register
//! layout per ISA); layers with one or two outputs run as row dot products
//! (`dense/narrow.rs`). Every output element is one FMA chain along `k` in order,
//! so a row's result does not depend on the other rows of the call.

use crate::error::{same, KernelError};
use crate::math;
use crate::pack::{PanelElem, Weights};
use crate::simd::{Kernel, Simd};
use crate::{Backend, MatMut, MatRef, PANEL};

mod narrow;
mod tile;
use narrow::{narrow, NARROW_K, NARROW_N};
use tile::wide_of;
pub(crate) use tile::{rows, Tile};

/// The activation fused into a dense layer's epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// `x`.
    #[default]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)` (see [`math::tanh`] for accuracy).
    Tanh,
    /// `1/(1+e^{−x})` (see [`math::sigmoid`]).
    Sigmoid,
}

impl Activation {
    /// Scalar reference.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => {
                if x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
            Activation::Tanh => math::tanh(x),
            Activation::Sigmoid => math::sigmoid(x),
        }
    }
    /// Derivative expressed through the activation's output `y = act(z)`:
    /// identity 1, ReLU `[y > 0]`, tanh `1 − y²`, sigmoid `y(1 − y)`.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }
    #[inline(always)]
    pub(crate) unsafe fn apply_v<S: Simd>(self, x: S::F) -> S::F {
        // SAFETY: register-only SIMD arithmetic; the caller guarantees `S`'s target features (the `Simd` contract).
        unsafe {
            match self {
                Activation::Identity => x,
                Activation::Relu => S::max(x, S::zero()),
                Activation::Tanh => math::tanh_v::<S>(x),
                Activation::Sigmoid => math::sigmoid_v::<S>(x),
            }
        }
    }
}

/// Shape checks shared by every forward kernel.
pub(crate) fn check_forward(
    x: &MatRef<'_>,
    w: &Weights<'_>,
    bias: Option<&[f32]>,
    y: &MatMut<'_>,
) -> Result<(), KernelError> {
    check_shapes(
        w.k(),
        w.n(),
        (x.rows(), x.cols()),
        (y.rows(), y.cols()),
        bias,
    )
}

/// The shape checks of a product `y = x·wᵀ + bias` with `w` of `n` outputs
/// and `k` inputs, `x` and `y` given as (rows, columns); shared by every
/// precision.
pub(crate) fn check_shapes(
    k: usize,
    n: usize,
    x: (usize, usize),
    y: (usize, usize),
    bias: Option<&[f32]>,
) -> Result<(), KernelError> {
    same("x columns vs weight inputs", k, x.1)?;
    same("y columns vs weight outputs", n, y.1)?;
    same("y rows vs x rows", x.0, y.0)?;
    if let Some(b) = bias {
        same("bias length", n, b.len())?;
    }
    Ok(())
}

/// Scalar reference forward, shared with the perturbed kernels through `wget`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_scalar(
    x: &MatRef<'_>,
    n: usize,
    wget: impl Fn(usize, usize) -> f32,
    extra: impl Fn(usize, usize) -> f32,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
    accumulate: bool,
) {
    for i in 0..x.rows() {
        let xr = x.row(i);
        let yr = y.row_mut(i);
        for (j, out) in yr.iter_mut().enumerate().take(n) {
            let mut acc = 0.0f32;
            for (kk, &xv) in xr.iter().enumerate() {
                acc += xv * wget(j, kk);
            }
            acc += extra(i, j);
            if let Some(b) = bias {
                acc += b[j];
            }
            if accumulate {
                acc += *out;
            }
            *out = act.apply(acc);
        }
    }
}

struct Forward<'a, 'y> {
    x: MatRef<'a>,
    w: Weights<'a>,
    /// Add the existing `y` before the activation.
    accumulate: bool,
    bias: Option<&'a [f32]>,
    act: Activation,
    y: MatMut<'y>,
}

/// How long a pointer returned by the `panel` callback of
/// [`forward_panels`] stays valid, which decides how many panels one
/// register tile may read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanelLife {
    /// Every panel stays valid for the whole call (packed weights).
    Stable,
    /// An even panel stays valid until the panel after the next is asked
    /// for, so panels `2i` and `2i + 1` may share a tile (perturbed panels
    /// generated into alternate halves of a two-panel scratch).
    Pairs,
    /// Only the latest panel is valid (one reused buffer).
    Single,
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn forward_panels<S: Simd, E: PanelElem>(
    x: &MatRef<'_>,
    n: usize,
    k: usize,
    mut panel: impl FnMut(usize) -> *const E,
    life: PanelLife,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut MatMut<'_>,
    accumulate: bool,
) {
    let m = x.rows();
    if m == 0 {
        return;
    }
    let ldc = y.stride();
    let c0 = y.ptr();
    let mut mk = |p: usize| {
        let j0 = p * PANEL;
        Tile {
            k,
            a: x.ptr(),
            rs_a: x.stride(),
            cs_a: 1,
            b: panel(p),
            rs_b: PANEL,
            b_full: true,
            k2: 0,
            a2: core::ptr::null(),
            rs_a2: 0,
            b2: core::ptr::null(),
            nc: (n - j0).min(PANEL),
            bias: bias.map_or(core::ptr::null(), |b| b[j0..].as_ptr()),
            act,
            accumulate,
            // SAFETY: j0 < n <= ldc.
            c: unsafe { c0.add(j0) },
            ldc,
        }
    };
    let np = n.div_ceil(PANEL);
    let mut p = 0;
    // 1–2 rows: several panels per tile when the panel pointers stay valid
    // together (`Stable`; a generator reusing one buffer is not).
    // SAFETY (all calls): shapes checked by the caller; panels are zero
    // padded to 16; `Stable` panels are distinct, live buffers, and a
    // `Pairs` generator keeps an even panel valid beside the next one.
    let stable = life == PanelLife::Stable;
    // One vector per panel row (16 lanes) needs twice the panels for the
    // same number of chains: 8 chains per call either way.
    let wide = S::LANES == 16;
    if stable && m == 1 && wide {
        while p + 8 <= np {
            let ts = [
                mk(p),
                mk(p + 1),
                mk(p + 2),
                mk(p + 3),
                mk(p + 4),
                mk(p + 5),
                mk(p + 6),
                mk(p + 7),
            ];
            unsafe { wide_of::<S, E, 1, 8>(&ts) };
            p += 8;
        }
    } else if stable && m == 1 {
        while p + 4 <= np {
            unsafe { wide_of::<S, E, 1, 4>(&[mk(p), mk(p + 1), mk(p + 2), mk(p + 3)]) };
            p += 4;
        }
    } else if stable && m == 2 && wide {
        while p + 4 <= np {
            unsafe { wide_of::<S, E, 2, 4>(&[mk(p), mk(p + 1), mk(p + 2), mk(p + 3)]) };
            p += 4;
        }
    } else if stable && m == 2 {
        while p + 2 <= np {
            unsafe { wide_of::<S, E, 2, 2>(&[mk(p), mk(p + 1)]) };
            p += 2;
        }
    }
    // Three rows and more (any rows for `Pairs`) on a two-panel ISA: pairs
    // of panels per tile, starting at an even panel.
    let pairs = (stable && m > 2) || life == PanelLife::Pairs;
    if pairs && S::TILE_PANELS == 2 && p % 2 == 0 {
        while p + 2 <= np {
            unsafe { rows::<S, E, true, 2>(m, [mk(p), mk(p + 1)]) };
            p += 2;
        }
    }
    for p in p..np {
        unsafe { rows::<S, E, true, 1>(m, [mk(p)]) };
    }
}

impl Kernel for Forward<'_, '_> {
    type Output = ();
    fn scalar(mut self) {
        let w = self.w;
        forward_scalar(
            &self.x,
            w.n(),
            |j, kk| w.get(j, kk),
            |_, _| 0.0,
            self.bias,
            self.act,
            &mut self.y,
            self.accumulate,
        );
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(mut self) {
        let (n, k) = (self.w.n(), self.w.k());
        let acc = self.accumulate;
        if n <= NARROW_N && k <= NARROW_K && !acc {
            // SAFETY: shapes checked by `Backend::dense`.
            unsafe {
                match self.w {
                    Weights::F32(w) => narrow::<S, f32>(
                        &self.x,
                        n,
                        k,
                        w.panel_ptr(0),
                        self.bias,
                        self.act,
                        &mut self.y,
                    ),
                    Weights::F16(w) => narrow::<S, u16>(
                        &self.x,
                        n,
                        k,
                        w.panel_ptr(0),
                        self.bias,
                        self.act,
                        &mut self.y,
                    ),
                }
            }
            return;
        }
        // SAFETY: `run` calls this only with `S`'s target features present; the public entry point validated every shape, so all pointers below stay inside their buffers.
        unsafe {
            match self.w {
                Weights::F32(w) => forward_panels::<S, f32>(
                    &self.x,
                    n,
                    k,
                    |p| w.panel_ptr(p),
                    PanelLife::Stable,
                    self.bias,
                    self.act,
                    &mut self.y,
                    acc,
                ),
                Weights::F16(w)
                    if self.x.rows() > S::TILE_ROWS && k <= WIDEN_K && S::TILE_PANELS == 1 =>
                {
                    // Several row tiles share each panel: widen it to f32 once
                    // (one `vcvtph2ps` per vector) instead of once per tile.
                    // Two-panel tiles read the f16 panels directly: one
                    // conversion per 12 FMAs costs less than the second
                    // panel's broadcasts would.
                    let mut buf = core::mem::MaybeUninit::<[f32; PANEL * WIDEN_K]>::uninit();
                    let dst = buf.as_mut_ptr() as *mut f32;
                    let widen = |p: usize| {
                        let src = w.panel_ptr(p);
                        for i in (0..k * PANEL).step_by(S::LANES) {
                            // SAFETY: i + LANES <= 16k <= buffer and panel length.
                            S::store(dst.add(i), S::load_f16(src.add(i)));
                        }
                        dst as *const f32
                    };
                    forward_panels::<S, f32>(
                        &self.x,
                        n,
                        k,
                        widen,
                        PanelLife::Single,
                        self.bias,
                        self.act,
                        &mut self.y,
                        acc,
                    )
                }
                Weights::F16(w) => forward_panels::<S, u16>(
                    &self.x,
                    n,
                    k,
                    |p| w.panel_ptr(p),
                    PanelLife::Stable,
                    self.bias,
                    self.act,
                    &mut self.y,
                    acc,
                ),
            }
        }
    }
}

/// Longest `k` for which f16 panels are widened into a stack buffer
/// (16·512 f32 = 32 KiB); longer inputs convert inside the k loop.
const WIDEN_K: usize = 512;

impl Backend {
    /// `Y = act(X·Wᵀ + b)`: `x` is m × k, `w` packed n × k, `bias` n, `y` m × n.
    ///
    /// Errors (nothing written) if shapes disagree. Bits of `y` are fully
    /// overwritten. Accumulation order: ascending `k`, one FMA per term on
    /// SIMD paths, separate multiply and add on the scalar path.
    pub fn dense<'w>(
        self,
        x: MatRef<'_>,
        w: impl Into<Weights<'w>>,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
    ) -> Result<(), KernelError> {
        self.forward(x, w.into(), bias, act, y, false)
    }

    /// `Y = act(X·Wᵀ + b + Y)`: [`Backend::dense`] adding the existing
    /// contents of `y` (one precomputed term per row, e.g. a per-request
    /// projection gathered for each candidate) before the activation. On
    /// SIMD paths the tile's sum is `(X·Wᵀ + b) + Y`, on the scalar path
    /// `X·Wᵀ + b + Y` left to right (the same order). Errors as `dense`.
    pub fn dense_add<'w>(
        self,
        x: MatRef<'_>,
        w: impl Into<Weights<'w>>,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
    ) -> Result<(), KernelError> {
        self.forward(x, w.into(), bias, act, y, true)
    }

    fn forward(
        self,
        x: MatRef<'_>,
        w: Weights<'_>,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
        accumulate: bool,
    ) -> Result<(), KernelError> {
        check_forward(&x, &w, bias, &y)?;
        self.run(Forward {
            x,
            w,
            accumulate,
            bias,
            act,
            y,
        });
        Ok(())
    }
}
