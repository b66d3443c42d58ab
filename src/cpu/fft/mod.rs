//! CPU references for the FFT kernels: `realfft`/`rustfft` in f64 as the accuracy reference, and
//! plain-loop twins of the GPU stages.

mod bluestein;
mod fft_stage;
mod rfft;
mod rfft_post;

pub use bluestein::complex_fft;
pub use fft_stage::{fft_stage, stockham_fft, C32};
pub(crate) use rfft::push_bin;
pub use rfft::{rfft, rfft_twin};
pub use rfft_post::rfft_post;
