//! # last — Learning At Serving Time
//!
//! Re-ranking with a request-specific offset Δθ searched at serving time,
//! on the [`last_kernels`] kernels. The library has two layers:
//!
//! * **serving** (always built; with `default-features = false` it is all
//!   there is): [`model`] (generator + evaluator, safetensors + JSON, the
//!   shared noise table) and [`serve`] (every LAST variant under a latency
//!   budget, one [`serve::Scratch`] per serving thread);
//! * **tools** (feature `tools`, on by default): [`data`] (LETOR and WSCD
//!   readers, datasets, the embedded synthetic world, click simulators),
//!   [`train`] (evaluator and generator training), [`eval`] (the honest
//!   comparison, metrics, plots), [`bench`](mod@bench) (kernel and latency benchmarks,
//!   the peak probe, the soak run), [`pipeline`] (what `last demo`, `train`
//!   and `eval` run), [`progress`] and [`rng`];
//! * **server** (feature `server`, on by default): `server`, what `last
//!   serve` runs: HTTP on axum and tokio, a compute pool, metrics.
//!
//! The `peers` feature adds the `gemm` and `matrixmultiply` crates to the
//! kernel benchmark.
#![deny(missing_docs)]

pub mod model;
pub mod serve;

#[cfg(feature = "tools")]
pub mod bench;
#[cfg(feature = "tools")]
pub mod data;
#[cfg(feature = "tools")]
pub mod eval;
#[cfg(feature = "tools")]
pub mod pipeline;
#[cfg(feature = "tools")]
pub mod progress;
#[cfg(feature = "tools")]
pub mod rng;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "tools")]
pub mod train;

pub use last_kernels;

/// The backend the harness uses: `LAST_ISA=scalar|avx2|avx512|neon|emu16` forces a path
/// (an error if this CPU lacks it), otherwise the best detected one.
pub fn backend_from_env() -> Result<last_kernels::Backend, String> {
    use last_kernels::{Backend, Isa};
    match std::env::var("LAST_ISA") {
        Ok(name) if !name.is_empty() => {
            let isa = Isa::from_name(&name).ok_or_else(|| {
                format!("LAST_ISA={name}: expected scalar, avx2, avx512, neon or emu16")
            })?;
            Backend::for_isa(isa)
                .ok_or_else(|| format!("LAST_ISA={name}: not supported by this CPU"))
        }
        _ => Ok(Backend::detect()),
    }
}

/// The README's Rust examples, compiled and run as doc-tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
