// 2-D convolution forward as torch.nn.functional.conv2d (NCHW input, [C_out, C_in/groups, KH, KW]
// weight, optional bias, stride, zero padding, groups). Direct form: one thread per output
// element, so one dispatch covers every batch item, channel and group (depthwise included).
// CPU twin: src/cpu/conv2d/conv2d.rs.

// params.total: n * c_out * oh * ow threads, one per output element.
#import common/conv2d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
// Without a bias the launcher binds `weight` again here and has_bias is 0.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

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
    let ox = i % params.ow;
    var t = i / params.ow;
    let oy = t % params.oh;
    t /= params.oh;
    let oc = t % params.c_out;
    let b = t / params.c_out;
    let cig = params.c_in / params.groups;
    let cog = params.c_out / params.groups;
    let g = oc / cog;
    // Top-left input position of the window; negative inside the zero padding.
    let y0 = i32(oy * params.sh) - i32(params.ph);
    let x0 = i32(ox * params.sw) - i32(params.pw);
    var acc = 0.0;
    if params.has_bias != 0u {
        acc = bias[oc];
    }
    for (var ci = 0u; ci < cig; ci++) {
        let x_plane = (b * params.c_in + g * cig + ci) * params.h;
        let w_base = (oc * cig + ci) * params.kh;
        for (var ky = 0u; ky < params.kh; ky++) {
            let iy = y0 + i32(ky);
            if iy < 0 || iy >= i32(params.h) {
                continue;
            }
            let x_row = (x_plane + u32(iy)) * params.w;
            let w_row = (w_base + ky) * params.kw;
            for (var kx = 0u; kx < params.kw; kx++) {
                let ix = x0 + i32(kx);
                if ix < 0 || ix >= i32(params.w) {
                    continue;
                }
                acc += x[x_row + u32(ix)] * weight[w_row + kx];
            }
        }
    }
    out[i] = acc;
}
