//! Kernels of the separation models that no other family covers: Conv-TasNet's per-source
//! masking of the shared encoder features (forward and backward) and the zero-padding /
//! cropping of the frame axis around the encoder and decoder.

mod mask_apply;
mod resize_frames;

pub use mask_apply::{mask_apply, mask_apply_backward};
pub use resize_frames::resize_frames;
