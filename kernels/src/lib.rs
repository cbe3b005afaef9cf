//! # last-kernels
//!
//! `#![no_std]`, allocation-free, hand-vectorised fp32 / fp16 kernels for
//! LAST (Learning At Serving Time) re-ranking:
//!
//! * [`dense`]: `Y = act(X·Wᵀ + b)` over a batch of rows, with weights packed
//!   once into 16-column panels ([`pack`]), fp32 or f16-stored (f32
//!   accumulation), activation fused into the epilogue;
//! * [`backward`]: the pieces gradients need (`dX = dY·W`, `dW += dYᵀ·X`,
//!   `db += Σ dY`, activation derivatives);
//! * [`perturb`]: `Y = X·(W + σE)ᵀ + b` with `E` drawn from the counter RNG
//!   in [`rng`] inside the kernel (never materialised as a matrix), and the
//!   low-rank form `W + σ·U·Vᵀ` applied without forming the matrix;
//! * [`select`]: arg-max, top-k, masked arg-max, Gumbel-max, log-softmax and
//!   enumeration of ordered selections (top permutations);
//! * [`dispatch`]: capability tokens and the [`Backend`] enum that picks the
//!   instruction set once.
//!
//! Every kernel has a scalar reference path ([`Backend::Scalar`]); the AVX2
//! (x86-64, AVX2+FMA+F16C, 8 lanes), AVX-512 (x86-64, F/BW/VL, 16 lanes)
//! and NEON (aarch64, 8 lanes) paths instantiate one shared, generic kernel
//! body (the crate-private `simd` module, whose vector type carries its lane
//! count and register tile) and are tested against it, as is
//! [`Backend::Emu16`], the 16-lane geometry on 8-lane hardware.
//!
//! ```
//! use last_kernels::{Activation, Backend, MatMut, MatRef, pack};
//! let backend = Backend::scalar(); // or Backend::detect() with the `std` feature
//! let (n, k, m) = (3, 2, 2);
//! let w = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 outputs × 2 inputs, row-major
//! let mut packed = vec![0.0f32; pack::packed_len(n, k)];
//! let pw = pack::pack_f32(&w, n, k, &mut packed).unwrap();
//! let x = [1.0f32, 2.0, -3.0, 4.0];
//! let mut y = [0.0f32; 6];
//! backend
//!     .dense(MatRef::new(&x, m, k).unwrap(), pw.as_weights(), None, Activation::Relu,
//!            MatMut::new(&mut y, m, n).unwrap())
//!     .unwrap();
//! assert_eq!(y, [1.0, 2.0, 3.0, 0.0, 4.0, 1.0]);
//! ```
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "std")]
extern crate std;

pub mod backward;
pub mod bf16;
pub mod dense;
pub mod dispatch;
mod error;
pub mod f16;
mod mat;
pub mod math;
pub mod pack;
pub mod perturb;
pub mod pointer;
pub mod rng;
pub mod select;
mod simd;

pub use dense::Activation;
pub use dispatch::{Backend, Isa};
pub use error::KernelError;
pub use mat::{MatMut, MatRef};
pub use pack::{PackedF16, PackedF32, Weights};

/// Width, in output columns, of one packed weight panel (the register tile's
/// `NR`) on every path: two ymm, one zmm or four NEON registers, so weights
/// packed once serve every backend.
pub const PANEL: usize = 16;
