//! CPU references for the conv1d family: direct loops in f64, straight from the definitions
//! (the backward passes as the scatters that the GPU gathers invert).

// One kernel, one name in every place (STYLE.md): conv1d/conv1d.rs.
#[allow(clippy::module_inception)]
mod conv1d;
mod conv_transpose1d;

pub use conv1d::{
    conv1d, conv1d_backward_bias, conv1d_backward_input, conv1d_backward_weight, conv1d_f64,
    Conv1dDims,
};
pub use conv_transpose1d::{
    conv_transpose1d, conv_transpose1d_backward_input, conv_transpose1d_backward_weight,
    conv_transpose1d_f64, ConvTranspose1dDims,
};

pub(crate) fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

pub(crate) fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
