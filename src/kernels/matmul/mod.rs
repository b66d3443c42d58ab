//! Matrix multiplication.

mod matmul;

pub use matmul::{matmul, matmul_flops, Activation, MatmulOptions, MatmulTiles};
