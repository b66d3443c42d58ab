//! Elementwise kernels.

mod binary;

pub use binary::{add, binary, mul, BinaryOp};
