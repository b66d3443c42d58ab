//! Front-end feature kernels: log compression, temporal mean normalisation, frame stacking and
//! per-clip waveform standardisation. The mel filterbank is a matmul (see [`mel`]).

mod frame_stack;
mod log_compress;
mod mean_normalize;
pub mod mel;
mod standardize;

pub use frame_stack::{frame_stack, stacked_vectors};
pub use log_compress::{log_compress, LogKind};
pub use mean_normalize::mean_normalize;
pub use standardize::standardize;

use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

/// `[batch, frames, bins]` of a rank-2 (`[frames, bins]`, batch 1) or rank-3 tensor.
pub(crate) fn frames_dims(kernel: &'static str, t: &Tensor) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [frames, bins] => Ok((1, frames, bins)),
        [batch, frames, bins] => Ok((batch, frames, bins)),
        _ => Err(HarkError::shape(
            kernel,
            format!(
                "expected [frames, bins] or [batch, frames, bins], got {:?}",
                t.shape()
            ),
        )),
    }
}

pub(crate) use super::to_u32;
