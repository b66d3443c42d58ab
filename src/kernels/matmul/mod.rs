//! Matrix multiplication.

// One kernel, one name in every place (STYLE.md): matmul/matmul.rs.
#[allow(clippy::module_inception)]
mod matmul;

pub use matmul::{matmul, matmul_flops, Activation, MatmulOptions, MatmulTiles};
