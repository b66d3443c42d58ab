// The parameters of BatchNorm: batchnorm/batchnorm.wgsl and batchnorm_backward.wgsl import this
// file.
// Keep in sync with BatchNormParams in src/kernels/batchnorm/batchnorm.rs.

struct Params {
    n: u32,
    channels: u32,
    len: u32,
    eps: f32,
    momentum: f32,
    // Chunked entries only: values per chunk and chunks per channel.
    chunk: u32,
    chunks: u32,
}
