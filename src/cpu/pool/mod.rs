//! CPU references for the max-pool kernels (1-D is the 2-D pool over `[.., 1, L]`, as on the GPU).

mod max_pool2d;
mod max_pool2d_backward;

pub use max_pool2d::{max_pool2d, max_pool2d_f64};
pub use max_pool2d_backward::max_pool2d_backward;
