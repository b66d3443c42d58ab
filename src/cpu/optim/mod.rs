//! CPU references for the optimizers.

mod adam;
mod grad_norm;

pub use adam::adam_step;
pub use grad_norm::clip_scale;
