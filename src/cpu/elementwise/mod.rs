//! CPU references for the elementwise kernels.

mod binary;
mod prelu;
mod unary;

pub use binary::binary;
pub use prelu::prelu;
pub use unary::unary;
