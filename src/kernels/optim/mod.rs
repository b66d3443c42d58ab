//! Optimizers as GPU kernels.

mod adam;
mod grad_norm;

pub use adam::{adam_step, AdamConfig};
pub use grad_norm::clip_scale;
