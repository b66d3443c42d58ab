//! Matrix multiplication.

// One kernel, one name in every place (STYLE.md): matmul/matmul.rs.
#[allow(clippy::module_inception)]
mod matmul;

pub mod autotune;

pub use matmul::{
    k_splits, matmul, matmul_flops, splits_used, vec4_eligible, Activation, MatmulOptions,
    MatmulPath, MatmulTiles,
};
