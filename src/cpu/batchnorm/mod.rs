//! CPU reference for BatchNorm (+ ReLU).

// One kernel, one name in every place (STYLE.md): batchnorm/batchnorm.rs.
#[allow(clippy::module_inception)]
mod batchnorm;

pub use batchnorm::{batchnorm_backward, batchnorm_eval, batchnorm_train};
