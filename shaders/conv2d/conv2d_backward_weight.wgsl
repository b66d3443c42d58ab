// Gradient of conv2d with respect to its weight: one workgroup per weight element
// (oc, ci, ky, kx) reduces grad_out * input over every (batch item, output position) in a strided
// loop and a workgroup tree sum. No float atomics, deterministic, one dispatch for all weights.
// CPU twin: src/cpu/conv2d/conv2d_backward_weight.rs.

// params.total: c_out * (c_in / groups) * kh * kw workgroups, one per weight element;
// params.has_bias is unused here.
#import common/conv2d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_weight: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if e >= params.total {
        return;
    }
    let kx = e % params.kw;
    var t = e / params.kw;
    let ky = t % params.kh;
    t /= params.kh;
    let cig = params.c_in / params.groups;
    let ci = t % cig;
    let oc = t / cig;
    let ic = (oc / (params.c_out / params.groups)) * cig + ci;
    let plane = params.oh * params.ow;
    let count = params.n * plane;
    var acc = 0.0;
    for (var j = lid; j < count; j += WG) {
        let b = j / plane;
        let p = j % plane;
        let oy = p / params.ow;
        let ox = p % params.ow;
        let iy = i32(oy * params.sh + ky) - i32(params.ph);
        let ix = i32(ox * params.sw + kx) - i32(params.pw);
        if iy < 0 || iy >= i32(params.h) || ix < 0 || ix >= i32(params.w) {
            continue;
        }
        let xv = x[((b * params.c_in + ic) * params.h + u32(iy)) * params.w + u32(ix)];
        acc += grad_out[(b * params.c_out + oc) * plane + p] * xv;
    }
    tree_sum(lid, acc);
    if lid == 0u {
        grad_weight[e] = partial[0];
    }
}
