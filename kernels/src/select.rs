//! Selection kernels.
