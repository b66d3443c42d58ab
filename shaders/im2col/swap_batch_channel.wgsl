// Exchanges the two leading axes of a [A, B, P] tensor: out [B, A, P]. Turns a conv output
// [N, C, P] into the channel-major [C, N*P] the im2col matmul works on, and back. One thread per
// output element (consecutive threads write, and mostly read, consecutive elements).
// CPU twin: src/cpu/im2col/swap_batch_channel.rs.

#import common/fast_div.wgsl

// Keep in sync with SwapParams in src/kernels/im2col/swap_batch_channel.rs.
struct Params {
    a: u32,
    b: u32,
    p: u32,
    // Threads that do work: a * b * p.
    total: u32,
    // Divisions by p and a (fast_div.wgsl).
    div_p: FastDiv,
    div_a: FastDiv,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

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
    // i = (bi * a + ai) * p + q in out; the same element sits at (ai * b + bi) * p + q in x.
    let t = fast_div(i, params.div_p);
    let q = i - t * params.p;
    let bi = fast_div(t, params.div_a);
    let ai = t - bi * params.a;
    out[i] = x[(ai * params.b + bi) * params.p + q];
}
