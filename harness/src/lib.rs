//! LAST harness.
