// Backward of Conv-TasNet's masking (out[b, s, i] = mask[b, s, i] * feats[b, i]):
// grad_mask[b, s, i] = grad[b, s, i] * feats[b, i] and
// grad_feats[b, i] = sum_s grad[b, s, i] * mask[b, s, i], one thread per (b, i) covering all
// sources, so neither output needs atomics.
// CPU twin: src/cpu/separation/mask_apply.rs.

// params.n: batch * inner threads, one per (b, i).
#import common/mask_apply_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read> feats: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_feats: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = (wid.y * groups.x + wid.x) * WG + lid;
    if j >= params.n {
        return;
    }
    let b = j / params.inner;
    let k = j % params.inner;
    let f = feats[j];
    var acc = 0.0;
    for (var s = 0u; s < params.sources; s++) {
        let i = (b * params.sources + s) * params.inner + k;
        let g = grad[i];
        grad_mask[i] = g * f;
        acc += g * mask[i];
    }
    grad_feats[j] = acc;
}
