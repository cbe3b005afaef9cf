//! Measuring: kernel throughput against the machine's peak, per-request
//! latency on the standard scenario, and the soak run.
//!
//! * [`kernels`]: GFLOP/s of the dense and perturbed kernels (and the peer crates);
//! * [`peak`]: the FMA probe that gives the machine's fp32 peak;
//! * [`scenario`]: the standard scenario's requests and their latency;
//! * [`soak`]: many threads serving a mix of variants for a while.

pub mod kernels;
pub mod peak;
pub mod scenario;
pub mod soak;
