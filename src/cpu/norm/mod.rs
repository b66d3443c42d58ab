//! CPU references for the normalisation kernels.

mod group_norm;
mod layer_norm;
mod prelu_group_norm;

pub use group_norm::{group_norm, group_norm_backward};
pub use layer_norm::{layer_norm, layer_norm_backward};
pub use prelu_group_norm::prelu_group_norm;
