// The `rows` and `backward` entry points of the losses that are a mean of one term per element
// (loss/l1.wgsl and loss/bce_with_logits.wgsl import this file). `rows`: one workgroup per row of
// [rows, cols] writes the row's mean of `element_loss` (the mean of equal-length row means is
// the overall mean, taken by loss_mean.wgsl). `backward`: one thread per element writes
// params.scale * `element_grad`. The including shader declares `const WG: u32 = 256u`,
// `alias Sum = vec4<f32>` (for workgroup_sum.wgsl), `params` (loss_params.wgsl), `result`, and
// `fn element_loss(i: u32) -> f32` and `fn element_grad(i: u32) -> f32` of flat element i.

#import common/workgroup_sum.wgsl
#import common/group_id.wgsl

@compute @workgroup_size(WG)
fn rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = group_id(wid, groups);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let base = row * params.cols;
    var sum = 0.0;
    for (var k = lid; k < params.cols; k += WG) {
        sum += element_loss(base + k);
    }
    let total = workgroup_sum(lid, vec4(sum, 0.0, 0.0, 0.0)).x;
    if lid == 0u {
        result[row] = total / f32(params.cols);
    }
}

@compute @workgroup_size(WG)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups) * WG + lid;
    if i >= params.rows * params.cols {
        return;
    }
    result[i] = params.scale * element_grad(i);
}
