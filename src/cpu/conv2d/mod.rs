//! CPU references for the conv2d kernels. Sizes come from
//! [`Conv2dDims`](crate::params::conv2d::Conv2dDims), so the launchers' shape rules apply here too.

// One kernel, one name in every place (STYLE.md): conv2d/conv2d.rs.
#[allow(clippy::module_inception)]
mod conv2d;
mod conv2d_backward_bias;
mod conv2d_backward_input;
mod conv2d_backward_weight;

pub use conv2d::{conv2d, conv2d_f64};
pub use conv2d_backward_bias::conv2d_backward_bias;
pub use conv2d_backward_input::conv2d_backward_input;
pub use conv2d_backward_weight::conv2d_backward_weight;
