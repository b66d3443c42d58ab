// The parameters of im2col/im2col.wgsl and its adjoint im2col/col2im.wgsl, which import this
// file (each says what `total` counts there).
// Keep in sync with Im2colParams in src/kernels/im2col/mod.rs.

#import common/fast_div.wgsl

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    // Threads that do work (the shader says what one thread does).
    total: u32,
    _pad: u32,
    // Divisions the shaders decode indices with (fast_div.wgsl): by n * oh * ow (the column
    // count), ow, oh, kw, kh, w, h, c and the strides.
    div_columns: FastDiv,
    div_ow: FastDiv,
    div_oh: FastDiv,
    div_kw: FastDiv,
    div_kh: FastDiv,
    div_w: FastDiv,
    div_h: FastDiv,
    div_c: FastDiv,
    div_sh: FastDiv,
    div_sw: FastDiv,
}
