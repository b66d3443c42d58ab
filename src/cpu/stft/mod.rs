//! CPU references for the STFT: a from-the-definition f64 reference and the twin of the framing
//! kernel.

// One kernel, one name in every place (STYLE.md): stft/stft.rs.
#[allow(clippy::module_inception)]
mod stft;
mod stft_frame;

pub use stft::stft;
pub use stft_frame::stft_frame_twin;
