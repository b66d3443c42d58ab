//! Batched FFTs: real-input spectra of any length ([`rfft`], [`RfftPlan`]), built from a fused
//! workgroup-memory power-of-two kernel and a global-memory mixed-radix (2, 3, 4, 5) / Bluestein
//! plan.

pub(crate) mod plan;
mod rfft;
mod rfft_workgroup;

pub use plan::{bluestein_chirp, bluestein_length, bluestein_spectrum, fft_radices, twiddle_table};
pub use rfft::{rfft, rfft_bins, FftPath, RfftOptions, RfftPlan, SpectrumKind};
