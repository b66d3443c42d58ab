// col2im, the adjoint of im2col.wgsl, in gather form: col [C*KH*KW, N*OH*OW] -> dx [N, C, H, W].
// One thread per input element sums every col entry that im2col read from it (each kernel tap
// (ky, kx) whose output position lands on an integer, in-range (oy, ox)). No atomics, so the
// sum order is fixed and the result deterministic.
// CPU twin: src/cpu/im2col/col2im.rs.

// params.total: n * c * h * w threads, one per input element.
#import common/im2col_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> col: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

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
    let t = fast_div(i, params.div_w);
    let ix = i - t * params.w;
    let t2 = fast_div(t, params.div_h);
    let iy = t - t2 * params.h;
    let b = fast_div(t2, params.div_c);
    let ch = t2 - b * params.c;
    let columns = params.div_columns.d;
    var acc = 0.0;
    // Without dilation only every stride-th tap can land on the output grid: start at the first
    // one and step by the stride (a 1024-tap, stride-512 conv visits 2 taps, not 1024). The
    // checks below still hold every tap visited to the grid.
    var ky0 = 0u;
    var ky_step = 1u;
    if params.dh == 1u {
        let sum = iy + params.ph;
        ky0 = sum - fast_div(sum, params.div_sh) * params.sh;
        ky_step = params.sh;
    }
    var kx0 = 0u;
    var kx_step = 1u;
    if params.dw == 1u {
        let sum = ix + params.pw;
        kx0 = sum - fast_div(sum, params.div_sw) * params.sw;
        kx_step = params.sw;
    }
    for (var ky = ky0; ky < params.kh; ky += ky_step) {
        // oy * sh = iy + ph - ky * dh must be a non-negative multiple of sh below oh * sh.
        let sy = i32(iy + params.ph) - i32(ky * params.dh);
        if sy < 0 {
            continue;
        }
        let oy = fast_div(u32(sy), params.div_sh);
        if oy * params.sh != u32(sy) {
            continue;
        }
        if oy >= params.oh {
            continue;
        }
        for (var kx = kx0; kx < params.kw; kx += kx_step) {
            let sx = i32(ix + params.pw) - i32(kx * params.dw);
            if sx < 0 {
                continue;
            }
            let ox = fast_div(u32(sx), params.div_sw);
            if ox * params.sw != u32(sx) {
                continue;
            }
            if ox >= params.ow {
                continue;
            }
            let row = (ch * params.kh + ky) * params.kw + kx;
            acc += col[row * columns + (b * params.oh + oy) * params.ow + ox];
        }
    }
    dx[i] = acc;
}
