// The parameters of the conv2d kernels: conv2d/conv2d.wgsl, conv2d_backward_input.wgsl and
// conv2d_backward_weight.wgsl import this file (each says what `total` counts there).
// Keep in sync with ConvParams in src/kernels/conv2d/mod.rs.

struct Params {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    groups: u32,
    has_bias: u32,
    // Threads (or workgroups) that do work: the shader says which.
    total: u32,
}
