//! 16-lane vectors made of two 8-lane ones: [`Pair<S>`].
//!
//! The AVX-512 path runs the generic bodies with 16 lanes and a 12-row tile
//! of one vector per panel row. `Pair<S>` gives any 8-lane ISA (AVX2, NEON)
//! exactly that geometry, so every machine tests the 16-lane loop bounds,
//! tails and tile shapes, with or without AVX-512. Its arithmetic is lane
//! for lane the same as AVX-512's (one FMA per term, the horizontal sum
//! folds the high half onto the low half first, as `x86_512` does), so on
//! x86 the two give the same bits. Not picked by detection: it is a test
//! geometry: its two-panel tile needs 48 of the 8-lane registers, so it
//! spills and runs slower than the 8-lane path it is built from.

use super::{Body, Simd};

/// Two `S` vectors as one 16-lane vector (`S` must have 8 lanes).
#[derive(Clone, Copy)]
pub(crate) struct Pair<S>(core::marker::PhantomData<S>);

/// Applies `S::$op` to both halves (a macro, not a closure: a closure that
/// failed to inline would lose the caller's target features).
macro_rules! halves {
    ($op:ident($a:ident)) => {
        unsafe { (S::$op($a.0), S::$op($a.1)) }
    };
    ($op:ident::<$n:ident>($a:ident)) => {
        unsafe { (S::$op::<$n>($a.0), S::$op::<$n>($a.1)) }
    };
    ($op:ident($a:ident, $b:ident)) => {
        unsafe { (S::$op($a.0, $b.0), S::$op($a.1, $b.1)) }
    };
}

// SAFETY (whole impl): every function forwards to `S` under the same
// contract; pointer offsets stay inside the 16 lanes the caller vouched for.
#[allow(clippy::undocumented_unsafe_blocks)]
impl<S: Simd> Simd for Pair<S> {
    #[inline(always)]
    unsafe fn outlined<V: Simd, B: Body>(b: B) -> B::Output {
        unsafe { S::outlined::<V, B>(b) }
    }
    const LANES: usize = {
        assert!(S::LANES == 8, "Pair is built from 8-lane vectors");
        16
    };
    const TILE_ROWS: usize = 12;
    const MIN_TAIL_ROWS: usize = 8;
    const TILE_PANELS: usize = 2;
    type F = (S::F, S::F);
    type U = (S::U, S::U);
    type Row = [(S::F, S::F); 1];

    #[inline(always)]
    fn row_splat(x: Self::F) -> Self::Row {
        [x; 1]
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::F {
        unsafe { (S::splat(x), S::splat(x)) }
    }
    #[inline(always)]
    unsafe fn zero() -> Self::F {
        unsafe { (S::zero(), S::zero()) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::F {
        unsafe { (S::load(p), S::load(p.add(8))) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::F {
        unsafe {
            if n > 8 {
                (S::load(p), S::load_partial(p.add(8), n - 8))
            } else {
                (S::load_upto(p, n), S::zero())
            }
        }
    }
    #[inline(always)]
    unsafe fn broadcast(p: *const f32) -> Self::F {
        unsafe {
            let x = S::broadcast(p);
            (x, x)
        }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> Self::F {
        unsafe { (S::load_f16(p), S::load_f16(p.add(8))) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::F) {
        unsafe {
            S::store(p, v.0);
            S::store(p.add(8), v.1);
        }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: Self::F, n: usize) {
        unsafe {
            if n > 8 {
                S::store(p, v.0);
                S::store_partial(p.add(8), v.1, n - 8);
            } else {
                S::store_upto(p, v.0, n);
            }
        }
    }
    #[inline(always)]
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F {
        halves!(add(a, b))
    }
    #[inline(always)]
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F {
        halves!(sub(a, b))
    }
    #[inline(always)]
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F {
        halves!(mul(a, b))
    }
    #[inline(always)]
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F {
        halves!(div(a, b))
    }
    #[inline(always)]
    unsafe fn fma(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        unsafe { (S::fma(a.0, b.0, c.0), S::fma(a.1, b.1, c.1)) }
    }
    #[inline(always)]
    unsafe fn max(a: Self::F, b: Self::F) -> Self::F {
        halves!(max(a, b))
    }
    #[inline(always)]
    unsafe fn min(a: Self::F, b: Self::F) -> Self::F {
        halves!(min(a, b))
    }
    #[inline(always)]
    unsafe fn lt(a: Self::F, b: Self::F) -> Self::F {
        halves!(lt(a, b))
    }
    #[inline(always)]
    unsafe fn select(m: Self::F, t: Self::F, f: Self::F) -> Self::F {
        unsafe { (S::select(m.0, t.0, f.0), S::select(m.1, t.1, f.1)) }
    }
    #[inline(always)]
    unsafe fn and(a: Self::F, b: Self::F) -> Self::F {
        halves!(and(a, b))
    }
    #[inline(always)]
    unsafe fn or(a: Self::F, b: Self::F) -> Self::F {
        halves!(or(a, b))
    }
    #[inline(always)]
    unsafe fn xor(a: Self::F, b: Self::F) -> Self::F {
        halves!(xor(a, b))
    }
    #[inline(always)]
    unsafe fn reduce_add(a: Self::F) -> f32 {
        // High half onto low half, then the 8-lane sum (AVX-512's order).
        unsafe { S::reduce_add(S::add(a.0, a.1)) }
    }
    #[inline(always)]
    unsafe fn usplat(x: u32) -> Self::U {
        unsafe { (S::usplat(x), S::usplat(x)) }
    }
    #[inline(always)]
    unsafe fn uiota() -> Self::U {
        unsafe { (S::uiota(), S::uadd(S::uiota(), S::usplat(8))) }
    }
    #[inline(always)]
    unsafe fn uadd(a: Self::U, b: Self::U) -> Self::U {
        halves!(uadd(a, b))
    }
    #[inline(always)]
    unsafe fn umul(a: Self::U, b: Self::U) -> Self::U {
        halves!(umul(a, b))
    }
    #[inline(always)]
    unsafe fn uxor(a: Self::U, b: Self::U) -> Self::U {
        halves!(uxor(a, b))
    }
    #[inline(always)]
    unsafe fn uand(a: Self::U, b: Self::U) -> Self::U {
        halves!(uand(a, b))
    }
    #[inline(always)]
    unsafe fn ushr<const N: i32>(a: Self::U) -> Self::U {
        halves!(ushr::<N>(a))
    }
    #[inline(always)]
    unsafe fn ushl<const N: i32>(a: Self::U) -> Self::U {
        halves!(ushl::<N>(a))
    }
    #[inline(always)]
    unsafe fn byte_sum(a: Self::U) -> Self::U {
        halves!(byte_sum(a))
    }
    #[inline(always)]
    unsafe fn u_to_f(a: Self::U) -> Self::F {
        halves!(u_to_f(a))
    }
    #[inline(always)]
    unsafe fn f_as_u(a: Self::F) -> Self::U {
        halves!(f_as_u(a))
    }
    #[inline(always)]
    unsafe fn u_as_f(a: Self::U) -> Self::F {
        halves!(u_as_f(a))
    }
    #[inline(always)]
    unsafe fn f_to_i(a: Self::F) -> Self::U {
        halves!(f_to_i(a))
    }
}
