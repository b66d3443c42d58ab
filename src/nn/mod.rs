//! The training graph without autograd: layers with an explicit forward (saving what backward
//! needs, in training mode only) and a hand-written backward, composed into trees that read like
//! the papers' tables, and optimised with Adam on the GPU.

mod activation;
mod batchnorm;
mod batchnorm2d;
mod conv1d;
mod conv2d;
mod conv_gemm;
mod conv_transpose1d;
mod flatten;
mod global_avg_pool2d;
mod group_norm;
mod layer;
mod layer_norm;
mod linear;
mod max_pool1d;
mod max_pool2d;
mod optimizer;
mod prelu;
mod residual;
mod schedule;
mod sequential;
mod stats_pool;

pub use activation::{Activation, Nonlinearity};
pub use batchnorm::BatchNorm1d;
pub use batchnorm2d::BatchNorm2d;
pub use conv1d::Conv1d;
pub use conv2d::Conv2d;
pub use conv_transpose1d::ConvTranspose1d;
pub use flatten::Flatten;
pub use global_avg_pool2d::GlobalAvgPool2d;
pub use group_norm::GroupNorm;
pub(crate) use layer::reuse;
pub use layer::{Layer, Mode, Param, SeededInit};
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use max_pool1d::MaxPool1d;
pub use max_pool2d::MaxPool2d;
pub use optimizer::Adam;
pub use prelu::PRelu;
pub use residual::Residual;
pub use schedule::LrSchedule;
pub use sequential::Sequential;
pub use stats_pool::StatsPool;
