// Conv-TasNet's masking: out[b, s, i] = mask[b, s, i] * feats[b, i] for every source s, the
// encoder features shared by all sources of a batch item. One thread per output element.
// CPU twin: src/cpu/separation/mask_apply.rs.

// params.n: batch * sources * inner threads, one per output element.
#import common/mask_apply_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read> feats: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.n {
        return;
    }
    let b = i / (params.sources * params.inner);
    let k = i % params.inner;
    out[i] = mask[i] * feats[b * params.inner + k];
}
