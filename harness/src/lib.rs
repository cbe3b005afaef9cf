//! # last — Learning At Serving Time, the harness
//!
//! The std side of the project, on the [`last_kernels`] kernels:
//!
//! * serving: [`model`] (generator + evaluator, safetensors + JSON),
//!   [`serve`] (every LAST variant under a latency budget),
//!   [`noise_table`] (the shared pre-drawn noise);
//! * data: [`data`] (LETOR and WSCD readers), [`world`] (the embedded
//!   synthetic world), [`sources`] (MSLR and WSCD datasets), [`dataset`],
//!   [`sim`] (ground-truth click models);
//! * learning and judging: [`train`], [`eval`] (the honest comparison),
//!   [`metrics`], [`plot`], [`pipeline`] (what `last demo/train/eval` run);
//! * measuring: [`bench`], [`scenario`], [`peak`], [`soak`].
#![deny(missing_docs)]

pub mod bench;
pub mod data;
pub mod dataset;
pub mod eval;
pub mod metrics;
pub mod model;
pub mod noise_table;
pub mod peak;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod sim;
pub mod soak;
pub mod sources;
pub mod train;
pub mod world;

pub use last_kernels;

/// The backend the harness uses: `LAST_ISA=scalar|avx2|neon` forces a path
/// (an error if this CPU lacks it), otherwise the best detected one.
pub fn backend_from_env() -> Result<last_kernels::Backend, String> {
    use last_kernels::{Backend, Isa};
    match std::env::var("LAST_ISA") {
        Ok(name) if !name.is_empty() => {
            let isa = Isa::from_name(&name)
                .ok_or_else(|| format!("LAST_ISA={name}: expected scalar, avx2 or neon"))?;
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
