// Gradient of conv2d with respect to its input, as a gather: one thread per input element sums
// grad_out * weight over every (output channel of its group, kernel tap) whose window covers it.
// No atomics, deterministic, one dispatch for all batch items and channels.
// CPU twin: src/cpu/conv2d/conv2d_backward_input.rs.

// params.total: n * c_in * h * w threads, one per input element.
#import common/conv2d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_input: array<f32>;

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
    let ix = i % params.w;
    var t = i / params.w;
    let iy = t % params.h;
    t /= params.h;
    let ic = t % params.c_in;
    let b = t / params.c_in;
    let cig = params.c_in / params.groups;
    let cog = params.c_out / params.groups;
    let g = ic / cig;
    let ci = ic % cig;
    var acc = 0.0;
    for (var oc = g * cog; oc < (g + 1u) * cog; oc++) {
        let g_plane = (b * params.c_out + oc) * params.oh;
        let w_base = (oc * cig + ci) * params.kh;
        for (var ky = 0u; ky < params.kh; ky++) {
            // Output row oy reads input row oy * sh - ph + ky; solve for oy.
            let ty = i32(iy + params.ph) - i32(ky);
            if ty < 0 || u32(ty) % params.sh != 0u {
                continue;
            }
            let oy = u32(ty) / params.sh;
            if oy >= params.oh {
                continue;
            }
            let g_row = (g_plane + oy) * params.ow;
            let w_row = (w_base + ky) * params.kw;
            for (var kx = 0u; kx < params.kw; kx++) {
                let tx = i32(ix + params.pw) - i32(kx);
                if tx < 0 || u32(tx) % params.sw != 0u {
                    continue;
                }
                let ox = u32(tx) / params.sw;
                if ox >= params.ow {
                    continue;
                }
                acc += grad_out[g_row + ox] * weight[w_row + kx];
            }
        }
    }
    grad_input[i] = acc;
}
