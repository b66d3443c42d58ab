//! Normalisation kernels with hand-written backward passes: LayerNorm over a chosen axis and
//! GroupNorm (one group = Conv-TasNet's gLN). Forward passes save mean and rstd for backward.

mod group_norm;
mod layer_norm;
mod prelu_group_norm;

pub use group_norm::{group_norm, group_norm_backward_input, group_norm_backward_params};
pub use layer_norm::{layer_norm, layer_norm_backward_input, layer_norm_backward_params};
pub use prelu_group_norm::{
    partials_len, prelu_group_norm, PreluGroupNormArgs, PreluGroupNormOutputs, DEFAULT_CHUNK,
};

use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

pub(crate) use super::to_u32;

/// Errors unless every tensor holds f32.
pub(crate) fn check_f32(kernel: &'static str, tensors: &[&Tensor]) -> Result<()> {
    tensors
        .iter()
        .try_for_each(|t| t.expect_dtype(kernel, crate::tensor::DType::F32))
}

/// Errors unless `t` (named `what`) holds exactly `numel` elements.
pub(crate) fn check_numel(
    kernel: &'static str,
    what: &str,
    t: &Tensor,
    numel: usize,
) -> Result<()> {
    if t.numel() != numel {
        return Err(HarkError::shape(
            kernel,
            format!("{what} {:?} must hold {numel} elements", t.shape()),
        ));
    }
    Ok(())
}
