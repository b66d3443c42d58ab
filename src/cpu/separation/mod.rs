//! CPU references for the separation kernels.

mod mask_apply;
mod resize_frames;

pub use mask_apply::{mask_apply, mask_apply_backward};
pub use resize_frames::resize_frames;
