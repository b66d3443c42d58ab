// The parameters of the conv1d kernels (one layout for all four): every shader under
// shaders/conv1d/ imports this file.
// Keep in sync with Conv1dShaderParams in src/kernels/conv1d/mod.rs.

struct Params {
    batch: u32,
    c_in: u32,
    l_in: u32,
    c_out: u32,
    l_out: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    dilation: u32,
    groups: u32,
    has_bias: u32,
    _pad: u32,
}
