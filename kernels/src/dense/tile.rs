//! The register tile of the dense, perturbed and backward products: one
//! generic body, per-ISA geometry from [`Simd`].
//!
//! ## `S::TILE_ROWS` rows × `S::TILE_PANELS` 16-column panel rows
//! ```text
//! AVX2 / NEON (8 lanes, 6 rows, one panel):
//!            panel row kk: b0 = W'[kk][j0..j0+8]   b1 = W'[kk][j0+8..j0+16]
//!  x[i+0][kk] ──bcast──▶  acc[0][0] += x·b0      acc[0][1] += x·b1
//!     ...                     ...                    ...
//!  x[i+5][kk] ──bcast──▶  acc[5][0]              acc[5][1]
//!
//! AVX-512 (16 lanes, 12 rows, two panels p and p+1):
//!            panel rows kk: b0 = W'[kk][j0..j0+16]  b1 = W'[kk][j0+16..j0+32]
//!  x[i+0][kk] ──bcast──▶  acc[0][0] += x·b0      acc[1][0] += x·b1
//!     ...                     ...                    ...
//!  x[i+11][kk] ─bcast──▶  acc[0][11]             acc[1][11]
//! ```
//! Two FMAs per broadcast either way: 12 accumulators and 6 broadcasts + 2
//! panel loads per 12 FMAs on AVX2, 24 accumulators and 12 broadcasts + 2
//! panel loads per 24 FMAs on AVX-512 (≥ 8 independent chains hide the
//! 4-cycle FMA latency at 2 FMA/cycle; the load ports keep up). Products
//! whose panels are generated one at a time into a single buffer run one
//! panel per tile (12 accumulators on AVX-512). Rows come in tiles of
//! `TILE_ROWS`; a remainder shorter than `MIN_TAIL_ROWS` joins the last full
//! tile as two near-equal tiles; columns in 16-wide zero-padded panels, so
//! the column tail costs only a masked store. Loop order: panels outer, row
//! tiles inner — the tile's panels stay in L1 while every row tile streams
//! past them. A call with only 1–2 rows runs 2–8 panels per tile instead.
//!
//! Every output element is one FMA chain along `k` in order, whatever the
//! tile: a row's result does not depend on the other rows of the call or on
//! how many panels share its tile (`tests/tests/dense.rs` checks it bit for
//! bit), which lets the serving loop compute shared rows once.
//!
//! Each tile shape is a function of its own ([`Simd::outlined`]).
//!
//! ## Epilogue
//! After the `k` loop (and an optional second, short segment used by the
//! low-rank perturbation), bias and activation are applied in registers and
//! the tile is stored once.

use super::Activation;
use crate::pack::PanelElem;
use crate::simd::{load_row, load_row_upto, row_fma, store_row_upto, Body, Simd};
use crate::PANEL;

/// Raw operands of one row tile. All pointers are valid for the shapes the
/// driver checked; `b` points at `k` panel rows `rs_b` apart, 16 readable
/// elements each when `b_full`, `nc` otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Tile<E> {
    pub k: usize,
    pub a: *const f32,
    pub rs_a: usize,
    pub cs_a: usize,
    pub b: *const E,
    pub rs_b: usize,
    pub b_full: bool,
    /// Optional second segment (k2 = 0 for none): A2 rows `rs_a2` apart,
    /// packed B2 panel (16-wide, zero padded).
    pub k2: usize,
    pub a2: *const f32,
    pub rs_a2: usize,
    pub b2: *const f32,
    /// Valid output columns (1..=16).
    pub nc: usize,
    /// Bias for these 16 columns (`nc` readable) or null.
    pub bias: *const f32,
    pub act: Activation,
    /// Add the existing C tile before storing (β = 1).
    pub accumulate: bool,
    pub c: *mut f32,
    pub ldc: usize,
}

/// How a k loop finds `&A[r][column]` for the rows of its tile.
trait RowAddr {
    /// `&A[r][column]`.
    ///
    /// # Safety
    /// Row `r` at the current column is inside the tile the driver checked.
    unsafe fn at(&self, r: usize) -> *const f32;
    /// Moves every row `by` columns on.
    fn advance(&mut self, by: usize);
}

/// Up to six rows, one pointer each plus a shared column offset: each
/// broadcast is one `vbroadcastss (row, off, 4)`, six pointers and the
/// offset fit the general registers beside the loop state.
#[derive(Clone, Copy)]
struct RowList<const MR: usize> {
    row: [*const f32; MR],
    off: usize,
}

impl<const MR: usize> RowList<MR> {
    /// The most rows this scheme keeps in registers.
    const MAX_ROWS: usize = 6;
    /// Rows `a + r·stride` for `r < MR`.
    #[inline(always)]
    fn new(a: *const f32, stride: usize) -> Self {
        let mut row = [a; MR];
        for (r, p) in row.iter_mut().enumerate() {
            *p = a.wrapping_add(r * stride);
        }
        RowList { row, off: 0 }
    }
}

impl<const MR: usize> RowAddr for RowList<MR> {
    #[inline(always)]
    unsafe fn at(&self, r: usize) -> *const f32 {
        // SAFETY: the caller's contract: this is `a + r·stride + column`.
        unsafe { self.row[r].add(self.off) }
    }
    #[inline(always)]
    fn advance(&mut self, by: usize) {
        self.off += by;
    }
}

/// Seven to twelve rows of an A tile at the current column, addressed as
/// `group[r / 3] + (r % 3)·stride`: 12 rows need only 4 pointers and one
/// stride register (x86 addressing scales the stride by 4 or 8 for free,
/// so each broadcast is one `vbroadcastss (group, stride, s)` or a `{1to16}`
/// operand). Twelve row pointers do not fit the 16 general registers beside
/// the loop state: the compiler then spills them, or rebuilds them with a
/// serial chain of adds, and either bounds the loop below the FMA rate.
#[derive(Clone, Copy)]
struct RowPtrs {
    group: [*const f32; 4],
    stride: usize,
}

impl RowPtrs {
    /// Rows `a + r·stride` for `r < 12`.
    #[inline(always)]
    fn new(a: *const f32, stride: usize) -> Self {
        let g = |i: usize| opaque(a.wrapping_add(3 * i * stride));
        RowPtrs {
            group: [g(0), g(1), g(2), g(3)],
            stride,
        }
    }
}

impl RowAddr for RowPtrs {
    #[inline(always)]
    unsafe fn at(&self, r: usize) -> *const f32 {
        // SAFETY: the caller's contract: this is `a + r·stride + column`.
        unsafe { self.group[r / 3].add((r % 3) * self.stride) }
    }
    /// The pointers pass through [`opaque`] so the optimiser cannot
    /// re-derive one from another, or hoist `group + stride·j` into twelve
    /// loop-carried pointers.
    #[inline(always)]
    fn advance(&mut self, by: usize) {
        for g in &mut self.group {
            *g = opaque(g.wrapping_add(by));
        }
    }
}

/// `p`, with its provenance hidden from the optimiser (see [`RowPtrs`]).
/// The asm receives the pointer only as a register value and never
/// dereferences it, so `nomem` is exact.
#[inline(always)]
#[allow(clippy::pointers_in_nomem_asm_block)]
fn opaque(p: *const f32) -> *const f32 {
    let mut p = p;
    // SAFETY: an empty template that reads and writes one register: no
    // memory access, no stack use, no flags (`pure, nomem, nostack,
    // preserves_flags`); the pointer comes out unchanged.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags))
    };
    p
}

/// One k step: `acc[q][r] += A[r][column] · B_q-row` for the tile's `P`
/// panels. Each broadcast of `A[r][column]` feeds `P` panel rows, so a
/// two-panel tile needs half the broadcasts per FMA. (Index loops, not
/// iterators: the indices become constants and the accumulators registers.)
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn kstep<S: Simd, E: PanelElem, const MR: usize, const P: usize, const FULL: bool>(
    acc: &mut [[S::Row; MR]; P],
    rows: &impl RowAddr,
    bp: &[*const E; P],
    off: usize,
    nc: usize,
) {
    // SAFETY: the caller guarantees `S`'s target features; the tile's pointers and strides cover its MR × 16 block per panel (shapes validated by the public entry point).
    unsafe {
        let mut b = [S::row_splat(S::zero()); P];
        for q in 0..P {
            b[q] = if FULL {
                load_row::<S, E>(bp[q].add(off))
            } else {
                // Unpacked f32 B with a column tail (backward kernels only).
                load_row_upto::<S>(bp[q].add(off) as *const f32, nc)
            };
        }
        for r in 0..MR {
            let x = S::broadcast(rows.at(r));
            for q in 0..P {
                row_fma::<S>(x, &b[q], &mut acc[q][r]);
            }
        }
    }
}

/// The k loop: `acc[q][r] += A[r][p] · B_q[p][0..16]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kloop<S: Simd, E: PanelElem, const MR: usize, const P: usize, const FULL: bool>(
    acc: &mut [[S::Row; MR]; P],
    k: usize,
    a: *const f32,
    rs_a: usize,
    cs_a: usize,
    b: &[*const E; P],
    rs_b: usize,
    nc: usize,
) {
    // SAFETY: the caller guarantees `S`'s target features; the tile's pointers and strides cover its MR × 16 block (shapes validated by the public entry point).
    unsafe {
        if MR <= RowList::<MR>::MAX_ROWS {
            kloop_rows::<S, E, MR, P, FULL>(acc, k, RowList::<MR>::new(a, rs_a), cs_a, b, rs_b, nc);
        } else {
            kloop_rows::<S, E, MR, P, FULL>(acc, k, RowPtrs::new(a, rs_a), cs_a, b, rs_b, nc);
        }
    }
}

/// [`kloop`] over one row-addressing scheme.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kloop_rows<S: Simd, E: PanelElem, const MR: usize, const P: usize, const FULL: bool>(
    acc_out: &mut [[S::Row; MR]; P],
    k: usize,
    mut rows: impl RowAddr,
    cs_a: usize,
    b: &[*const E; P],
    rs_b: usize,
    nc: usize,
) {
    // SAFETY: as for `kloop`; `rows` addresses the tile's MR rows.
    unsafe {
        // A local copy that nothing outside the loop reads, so the
        // optimiser keeps it in registers (the caller's array is also read
        // by the epilogue, and stays in memory).
        let mut acc = *acc_out;
        let acc = &mut acc;
        // Unrolled by two: half the loop overhead.
        let mut p = 0;
        while p + 2 <= k {
            kstep::<S, E, MR, P, FULL>(acc, &rows, b, p * rs_b, nc);
            rows.advance(cs_a);
            kstep::<S, E, MR, P, FULL>(acc, &rows, b, (p + 1) * rs_b, nc);
            rows.advance(cs_a);
            p += 2;
        }
        if p < k {
            kstep::<S, E, MR, P, FULL>(acc, &rows, b, p * rs_b, nc);
        }
        *acc_out = *acc;
    }
}

/// One `MR × 16·P` tile: k loop(s), then bias, activation, store, for the
/// `P` panels of `ts` (which share `a`, `k` and the strides). `PACKED`
/// tiles read A along its rows and B as packed panels (`cs_a = 1`,
/// `rs_b = 16`, `b_full`): the forward and perturbed products, whose
/// address arithmetic is then constant; the backward products pass
/// general strides, one panel at a time. Only single-panel tiles have a
/// second segment (`k2`).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) unsafe fn tile<
    S: Simd,
    E: PanelElem,
    const MR: usize,
    const PACKED: bool,
    const P: usize,
>(
    ts: &[Tile<E>; P],
) {
    const { assert!(MR <= 12 && P >= 1 && P <= 2) };
    // SAFETY: the caller guarantees `S`'s target features; each tile's pointers and strides cover its MR × 16 block (shapes validated by the public entry point).
    unsafe {
        let t = &ts[0];
        let mut b = [t.b; P];
        for q in 0..P {
            b[q] = ts[q].b;
        }
        let mut acc = [[S::row_splat(S::zero()); MR]; P];
        if PACKED {
            debug_assert!(ts
                .iter()
                .all(|t| t.b_full && t.cs_a == 1 && t.rs_b == PANEL));
            kloop::<S, E, MR, P, true>(&mut acc, t.k, t.a, t.rs_a, 1, &b, PANEL, t.nc);
        } else if t.b_full {
            kloop::<S, E, MR, P, true>(&mut acc, t.k, t.a, t.rs_a, t.cs_a, &b, t.rs_b, t.nc);
        } else {
            kloop::<S, E, MR, P, false>(&mut acc, t.k, t.a, t.rs_a, t.cs_a, &b, t.rs_b, t.nc);
        }
        if P == 1 && t.k2 > 0 {
            let acc0 = core::array::from_mut(&mut acc[0]);
            kloop::<S, f32, MR, 1, true>(acc0, t.k2, t.a2, t.rs_a2, 1, &[t.b2], PANEL, PANEL);
        }
        debug_assert!(P == 1 || ts.iter().all(|t| t.k2 == 0));
        for q in 0..P {
            epilogue::<S, E, MR>(&ts[q], &acc[q]);
        }
    }
}

/// 1–2 row tiles over `P` panels at once. A lone 1–2 row tile has only
/// 1–4 independent FMA chains (latency-bound); `P` panels multiply that.
/// Each output is still one FMA chain along k in order, the same sum a full
/// tile computes, so a row's result never depends on how many rows share
/// its call.
#[inline(always)]
unsafe fn tile_wide<S: Simd, E: PanelElem, const MR: usize, const P: usize>(ts: &[Tile<E>; P]) {
    // SAFETY: as for `tile`: every tile's pointers cover its MR × 16 block;
    // all P tiles share `a`, `k` and strides (built by `forward_panels`,
    // packed: `cs_a = 1`, `rs_b = 16`).
    unsafe {
        let t0 = &ts[0];
        debug_assert!(ts
            .iter()
            .all(|t| t.cs_a == 1 && t.rs_b == PANEL && t.b_full));
        let mut rows = [t0.a; MR];
        for (r, ptr) in rows.iter_mut().enumerate() {
            *ptr = t0.a.add(r * t0.rs_a);
        }
        let mut acc = [[S::row_splat(S::zero()); MR]; P];
        for kk in 0..t0.k {
            for (t, accp) in ts.iter().zip(acc.iter_mut()) {
                let b = load_row::<S, E>(t.b.add(kk * PANEL));
                for (row, ptr) in accp.iter_mut().zip(&rows) {
                    row_fma::<S>(S::broadcast(ptr.add(kk)), &b, row);
                }
            }
        }
        for (t, accp) in ts.iter().zip(&acc) {
            epilogue::<S, E, MR>(t, accp);
        }
    }
}

/// Bias, optional accumulate, activation and store of one finished tile.
/// The activation is chosen once per tile, not once per row: with a cheap
/// activation the row loop then unrolls and the accumulators are stored
/// straight from their registers (a per-row `match` kept the loop rolled,
/// and every accumulator went through the stack).
#[inline(always)]
unsafe fn epilogue<S: Simd, E: PanelElem, const MR: usize>(t: &Tile<E>, acc: &[S::Row; MR]) {
    // SAFETY: forwarded.
    unsafe {
        match t.act {
            Activation::Identity => finish::<S, E, MR>(t, acc, Identity),
            Activation::Relu => finish::<S, E, MR>(t, acc, Relu),
            act => finish::<S, E, MR>(t, acc, act),
        }
    }
}

/// An activation applied to one vector. (A trait with `#[inline(always)]`
/// methods, not a closure: a closure the optimiser does not inline is
/// compiled without the kernel's target features, one call per vector.)
trait VectorAct: Copy {
    /// `act(x)` lane by lane.
    ///
    /// # Safety
    /// `S`'s features are available.
    unsafe fn apply<S: Simd>(self, x: S::F) -> S::F;
}

/// [`Activation::Identity`] as a type.
#[derive(Clone, Copy)]
struct Identity;

/// [`Activation::Relu`] as a type.
#[derive(Clone, Copy)]
struct Relu;

impl VectorAct for Identity {
    #[inline(always)]
    unsafe fn apply<S: Simd>(self, x: S::F) -> S::F {
        x
    }
}

impl VectorAct for Relu {
    #[inline(always)]
    unsafe fn apply<S: Simd>(self, x: S::F) -> S::F {
        // SAFETY: register arithmetic under the caller's features.
        unsafe { Activation::Relu.apply_v::<S>(x) }
    }
}

/// Any activation, chosen per vector (tanh and sigmoid, whose cost hides
/// the branch).
impl VectorAct for Activation {
    #[inline(always)]
    unsafe fn apply<S: Simd>(self, x: S::F) -> S::F {
        // SAFETY: register arithmetic under the caller's features.
        unsafe { self.apply_v::<S>(x) }
    }
}

/// [`epilogue`] for one activation `act`.
#[inline(always)]
unsafe fn finish<S: Simd, E: PanelElem, const MR: usize>(
    t: &Tile<E>,
    acc: &[S::Row; MR],
    act: impl VectorAct,
) {
    // SAFETY: the tile's `c` covers MR rows of `nc` columns, `bias` `nc` values.
    unsafe {
        let bias = if t.bias.is_null() {
            S::row_splat(S::zero())
        } else {
            load_row_upto::<S>(t.bias, t.nc)
        };
        for (r, row) in acc.iter().enumerate() {
            let c = t.c.add(r * t.ldc);
            let mut v = *row;
            for (x, b) in v.as_mut().iter_mut().zip(bias.as_ref()) {
                *x = S::add(*x, *b);
            }
            if t.accumulate {
                let old = load_row_upto::<S>(c, t.nc);
                for (x, o) in v.as_mut().iter_mut().zip(old.as_ref()) {
                    *x = S::add(*x, *o);
                }
            }
            for x in v.as_mut() {
                *x = act.apply::<S>(*x);
            }
            store_row_upto::<S>(c, &v, t.nc);
        }
    }
}

/// One `MR`-row tile over `P` panels as a [`Body`], so each tile shape is
/// its own function.
struct TileBody<'t, E, const MR: usize, const PACKED: bool, const P: usize>(&'t [Tile<E>; P]);

impl<E: PanelElem, const MR: usize, const PACKED: bool, const P: usize> Body
    for TileBody<'_, E, MR, PACKED, P>
{
    type Output = ();
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        // SAFETY: forwarded from `tile_of`'s caller.
        unsafe { tile::<S, E, MR, PACKED, P>(self.0) }
    }
}

/// `P` panels of `MR` rows side by side as a [`Body`] (see [`tile_wide`]).
struct WideBody<'t, E, const MR: usize, const P: usize>(&'t [Tile<E>; P]);

impl<E: PanelElem, const MR: usize, const P: usize> Body for WideBody<'_, E, MR, P> {
    type Output = ();
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        // SAFETY: forwarded from the caller of `wide_of`.
        unsafe { tile_wide::<S, E, MR, P>(self.0) }
    }
}

/// [`tile_wide`] in a function of its own.
#[inline(always)]
pub(super) unsafe fn wide_of<S: Simd, E: PanelElem, const MR: usize, const P: usize>(
    ts: &[Tile<E>; P],
) {
    // SAFETY: as for `tile_wide`.
    unsafe { S::outlined::<S, _>(WideBody::<E, MR, P>(ts)) }
}

/// One tile of `r` rows (`1 ≤ r ≤ 12`), each shape a function of its own
/// ([`Simd::outlined`]).
#[inline(always)]
unsafe fn tile_of<S: Simd, E: PanelElem, const PACKED: bool, const P: usize>(
    r: usize,
    ts: &[Tile<E>; P],
) {
    macro_rules! shapes {
        ($($mr:literal)*) => {
            match r {
                $($mr => S::outlined::<S, _>(TileBody::<E, $mr, PACKED, P>(ts)),)*
                _ => {}
            }
        };
    }
    // SAFETY: as for `tile`, for `r` rows.
    unsafe { shapes!(1 2 3 4 5 6 7 8 9 10 11 12) }
}

/// The full tile (`S::TILE_ROWS` rows), inlined into the driver: the shape
/// every row of a long batch runs, so it skips the call of an outlined
/// shape (one inlined body per driver keeps the compile time of
/// [`tile_of`]'s reason in check).
#[inline(always)]
unsafe fn full_tile<S: Simd, E: PanelElem, const PACKED: bool, const P: usize>(ts: &[Tile<E>; P]) {
    // SAFETY: as for `tile`, for `S::TILE_ROWS` rows; the match is on a
    // constant, so one arm survives.
    unsafe {
        match S::TILE_ROWS {
            6 => TileBody::<E, 6, PACKED, P>(ts).simd::<S>(),
            12 => TileBody::<E, 12, PACKED, P>(ts).simd::<S>(),
            r => tile_of::<S, E, PACKED, P>(r, ts),
        }
    }
}

/// Runs the tile over every row of `m`, `S::TILE_ROWS` at a time, then the
/// tail. A remainder shorter than `S::MIN_TAIL_ROWS` after full tiles is
/// merged with the last full tile and run as two near-equal tiles (AVX2:
/// 1–2 rows → 4 + 3 or 4 + 4; AVX-512: 1–7 rows → 7 + 6 … 10 + 9), so
/// tiles with few FMA chains occur only when the whole batch is short.
#[inline(always)]
pub(crate) unsafe fn rows<S: Simd, E: PanelElem, const PACKED: bool, const P: usize>(
    m: usize,
    ts: [Tile<E>; P],
) {
    const { assert!(S::TILE_ROWS <= 12 && S::MIN_TAIL_ROWS <= S::TILE_ROWS) };
    // SAFETY: the caller guarantees `S`'s target features; the tiles' pointers and strides cover their MR × 16 blocks (shapes validated by the public entry point).
    unsafe {
        let mr = S::TILE_ROWS;
        let mut ts = ts;
        let step = |ts: &mut [Tile<E>; P], r: usize| {
            for t in ts.iter_mut() {
                t.a = t.a.add(r * t.rs_a);
                t.a2 = t.a2.wrapping_add(r * t.rs_a2);
                t.c = t.c.add(r * t.ldc);
            }
        };
        let tail = match m % mr {
            r if r > 0 && r < S::MIN_TAIL_ROWS && m > mr => mr + r,
            r => r,
        };
        for _ in 0..(m - tail) / mr {
            full_tile::<S, E, PACKED, P>(&ts);
            step(&mut ts, mr);
        }
        if tail > mr {
            let first = tail.div_ceil(2);
            tile_of::<S, E, PACKED, P>(first, &ts);
            step(&mut ts, first);
            tile_of::<S, E, PACKED, P>(tail - first, &ts);
        } else if tail > 0 {
            tile_of::<S, E, PACKED, P>(tail, &ts);
        }
    }
}
