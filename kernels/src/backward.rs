//! Backward pieces for training and gradient exploration.
//!
//! For a layer `Y = act(Z)`, `Z = X·Wᵀ + b` (W is n × k, row-major):
//! * `dZ = dY ⊙ act'(Z)`: [`Backend::activation_backward`] (in place, from `Y`);
//! * `dX = dZ·W`: [`Backend::matmul`] with `b = W` (unpacked, n × k);
//! * `dW += dZᵀ·X`: [`Backend::matmul_tn`] with `accumulate = true`;
//! * `db += Σ_rows dZ`: [`Backend::bias_grad`].
//!
//! The two products reuse the forward micro-kernel (`TILE_ROWS` × 16 tile); only the
//! strides differ: `matmul` reads B rows `ldb` apart with masked loads for
//! the column tail, `matmul_tn` walks A down its columns.

use crate::dense::{rows, Activation, Tile};
use crate::error::{same, KernelError};
use crate::simd::{Kernel, Simd};
use crate::{Backend, MatMut, MatRef, PANEL};

struct MatMul<'a, 'c> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    c: MatMut<'c>,
    /// A is stored transposed (p × m).
    a_t: bool,
    accumulate: bool,
}

impl Kernel for MatMul<'_, '_> {
    type Output = ();
    fn scalar(mut self) {
        let (m, n) = (self.c.rows(), self.c.cols());
        let p = self.b.rows();
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for q in 0..p {
                    let av = if self.a_t {
                        self.a.row(q)[i]
                    } else {
                        self.a.row(i)[q]
                    };
                    acc += av * self.b.row(q)[j];
                }
                let out = &mut self.c.row_mut(i)[j];
                *out = if self.accumulate { *out + acc } else { acc };
            }
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(mut self) {
        let (m, n) = (self.c.rows(), self.c.cols());
        let p = self.b.rows();
        if m == 0 || n == 0 {
            return;
        }
        let (rs_a, cs_a) = if self.a_t {
            (1, self.a.stride())
        } else {
            (self.a.stride(), 1)
        };
        let ldc = self.c.stride();
        let c0 = self.c.ptr();
        for j0 in (0..n).step_by(PANEL) {
            let nc = (n - j0).min(PANEL);
            let t = Tile::<f32> {
                k: p,
                a: self.a.ptr(),
                rs_a,
                cs_a,
                // SAFETY (all adds): j0 < n <= stride of b and c.
                b: unsafe { self.b.ptr().add(j0) },
                rs_b: self.b.stride(),
                b_full: nc == PANEL,
                k2: 0,
                a2: core::ptr::null(),
                rs_a2: 0,
                b2: core::ptr::null(),
                nc,
                bias: core::ptr::null(),
                act: Activation::Identity,
                accumulate: self.accumulate,
                // SAFETY: as above, j0 < n: inside C's first row.
                c: unsafe { c0.add(j0) },
                ldc,
            };
            // SAFETY: shapes checked by the public wrappers; B loads are
            // masked to `nc` columns when the tail is short.
            unsafe { rows::<S, f32, false, 1>(m, [t]) };
        }
    }
}

struct BiasGrad<'a, 'd> {
    dy: MatRef<'a>,
    db: &'d mut [f32],
}

impl Kernel for BiasGrad<'_, '_> {
    type Output = ();
    fn scalar(self) {
        for i in 0..self.dy.rows() {
            for (d, v) in self.db.iter_mut().zip(self.dy.row(i)) {
                *d += v;
            }
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(self) {
        let n = self.db.len();
        let db = self.db.as_mut_ptr();
        let mut j = 0;
        while j < n {
            let w = n - j;
            // SAFETY: at most w lanes from j: j + w <= n = db.len() = dy.cols().
            unsafe {
                let mut acc = S::load_upto(db.add(j), w);
                for i in 0..self.dy.rows() {
                    let r = self.dy.row(i).as_ptr().add(j);
                    acc = S::add(acc, S::load_upto(r, w));
                }
                S::store_upto(db.add(j), acc, w);
            }
            j += S::LANES;
        }
    }
}

struct ActBackward<'a, 'd> {
    act: Activation,
    y: MatRef<'a>,
    dy: MatMut<'d>,
}

impl Kernel for ActBackward<'_, '_> {
    type Output = ();
    fn scalar(mut self) {
        for i in 0..self.y.rows() {
            for (d, &y) in self.dy.row_mut(i).iter_mut().zip(self.y.row(i)) {
                *d *= self.act.derivative_from_output(y);
            }
        }
    }
    #[inline(always)]
    unsafe fn simd<S: Simd>(mut self) {
        let n = self.y.cols();
        for i in 0..self.y.rows() {
            let yr = self.y.row(i).as_ptr();
            let dr = self.dy.row_mut(i).as_mut_ptr();
            let mut j = 0;
            while j < n {
                let w = n - j;
                // SAFETY: at most w lanes from j, inside both rows.
                unsafe {
                    let (y, d) = (S::load_upto(yr.add(j), w), S::load_upto(dr.add(j), w));
                    let one = S::splat(1.0);
                    let g = match self.act {
                        Activation::Identity => one,
                        Activation::Relu => S::and(S::lt(S::zero(), y), one),
                        Activation::Tanh => S::sub(one, S::mul(y, y)),
                        Activation::Sigmoid => S::mul(y, S::sub(one, y)),
                    };
                    S::store_upto(dr.add(j), S::mul(d, g), w);
                }
                j += S::LANES;
            }
        }
    }
}

impl Backend {
    /// `C = A·B` (or `C += A·B` with `accumulate`): a m × p, b p × n, c m × n.
    /// With `b = W` (n × k, unpacked) this is `dX = dZ·W`.
    pub fn matmul(
        self,
        a: MatRef<'_>,
        b: MatRef<'_>,
        c: MatMut<'_>,
        accumulate: bool,
    ) -> Result<(), KernelError> {
        same("a columns vs b rows", b.rows(), a.cols())?;
        same("c rows vs a rows", a.rows(), c.rows())?;
        same("c columns vs b columns", b.cols(), c.cols())?;
        self.run(MatMul {
            a,
            b,
            c,
            a_t: false,
            accumulate,
        });
        Ok(())
    }

    /// `C = Aᵀ·B` (or `+=`): a p × m, b p × n, c m × n. With `a = dZ`,
    /// `b = X` and `accumulate` this is `dW += dZᵀ·X`.
    pub fn matmul_tn(
        self,
        a: MatRef<'_>,
        b: MatRef<'_>,
        c: MatMut<'_>,
        accumulate: bool,
    ) -> Result<(), KernelError> {
        same("a rows vs b rows", b.rows(), a.rows())?;
        same("c rows vs a columns", a.cols(), c.rows())?;
        same("c columns vs b columns", b.cols(), c.cols())?;
        self.run(MatMul {
            a,
            b,
            c,
            a_t: true,
            accumulate,
        });
        Ok(())
    }

    /// `db += Σ_rows dy` (dy m × n, db n).
    pub fn bias_grad(self, dy: MatRef<'_>, db: &mut [f32]) -> Result<(), KernelError> {
        same("bias gradient length", dy.cols(), db.len())?;
        self.run(BiasGrad { dy, db });
        Ok(())
    }

    /// `dy ⊙= act'(z)`, with the derivative taken from the layer's output `y`
    /// (see [`Activation::derivative_from_output`]).
    pub fn activation_backward(
        self,
        act: Activation,
        y: MatRef<'_>,
        dy: MatMut<'_>,
    ) -> Result<(), KernelError> {
        same("dy rows", y.rows(), dy.rows())?;
        same("dy columns", y.cols(), dy.cols())?;
        self.run(ActBackward { act, y, dy });
        Ok(())
    }
}
