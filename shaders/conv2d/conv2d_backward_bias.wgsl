// Gradient of conv2d with respect to its bias: one workgroup per output channel sums grad_out over
// every batch item and output position (strided loop + workgroup tree sum, no atomics).
// CPU twin: src/cpu/conv2d/conv2d_backward_bias.rs.

// Keep in sync with BiasGradParams in src/kernels/conv2d/conv2d_backward_bias.rs.
struct Params {
    n: u32,
    c_out: u32,
    // oh * ow.
    plane: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_bias: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let oc = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if oc >= params.c_out {
        return;
    }
    let count = params.n * params.plane;
    var acc = 0.0;
    for (var j = lid; j < count; j += WG) {
        let b = j / params.plane;
        let p = j % params.plane;
        acc += grad_out[(b * params.c_out + oc) * params.plane + p];
    }
    tree_sum(lid, acc);
    if lid == 0u {
        grad_bias[oc] = partial[0];
    }
}
