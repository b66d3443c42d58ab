//! File formats hark reads and writes: `.npy` arrays for Python users, and atomic file writes so
//! that a failure never leaves a half-written output behind.

pub mod atomic;
pub mod npy;
