//! File formats hark reads and writes: `.npy` arrays for Python users, safetensors checkpoints
//! with PyTorch names, and atomic file writes so that a failure never leaves a half-written
//! output behind.

pub mod atomic;
pub mod checkpoint;
pub mod npy;
