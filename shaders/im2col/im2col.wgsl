// im2col with a channel-major layout: x [N, C, H, W] -> col [C*KH*KW, N*OH*OW], row (c, ky, kx),
// column (n, oy, ox), with stride, zero padding and dilation. One thread per col element, so
// consecutive threads write consecutive columns. A convolution is then one matmul over the whole
// batch: out [C_out, N*OH*OW] = W [C_out, C*KH*KW] x col.
// CPU twin: src/cpu/im2col/im2col.rs.

// params.total: c * kh * kw * n * oh * ow threads, one per col element.
#import common/im2col_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.total {
        return;
    }
    // row = i / columns, j = i % columns; (b, oy, ox) and (ch, ky, kx) from them.
    let row = fast_div(i, params.div_columns);
    let j = i - row * params.div_columns.d;
    var t = fast_div(j, params.div_ow);
    let ox = j - t * params.ow;
    let b = fast_div(t, params.div_oh);
    let oy = t - b * params.oh;
    t = fast_div(row, params.div_kw);
    let kx = row - t * params.kw;
    let ch = fast_div(t, params.div_kh);
    let ky = t - ch * params.kh;
    // Negative inside the zero padding.
    let iy = i32(oy * params.sh + ky * params.dh) - i32(params.ph);
    let ix = i32(ox * params.sw + kx * params.dw) - i32(params.pw);
    var value = 0.0;
    if iy >= 0 && iy < i32(params.h) && ix >= 0 && ix < i32(params.w) {
        value = x[((b * params.c + ch) * params.h + u32(iy)) * params.w + u32(ix)];
    }
    col[i] = value;
}
