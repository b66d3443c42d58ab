// The parameters of Conv-TasNet's masking: separation/mask_apply.wgsl and
// mask_apply_backward.wgsl import this file.
// Keep in sync with MaskApplyParams in src/kernels/separation/mask_apply.rs.

struct Params {
    // Threads that do work (the shader says what one thread does).
    n: u32,
    sources: u32,
    // Elements per source and batch item (features * frames).
    inner: u32,
}
