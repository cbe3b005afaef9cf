//! Perturbed weight application: `Y = act(X·(W + σE)ᵀ + b)` for one
//! candidate Δθ = σE, without touching `W` and without materialising `E`.
//!
//! * **Full rank** ([`Backend::dense_perturbed`]): `E[j][kk]` is element
//!   `j·k + kk` of a [`Noise`] stream (Gaussian or Rademacher, optionally
//!   antithetic). Generation is fused at panel granularity: each 16-column
//!   panel of `W + σE` is generated once into one of two `k × 16` scratch
//!   panels (L1 resident) and every row tile then runs the normal micro-kernel over it,
//!   so noise costs `n·k` hash evaluations per call, independent of the batch.
//!   `W + σE` is computed as a separate multiply and add (not fused) on every
//!   path, so the perturbed weights are bit-identical on scalar, AVX2 and NEON.
//! * **Low rank** ([`Backend::dense_low_rank`]): `ΔW = σ·U·Vᵀ` with `U`
//!   n × r and `V` k × r; `X·ΔWᵀ = σ(X·V)·Uᵀ` is `m·r·(k + n)` multiply-adds:
//!   `T = σ·X·V` first, then `T·Uᵀ` runs as a second short `k` segment of the
//!   same register tile, before bias and activation.

use crate::dense::{
    check_forward, forward_panels, forward_scalar, rows, Activation, PanelLife, Tile,
};
use crate::error::{need, same, KernelError};
use crate::pack::{PackedF32, PanelElem, Weights};
use crate::rng::{Noise, NoiseKey};
use crate::simd::{load_row, Body, Kernel, Simd};
use crate::{Backend, MatMut, MatRef, PANEL};

mod weights;

/// Scratch elements [`Backend::dense_perturbed`] needs for inputs of width
/// `k`: two `k × 16` panels, so a two-panel register tile (AVX-512) reads a
/// pair of generated panels.
pub fn perturbed_scratch_len(k: usize) -> usize {
    k.saturating_mul(2 * PANEL)
}

/// Where a full-rank perturbation's values come from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Counter-hash stream: `E[j][kk]` is element `j·k + kk`.
    Hash(NoiseKey),
    /// A slice of pre-drawn values in the packed order of `W`'s panels:
    /// `E` of panel `p`, row `kk`, lane `l` is `t[p·16·k + kk·16 + l]`.
    Table(&'a [f32]),
}

impl Source<'_> {
    /// `E[j][kk]` (scalar reference); `k` is the layer's input width.
    pub(crate) fn value(&self, j: usize, kk: usize, k: usize) -> f32 {
        match self {
            Source::Hash(key) => key.value((j * k + kk) as u32),
            Source::Table(t) => t[(j / PANEL) * PANEL * k + kk * PANEL + j % PANEL],
        }
    }
}

/// Generates panel `p` of `W + σE` into `out` (k × 16). The hash source
/// costs two integer hashes per value; the table source one load.
#[inline(always)]
unsafe fn perturbed_panel<S: Simd, E: PanelElem>(
    src: *const E,
    p: usize,
    k: usize,
    noise: &Source<'_>,
    sigma: f32,
    out: *mut f32,
) {
    // SAFETY: the caller guarantees `S`'s target features, `src` and `out`
    // valid for k panel rows, and a table source at least packed_len(n, k)
    // long (checked by the public entry points).
    unsafe {
        let sig = S::splat(sigma);
        match noise {
            Source::Hash(key) => {
                let ku = k as u32;
                // Lane j of vector v holds element ((16p + v·LANES + j)·k + kk):
                // the noise is keyed by the weight's logical position, so
                // every lane width draws the same values.
                let lane = S::umul(S::uiota(), S::usplat(ku));
                // Index of (row 16p + v·LANES + j, column 0) per vector v
                // (at most two vectors per panel row).
                let mut base = [lane; 2];
                for (v, b) in base.iter_mut().enumerate().take(PANEL / S::LANES) {
                    let first = ((p * PANEL + v * S::LANES) as u32).wrapping_mul(ku);
                    *b = S::uadd(lane, S::usplat(first));
                }
                for kk in 0..k {
                    let off = S::usplat(kk as u32);
                    let mut e = S::row_splat(S::zero());
                    for (x, b) in e.as_mut().iter_mut().zip(&base) {
                        *x = key.value_v::<S>(S::uadd(*b, off));
                    }
                    panel_row::<S, E>(src, kk, &e, sig, out);
                }
            }
            Source::Table(t) => {
                let t = t.as_ptr().add(p * PANEL * k);
                for kk in 0..k {
                    let e = load_row::<S, f32>(t.add(kk * PANEL));
                    panel_row::<S, E>(src, kk, &e, sig, out);
                }
            }
        }
    }
}

/// Row `kk` of a perturbed panel: `out = W + σ·e` as a separate multiply and
/// add (not fused), so every path rounds identically.
#[inline(always)]
unsafe fn panel_row<S: Simd, E: PanelElem>(
    src: *const E,
    kk: usize,
    e: &S::Row,
    sig: S::F,
    out: *mut f32,
) {
    // SAFETY: as in `perturbed_panel`: row kk of both panels is in bounds.
    unsafe {
        let w = load_row::<S, E>(src.add(kk * PANEL));
        for (v, (wv, ev)) in w.as_ref().iter().zip(e.as_ref()).enumerate() {
            S::store(
                out.add(kk * PANEL + v * S::LANES),
                S::add(*wv, S::mul(sig, *ev)),
            );
        }
    }
}

/// [`perturbed_panel`] as a [`Body`].
struct PanelBody<'n, E> {
    src: *const E,
    p: usize,
    k: usize,
    noise: &'n Source<'n>,
    sigma: f32,
    out: *mut f32,
}

impl<E: PanelElem> Body for PanelBody<'_, E> {
    type Output = ();
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        // SAFETY: forwarded from the generator's caller.
        unsafe {
            perturbed_panel::<S, E>(self.src, self.p, self.k, self.noise, self.sigma, self.out)
        }
    }
}

struct Perturbed<'a, 'y, 's> {
    x: MatRef<'a>,
    w: Weights<'a>,
    noise: Source<'a>,
    sigma: f32,
    bias: Option<&'a [f32]>,
    act: Activation,
    y: MatMut<'y>,
    scratch: &'s mut [f32],
}

impl Perturbed<'_, '_, '_> {
    #[inline(always)]
    unsafe fn run_simd<S: Simd, E: PanelElem>(&mut self, panel: impl Fn(usize) -> *const E) {
        let (n, k) = (self.w.n(), self.w.k());
        let (noise, sigma) = (self.noise, self.sigma);
        let scratch = self.scratch.as_mut_ptr();
        // The plain dense driver, fed a freshly generated panel each time,
        // into alternate halves of the scratch (so panels 2i and 2i + 1 are
        // valid together: `PanelLife::Pairs`).
        // Generation runs as a function of its own (`Simd::outlined`): the
        // closure holds no vector code, so whether the optimiser inlines it
        // at the driver's several call sites cannot cost the target features.
        let gen = |p: usize| {
            // SAFETY: scratch holds 2·k·16 floats (checked); the panel holds k·16 elements.
            unsafe {
                let out = scratch.add((p % 2) * k * PANEL);
                let body = PanelBody {
                    src: panel(p),
                    p,
                    k,
                    noise: &noise,
                    sigma,
                    out,
                };
                S::outlined::<S, _>(body);
                out as *const f32
            }
        };
        // SAFETY: shapes checked by the public wrapper.
        unsafe {
            forward_panels::<S, f32>(
                &self.x,
                n,
                k,
                gen,
                PanelLife::Pairs,
                self.bias,
                self.act,
                &mut self.y,
                false,
            )
        };
    }
}

impl Kernel for Perturbed<'_, '_, '_> {
    type Output = ();
    fn scalar(mut self) {
        let (w, noise, sigma, k) = (self.w, self.noise, self.sigma, self.w.k());
        forward_scalar(
            &self.x,
            w.n(),
            |j, kk| w.get(j, kk) + sigma * noise.value(j, kk, k),
            |_, _| 0.0,
            self.bias,
            self.act,
            &mut self.y,
            false,
        );
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(mut self) {
        // SAFETY: `run` calls this only with `S`'s target features present; the public entry point validated every shape, so all pointers below stay inside their buffers.
        unsafe {
            match self.w {
                Weights::F32(w) => self.run_simd::<S, f32>(|p| w.panel_ptr(p)),
                Weights::F16(w) => self.run_simd::<S, u16>(|p| w.panel_ptr(p)),
            }
        }
    }
}

/// A low-rank perturbation `ΔW = σ·U·Vᵀ`.
#[derive(Clone, Copy, Debug)]
pub struct LowRank<'a> {
    /// `U`, n × r, packed with [`crate::pack::pack_f32`] (`k` = r).
    pub u: PackedF32<'a>,
    /// `Vᵀ`, r × k, row-major.
    pub vt: MatRef<'a>,
    /// Scale σ.
    pub sigma: f32,
}

struct LowRankDense<'a, 'y, 's> {
    x: MatRef<'a>,
    w: Weights<'a>,
    lr: LowRank<'a>,
    bias: Option<&'a [f32]>,
    act: Activation,
    y: MatMut<'y>,
    t: &'s mut [f32],
}

impl Kernel for LowRankDense<'_, '_, '_> {
    type Output = ();
    fn scalar(mut self) {
        let r = self.lr.vt.rows();
        for i in 0..self.x.rows() {
            for q in 0..r {
                let mut acc = 0.0f32;
                for (xv, vv) in self.x.row(i).iter().zip(self.lr.vt.row(q)) {
                    acc += xv * vv;
                }
                self.t[i * r + q] = self.lr.sigma * acc;
            }
        }
        let (w, u, t) = (self.w, self.lr.u, &*self.t);
        forward_scalar(
            &self.x,
            w.n(),
            |j, kk| w.get(j, kk),
            |i, j| {
                let mut e = 0.0f32;
                for q in 0..r {
                    e += t[i * r + q] * u.get(j, q);
                }
                e
            },
            self.bias,
            self.act,
            &mut self.y,
            false,
        );
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(mut self) {
        let (m, k) = (self.x.rows(), self.x.cols());
        let r = self.lr.vt.rows();
        if m == 0 {
            return;
        }
        // T = σ·X·V: dot products, LANES at a time.
        for i in 0..m {
            let xr = self.x.row(i).as_ptr();
            for q in 0..r {
                let vr = self.lr.vt.row(q).as_ptr();
                // SAFETY: both rows hold k elements; loads stay below k.
                let dot = unsafe {
                    let mut acc = S::zero();
                    let mut kk = 0;
                    while kk + S::LANES <= k {
                        acc = S::fma(S::load(xr.add(kk)), S::load(vr.add(kk)), acc);
                        kk += S::LANES;
                    }
                    if kk < k {
                        let xv = S::load_partial(xr.add(kk), k - kk);
                        let vv = S::load_partial(vr.add(kk), k - kk);
                        acc = S::fma(xv, vv, acc);
                    }
                    S::reduce_add(acc)
                };
                self.t[i * r + q] = self.lr.sigma * dot;
            }
        }
        // SAFETY: `run` calls this only with `S`'s target features present; the public entry point validated every shape, so all pointers below stay inside their buffers.
        unsafe {
            match self.w {
                Weights::F32(w) => self.panels::<S, f32>(|p| w.panel_ptr(p)),
                Weights::F16(w) => self.panels::<S, u16>(|p| w.panel_ptr(p)),
            }
        }
    }
}

impl LowRankDense<'_, '_, '_> {
    /// Every panel: the `W` segment, then the `T·Uᵀ` segment, then the epilogue.
    #[inline(always)]
    unsafe fn panels<S: Simd, E: PanelElem>(&mut self, panel: impl Fn(usize) -> *const E) {
        let (m, k, n) = (self.x.rows(), self.x.cols(), self.w.n());
        let r = self.lr.vt.rows();
        let ldc = self.y.stride();
        let c0 = self.y.ptr();
        for p in 0..n.div_ceil(PANEL) {
            let j0 = p * PANEL;
            let t = Tile::<E> {
                k,
                a: self.x.ptr(),
                rs_a: self.x.stride(),
                cs_a: 1,
                b: panel(p),
                rs_b: PANEL,
                b_full: true,
                k2: r,
                a2: self.t.as_ptr(),
                rs_a2: r,
                b2: self.lr.u.panel_ptr(p),
                nc: (n - j0).min(PANEL),
                bias: self.bias.map_or(core::ptr::null(), |b| b[j0..].as_ptr()),
                act: self.act,
                accumulate: false,
                // SAFETY: j0 < n <= ldc.
                c: unsafe { c0.add(j0) },
                ldc,
            };
            // SAFETY: shapes checked by the public wrapper; T is m × r.
            unsafe { rows::<S, E, true, 1>(m, [t]) };
        }
    }
}

impl Backend {
    /// `Y = act(X·(W + σE)ᵀ + b)` with `E[j][kk] = noise.value(j·k + kk)`.
    /// `scratch` needs [`perturbed_scratch_len`]`(k)` floats; `W` is not modified.
    #[allow(clippy::too_many_arguments)]
    pub fn dense_perturbed<'w>(
        self,
        x: MatRef<'_>,
        w: impl Into<Weights<'w>>,
        noise: &Noise,
        sigma: f32,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let noise = Source::Hash(noise.key());
        self.perturbed(x, w.into(), noise, sigma, bias, act, y, scratch)
    }

    /// `Y = act(X·(W + σE)ᵀ + b)` with `E` read from `table`, a slice of
    /// pre-drawn values in the packed panel order of `W`: `E[j][kk]` is
    /// `table[(j/16)·16·k + kk·16 + j%16]`, so `table` needs
    /// [`crate::pack::packed_len`]`(n, k)` values. A table shared by all
    /// requests and read at a per-candidate offset (the "shared noise table"
    /// of Salimans et al., 2017) makes the noise one load per weight instead
    /// of two hashes. `scratch` as for [`Backend::dense_perturbed`].
    #[allow(clippy::too_many_arguments)]
    pub fn dense_perturbed_table<'w>(
        self,
        x: MatRef<'_>,
        w: impl Into<Weights<'w>>,
        table: &[f32],
        sigma: f32,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let w = w.into();
        need(
            "noise table",
            crate::pack::packed_len(w.n(), w.k()),
            table.len(),
        )?;
        self.perturbed(x, w, Source::Table(table), sigma, bias, act, y, scratch)
    }

    /// The checks and the run shared by the full-rank perturbed products.
    #[allow(clippy::too_many_arguments)]
    fn perturbed(
        self,
        x: MatRef<'_>,
        w: Weights<'_>,
        noise: Source<'_>,
        sigma: f32,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        check_forward(&x, &w, bias, &y)?;
        need(
            "perturbation scratch",
            perturbed_scratch_len(w.k()),
            scratch.len(),
        )?;
        if !sigma.is_finite() {
            return Err(KernelError::OutOfRange { what: "sigma" });
        }
        self.run(Perturbed {
            x,
            w,
            noise,
            sigma,
            bias,
            act,
            y,
            scratch,
        });
        Ok(())
    }

    /// `Y = act(X·(W + σ·U·Vᵀ)ᵀ + b)` without forming `U·Vᵀ`; `t` is scratch
    /// of at least m·r floats (it receives `σ·X·V`).
    #[allow(clippy::too_many_arguments)]
    pub fn dense_low_rank<'w>(
        self,
        x: MatRef<'_>,
        w: impl Into<Weights<'w>>,
        lr: LowRank<'_>,
        bias: Option<&[f32]>,
        act: Activation,
        y: MatMut<'_>,
        t: &mut [f32],
    ) -> Result<(), KernelError> {
        let w = w.into();
        check_forward(&x, &w, bias, &y)?;
        let r = lr.vt.rows();
        same("U rows vs weight outputs", w.n(), lr.u.n())?;
        same("U rank vs Vᵀ rows", r, lr.u.k())?;
        same("Vᵀ columns vs weight inputs", w.k(), lr.vt.cols())?;
        need("low-rank scratch", x.rows().saturating_mul(r), t.len())?;
        if !lr.sigma.is_finite() {
            return Err(KernelError::OutOfRange { what: "sigma" });
        }
        // SAFETY of the raw pointers inside: the slices borrowed here outlive the call.
        self.run(LowRankDense {
            x,
            w,
            lr,
            bias,
            act,
            y,
            t,
        });
        Ok(())
    }
}
