//! What a kernel computes, apart from where it runs: the parameter types, output-size rules and
//! plans (FFT radices, twiddles, chirps) that the GPU launchers in [`crate::kernels`] and the CPU
//! references in [`crate::cpu`] share.
//!
//! This module and `cpu/` depend on nothing in hark but [`crate::error`], [`crate::rng`] and each
//! other (`tests/suite/layering.rs` checks it), so a reference cannot quietly reuse the code it
//! checks. The kernels re-export every type here where users already find it
//! (`hark::kernels::conv2d::Conv2dParams` is `hark::params::conv2d::Conv2dParams`).

pub mod activation;
pub mod conv1d;
pub mod conv2d;
pub mod elementwise;
pub mod features;
pub mod fft;
pub mod im2col;
pub mod kmeans;
pub mod knn;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod stft;
