// L1 loss, mean |pred - target| over all elements. `rows`: one workgroup per row of
// [rows, cols] writes the row's mean |pred - target| (the mean of equal-length row means is the
// overall mean, taken by loss_mean.wgsl). `backward`: grad = scale * sign(pred - target), one
// thread per element, 0 where they are equal (torch's sign).
// CPU twin: src/cpu/loss/l1.rs.

// Keep in sync with LossParams in src/kernels/loss/mod.rs (every loss shader shares it).
struct Params {
    rows: u32,
    cols: u32,
    // rows: unused (loss_mean: the factor on the sum); backward: upstream gradient over the
    // mean's count, with the loss's sign.
    scale: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
// The target (`target` is a reserved word in WGSL).
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// Row losses for `rows`, the gradient for `backward`.
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<vec4<f32>, WG>;

// Tree sum of up to four values at once; every thread gets the totals. Called in uniform
// control flow.
fn workgroup_sum(lid: u32, value: vec4<f32>) -> vec4<f32> {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Everyone has read the total before `partial` is reused.
    workgroupBarrier();
    return total;
}

fn group_id(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.y * groups.x + wid.x;
}

@compute @workgroup_size(256)
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
        sum += abs(pred[base + k] - labels[base + k]);
    }
    let total = workgroup_sum(lid, vec4(sum, 0.0, 0.0, 0.0)).x;
    if lid == 0u {
        result[row] = total / f32(params.cols);
    }
}

@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups) * WG + lid;
    if i >= params.rows * params.cols {
        return;
    }
    result[i] = params.scale * sign(pred[i] - labels[i]);
}
