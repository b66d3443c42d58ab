//! CPU references for the feature kernels.

mod frame_stack;
mod log_compress;
mod mean_normalize;
mod mel_banded;
mod standardize;

pub use frame_stack::frame_stack;
pub use log_compress::log_compress;
pub use mean_normalize::mean_normalize;
pub use mel_banded::MelRuns;
pub use standardize::standardize;
