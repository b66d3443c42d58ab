//! Short-time Fourier transform of batches of clips (framing, padding, window, FFT, one-sided
//! output) in one dispatch per FFT pass for the whole batch.

// One kernel, one name in every place (STYLE.md): stft/stft.rs.
#[allow(clippy::module_inception)]
mod stft;
mod stft_frame;

pub use stft::{stft, stft_frames, Centering, StftOptions, StftPlan};
pub(crate) use stft_frame::{stft_frame, Framing};
