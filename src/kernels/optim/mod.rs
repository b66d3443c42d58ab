//! Optimizers as GPU kernels.

mod adam;

pub use adam::{adam_step, AdamConfig};
