//! Measuring: kernel throughput against the machine's peak, per-request
//! latency on the standard scenario, and the soak run.
//!
//! * [`cpu`]: the CPU model and detected ISA features every record carries;
//! * [`kernels`]: GFLOP/s of the dense and perturbed kernels (and the peer crates);
//! * [`peak`]: the per-ISA FMA / bf16 probes that give the machine's peaks;
//! * [`scenario`]: the standard scenario's requests and their latency;
//! * [`soak`]: many threads serving a mix of variants for a while.

pub mod cpu;
pub mod kernels;
pub mod peak;
pub mod scenario;
pub mod soak;
