// The `forward` and `inverse` entry points the invertible flow layers share: one workgroup per
// sample (params.n of them), which calls the including shader's
// `fn transform(sample: u32, lid: u32, sign: f32)` with sign 1 (forward) or -1 (inverse). The
// shader declares `const WG: u32` (its workgroup size) and `params`.
// Imported by flow/coupling.wgsl and flow/global_affine.wgsl.

#import common/group_id.wgsl

@compute @workgroup_size(WG)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let sample = group_id(wid, groups);
    // Uniform per workgroup, so the barriers stay in uniform control flow.
    if sample >= params.n {
        return;
    }
    transform(sample, lid, 1.0);
}

@compute @workgroup_size(WG)
fn inverse(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let sample = group_id(wid, groups);
    if sample >= params.n {
        return;
    }
    transform(sample, lid, -1.0);
}
