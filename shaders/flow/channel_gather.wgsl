// Channel gather and scatter-add on tensors viewed as [N, C, P]: the fixed permutation of
// FrEIA's AllInOneBlock (a gather; its backward and inverse are the gather by the inverse
// permutation) and the split of x1 = channels [0, split) off a block input (a gather by
// 0..split; its backward adds the subnet's input gradient back with `scatter_add`).
// `index` holds u32 channel numbers (their bits in an f32 tensor).
// Entries: `gather` out[n, j, p] = x[n, index[j], p] (out has `picked` channels, x `channels`);
// `scatter_add` out[n, index[j], p] += x[n, j, p] (x has `picked`, out `channels`; the indices
// are distinct, so each output element has at most one writer). One thread per picked element.
// CPU twin: src/cpu/flow/channel_gather.rs.

// Keep in sync with ChannelGatherParams in src/kernels/flow/channel_gather.rs.
struct Params {
    n: u32,
    channels: u32,
    picked: u32,
    inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// (sample, picked channel j, position p) of thread i, or none past the end.
fn element(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> vec4<u32> {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    let per_sample = params.picked * params.inner;
    let valid = select(0u, 1u, i < params.n * per_sample);
    return vec4(i / per_sample, (i % per_sample) / params.inner, i % params.inner, valid);
}

@compute @workgroup_size(256)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = element(wid, groups, lid);
    if e.w == 0u {
        return;
    }
    let source = (e.x * params.channels + index[e.y]) * params.inner + e.z;
    let target_index = (e.x * params.picked + e.y) * params.inner + e.z;
    out[target_index] = x[source];
}

@compute @workgroup_size(256)
fn scatter_add(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = element(wid, groups, lid);
    if e.w == 0u {
        return;
    }
    let source = (e.x * params.picked + e.y) * params.inner + e.z;
    let target_index = (e.x * params.channels + index[e.y]) * params.inner + e.z;
    out[target_index] += x[source];
}
