//! Audio input and datasets: WAV loading with clear errors, the DCASE dataset layout, and the
//! synthetic machine sounds that stand in for it.

pub mod dataset;
pub mod held;
pub mod synth;
pub mod walk;
pub mod wav;
