//! The training graph without autograd: layers with an explicit forward (saving what backward
//! needs, in training mode only) and a hand-written backward, composed into trees that read like
//! the papers' tables, and optimised with Adam on the GPU.

mod batchnorm;
mod layer;
mod linear;
mod optimizer;
mod schedule;
mod sequential;

pub use batchnorm::BatchNorm1d;
pub use layer::{Layer, Mode, Param, SeededInit};
pub use linear::Linear;
pub use optimizer::Adam;
pub use schedule::LrSchedule;
pub use sequential::Sequential;
