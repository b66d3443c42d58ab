//! GPU kernel launchers, one module per family. Launchers check shapes, fetch the cached
//! pipeline, bind and dispatch into a [`Recorder`](crate::Recorder); they never submit or read back.

pub mod activation;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod elementwise;
pub mod features;
pub mod fft;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod stft;
