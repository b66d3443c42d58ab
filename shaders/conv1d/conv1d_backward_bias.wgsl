// conv1d (and conv_transpose1d) bias gradient: grad_b [channels] = sum of grad_out
// [batch, channels, len] over batch items and positions. One workgroup per channel, fixed-order
// tree reduction in workgroup memory (deterministic, no atomics).
// CPU twin: src/cpu/conv1d/conv1d.rs (conv1d_backward_bias).

#import common/conv1d_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_b: array<f32>;

const WG: u32 = 64u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let co = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if co >= params.c_out {
        return;
    }
    var acc = 0.0;
    let count = params.batch * params.l_out;
    for (var j = lid; j < count; j += WG) {
        let lo = j % params.l_out;
        let n = j / params.l_out;
        acc += grad_out[(n * params.c_out + co) * params.l_out + lo];
    }
    tree_sum(lid, acc);
    if lid == 0u {
        grad_b[co] = partial[0];
    }
}
