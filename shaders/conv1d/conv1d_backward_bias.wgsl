// conv1d (and conv_transpose1d) bias gradient: grad_b [channels] = sum of grad_out
// [batch, channels, len] over batch items and positions. One workgroup per channel, fixed-order
// tree reduction in workgroup memory (deterministic, no atomics).
// CPU twin: src/cpu/conv1d/conv1d.rs (conv1d_backward_bias).

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

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_b: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

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
    partial[lid] = acc;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width /= 2u) {
        if lid < width {
            partial[lid] += partial[lid + width];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        grad_b[co] = partial[0];
    }
}
