// The parameters of the pool kernels: pool/max_pool2d.wgsl and max_pool2d_backward.wgsl import
// this file (each says what `total` counts there).
// Keep in sync with PoolKernelParams in src/kernels/pool/mod.rs.

struct Params {
    // Batch items times channels.
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    // Threads that do work (the shader says what one thread does).
    total: u32,
}
