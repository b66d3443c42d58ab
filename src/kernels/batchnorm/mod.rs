//! BatchNorm with training statistics, running averages and eval mode, fused with ReLU.

// One kernel, one name in every place (STYLE.md): batchnorm/batchnorm.rs.
#[allow(clippy::module_inception)]
mod batchnorm;

pub use batchnorm::{batchnorm, batchnorm_backward, BatchNormConfig, BatchNormState};
