//! CPU reference for the matmul kernel.

// One kernel, one name in every place (STYLE.md): matmul/matmul.rs.
#[allow(clippy::module_inception)]
mod matmul;

pub use matmul::{activate, matmul, sgemm_matrixmultiply, MatmulShape};
