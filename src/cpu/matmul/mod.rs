//! CPU reference for the matmul kernel.

mod matmul;

pub use matmul::{activate, matmul, MatmulShape};
