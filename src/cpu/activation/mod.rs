//! CPU references for the activation kernels, in f64 (also the finite-difference references).

mod activation_backward;
mod prelu_backward;
mod softplus;

pub use activation_backward::activation_backward;
pub use prelu_backward::{prelu, prelu_backward};
pub use softplus::softplus;
