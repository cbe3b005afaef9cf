use core::fmt;

/// Why a kernel refused its arguments. Kernels never panic on bad shapes:
/// they check first and return this, leaving every output untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelError {
    /// A buffer is shorter than its stated shape needs.
    BufferTooSmall {
        /// Which argument.
        what: &'static str,
        /// Elements needed.
        needed: usize,
        /// Elements given.
        got: usize,
    },
    /// Two shapes that must agree do not.
    ShapeMismatch {
        /// Which dimension.
        what: &'static str,
        /// The value implied by the other arguments.
        expected: usize,
        /// The value given.
        got: usize,
    },
    /// A row stride smaller than the row length.
    BadStride {
        /// Which argument.
        what: &'static str,
    },
    /// A size computation overflowed `usize`, or a value is out of the kernel's range.
    OutOfRange {
        /// Which argument.
        what: &'static str,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::BufferTooSmall { what, needed, got } => {
                write!(
                    f,
                    "{what}: buffer holds {got} elements, shape needs {needed}"
                )
            }
            KernelError::ShapeMismatch {
                what,
                expected,
                got,
            } => write!(f, "{what}: expected {expected}, got {got}"),
            KernelError::BadStride { what } => write!(f, "{what}: row stride shorter than a row"),
            KernelError::OutOfRange { what } => write!(f, "{what}: out of range"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KernelError {}

/// Shorthand used by every shape check.
pub(crate) fn need(what: &'static str, needed: usize, got: usize) -> Result<(), KernelError> {
    if got < needed {
        Err(KernelError::BufferTooSmall { what, needed, got })
    } else {
        Ok(())
    }
}

pub(crate) fn same(what: &'static str, expected: usize, got: usize) -> Result<(), KernelError> {
    if expected != got {
        Err(KernelError::ShapeMismatch {
            what,
            expected,
            got,
        })
    } else {
        Ok(())
    }
}
