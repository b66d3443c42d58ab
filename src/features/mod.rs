//! The audio front end: mel filterbank design (librosa's Slaney and HTK conventions) and the
//! [`pipeline::FeatureExtractor`] that runs STFT, mel, log and stacking on the GPU.

pub mod cpu_path;
pub mod mel;
pub mod pipeline;
