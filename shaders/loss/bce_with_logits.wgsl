// Binary cross-entropy with logits, as torch's BCEWithLogitsLoss (mean over elements):
// l = max(z, 0) - z y + log(1 + exp(-|z|)), which never overflows. `rows`: one workgroup per row
// of [rows, cols] writes the row's mean (loss_mean.wgsl averages the rows). `backward`:
// grad = scale * (sigmoid(z) - y), one thread per element.
// CPU twin: src/cpu/loss/bce_with_logits.rs.

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

// log(1 + u) for u in [0, 1]. WGSL's log is only accurate to an absolute 2^-21 near 1, so
// small u (where log(1 + u) ~ u) uses 2 atanh(t) = 2 (t + t^3/3 + ...), t = u / (2 + u) <= 1/9,
// whose next term is below 3e-10 relative; from 0.25 up, log(1 + u) >= 0.22 keeps the
// builtin's error under 3e-6 relative.
fn log1p(u: f32) -> f32 {
    if u < 0.25 {
        let t = u / (2.0 + u);
        let t2 = t * t;
        return 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 / 9.0))));
    }
    return log(1.0 + u);
}

// 1 / (1 + e^-v) with exp never overflowing.
fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
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
        let z = logits[base + k];
        sum += max(z, 0.0) - z * labels[base + k] + log1p(exp(-abs(z)));
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
    result[i] = params.scale * (sigmoid(logits[i]) - labels[i]);
}
