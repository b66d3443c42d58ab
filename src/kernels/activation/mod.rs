//! Activation kernels that the elementwise family lacks: softplus forward, and the backward
//! passes of LeakyReLU, sigmoid, tanh, softplus and PReLU (input and slope gradients). The
//! forwards of the others live in [`crate::kernels::elementwise`].

mod activation_backward;
mod prelu_backward;
mod softplus;

pub use activation_backward::{
    activation_backward, leaky_relu_backward, relu6_backward, sigmoid_backward, softplus_backward,
    tanh_backward, ActivationGrad,
};
pub use prelu_backward::{prelu_backward_input, prelu_backward_weight};
pub use softplus::{softplus, SOFTPLUS_THRESHOLD};

use crate::error::{HarkError, Result};
use crate::tensor::{DType, Tensor};

/// Element count of `x` as `u32`, after checking that every tensor is f32 with that count.
pub(crate) fn same_numel(kernel: &'static str, x: &Tensor, others: &[&Tensor]) -> Result<u32> {
    x.expect_dtype(kernel, DType::F32)?;
    for t in others {
        t.expect_dtype(kernel, DType::F32)?;
        if t.numel() != x.numel() {
            return Err(HarkError::shape(
                kernel,
                format!("{:?} vs {:?}: element counts differ", x.shape(), t.shape()),
            ));
        }
    }
    u32::try_from(x.numel()).map_err(|_| HarkError::invalid(kernel, "over 2^32 elements"))
}
