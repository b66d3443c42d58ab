//! CPU references for the elementwise kernels.

mod binary;

pub use binary::binary;
