// Softmax cross-entropy with soft labels over [rows, classes], as torch's cross_entropy with
// probability targets: loss_row = -sum_c y_c log_softmax(z)_c = lse(z) sum_c y_c - sum_c y_c z_c,
// with lse = max + log sum exp(z - max) (stable). One workgroup per row in both entries.
// `rows` writes each row's loss (loss_mean.wgsl averages them); `backward` writes
// grad = scale * (softmax(z) sum_c y_c - y).
// CPU twin: src/cpu/loss/cross_entropy.rs.

#import common/loss_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
// The target (`target` is a reserved word in WGSL).
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// Row losses for `rows`, the gradient for `backward`.
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
alias Sum = vec4<f32>;
#import common/workgroup_sum.wgsl

#import common/group_id.wgsl

#import common/workgroup_max.wgsl

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
