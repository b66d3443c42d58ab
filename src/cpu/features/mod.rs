//! CPU references for the feature kernels.

mod frame_stack;
mod log_compress;
mod mean_normalize;
mod standardize;

pub use frame_stack::frame_stack;
pub use log_compress::log_compress;
pub use mean_normalize::mean_normalize;
pub use standardize::standardize;
