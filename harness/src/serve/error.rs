//! Why a request was refused.

use last_kernels::KernelError;

/// Why a request was refused. Nothing is modified on error.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ServeError {
    /// N = 0.
    #[error("no candidates")]
    NoCandidates,
    /// N above the model's limit.
    #[error("{n} candidates, the model accepts at most {max}")]
    TooManyCandidates {
        /// Given.
        n: usize,
        /// Limit.
        max: usize,
    },
    /// L = 0, L > N or L > max_len.
    #[error("list length {len} invalid for {n} candidates (max_len {max_len})")]
    BadLength {
        /// Requested L.
        len: usize,
        /// N.
        n: usize,
        /// Model limit.
        max_len: usize,
    },
    /// Feature width mismatch.
    #[error("{what}: width {got}, model expects {expected}")]
    FeatureWidth {
        /// Which input.
        what: &'static str,
        /// Given.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// NaN or ±∞ in the input.
    #[error("{what}: non-finite value at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat index.
        index: usize,
    },
    /// A variant knob is out of range.
    #[error("variant: {0}")]
    BadKnob(String),
    /// The model's parts disagree (e.g. a bf16 config over layers built
    /// without bf16 weights, through [`crate::model::Model::assemble`]).
    #[error("model: {0}")]
    Model(&'static str),
    /// A kernel refused its shapes (a bug if it happens after validation).
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
}
