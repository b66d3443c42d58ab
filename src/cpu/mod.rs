//! CPU references: plain loops that follow each shader line by line. They are the spec the GPU
//! kernels are tested against; slow is fine, clever is not.

pub mod activation;
pub mod batchnorm;
pub mod conv1d;
pub mod conv2d;
pub mod elementwise;
pub mod features;
pub mod fft;
pub mod flow;
pub mod im2col;
pub mod knn;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod separation;
pub mod softmax;
pub mod stft;
