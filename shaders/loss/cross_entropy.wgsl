// Softmax cross-entropy with soft labels over [rows, classes], as torch's cross_entropy with
// probability targets: loss_row = -sum_c y_c log_softmax(z)_c = lse(z) sum_c y_c - sum_c y_c z_c,
// with lse = max + log sum exp(z - max) (stable). One workgroup per row in both entries.
// `rows` writes each row's loss (loss_mean.wgsl averages them); `backward` writes
// grad = scale * (softmax(z) sum_c y_c - y).
// CPU twin: src/cpu/loss/cross_entropy.rs.

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
@group(0) @binding(1) var<storage, read> logits: array<f32>;
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
var<workgroup> peak: array<f32, WG>;

// Maximum over the workgroup; every thread gets it. Called in uniform control flow.
fn workgroup_max(lid: u32, value: f32) -> f32 {
    peak[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            peak[lid] = max(peak[lid], peak[lid + stride]);
        }
        workgroupBarrier();
    }
    let total = peak[0];
    workgroupBarrier();
    return total;
}

// Row statistics: (max, sum exp(z - max), sum y, sum y z).
fn row_stats(lid: u32, base: u32) -> vec4<f32> {
    var m = -3.0e38;
    for (var k = lid; k < params.cols; k += WG) {
        m = max(m, logits[base + k]);
    }
    let row_max = workgroup_max(lid, m);
    var sums = vec4(0.0, 0.0, 0.0, 0.0);
    for (var k = lid; k < params.cols; k += WG) {
        let z = logits[base + k];
        let y = labels[base + k];
        sums += vec4(exp(z - row_max), y, y * z, 0.0);
    }
    let totals = workgroup_sum(lid, sums);
    return vec4(row_max, totals.x, totals.y, totals.z);
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
    let stats = row_stats(lid, row * params.cols);
    let lse = stats.x + log(stats.y);
    if lid == 0u {
        result[row] = lse * stats.z - stats.w;
    }
}

@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = group_id(wid, groups);
    if row >= params.rows {
        return;
    }
    let base = row * params.cols;
    let stats = row_stats(lid, base);
    for (var k = lid; k < params.cols; k += WG) {
        let p = exp(logits[base + k] - stats.x) / stats.y;
        result[base + k] = params.scale * (p * stats.z - labels[base + k]);
    }
}
