// Sub-cluster AdaCos (Wilkinghoff, IJCNN 2021; as the ICASSP 2023 code `wilkinghoff/icassp2023`
// computes it, REFERENCE-SPECS §4) over embeddings x [batch, dim], centres W [classes * sub, dim]
// (row j = c * sub + k is sub-cluster k of class c) and soft labels y [batch, classes]:
//   cos_ij    = (x_i . w_j) / (|x_i| |w_j|),  |v| = sqrt(max(v . v, 1e-12))  (tf.nn.l2_normalize)
//   z_ij      = s cos_ij
//   P_ic      = sum_{j in c} softmax(z_i)_j   (a class's probability: the sum over its sub-clusters)
//   loss_i    = -sum_c y_ic log P_ic = Y_i lse_j(z_ij) - sum_c y_ic lse_{j in c}(z_ij),  Y_i = sum_c y_ic
//   loss      = mean_i loss_i
// Adaptive scale s (a 1-element state tensor, no gradient through it). `scale_update`, run before
// the loss in training, replaces s by (the code's formula, B_avg over all logits):
//   m         = max_ij s cos_ij
//   B_avg     = mean_i sum_j exp(s cos_ij - m)
//   theta_i   = nnz(y_i) sum_j y_{i,c(j)} acos(clamp(cos_ij, -1 + 1e-7, 1 - 1e-7))
//   theta_med = theta sorted ascending, at index round_half_even((batch - 1) / 2)
//               (tfp.stats.percentile(q = 50), interpolation 'nearest')
//   s        <- (m + ln B_avg) / cos(min(pi / 4, theta_med)) + 1e-7
// Backward, with the upstream gradient u:
//   g_ij      = d loss / d cos_ij = (u / batch) s (Y_i p_ij - y_{i,c(j)} q_ij),
//               p = softmax over all j, q = softmax within the class c(j)
//   d/dx_i    = (sum_j g_ij w_j / |w_j| - (sum_j g_ij cos_ij) x_i / |x_i|) / |x_i|
//   d/dw_j    = (sum_i g_ij x_i / |x_i| - (sum_i g_ij cos_ij) w_j / |w_j|) / |w_j|
// (for |v|^2 < 1e-12 these are the derivatives of the unclamped normalisation).
// Labels that are negative or NaN make their row's loss NaN (CPU twin: an error).
// Entries: `cosine` (thread per (i, j); also the inverse norms), `scale_update` (one workgroup),
// `rows` and `logit_grad` (one workgroup per row), `input_grad` (thread per (i, d)),
// `centre_grad` (thread per (j, d)). Gradients are gathers: no atomics, deterministic.
// CPU twin: src/cpu/loss/sc_adacos.rs.

// Keep in sync with ScAdaCosParams in src/kernels/loss/sc_adacos.rs.
struct Params {
    batch: u32,
    dim: u32,
    classes: u32,
    sub: u32,
    // logit_grad: the upstream gradient over the batch.
    grad_scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> centres: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<f32>;
// [batch, classes * sub]: written by `cosine`, read by the others.
@group(0) @binding(4) var<storage, read_write> cosines: array<f32>;
// [batch + classes * sub]: inverse norms of the rows of x, then of the centres.
@group(0) @binding(5) var<storage, read_write> inv_norms: array<f32>;
// [1]: the scale s.
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;
// rows: row losses [batch]; scale_update: theta [batch] as scratch; logit_grad: g [batch,
// classes * sub] (read by input_grad and centre_grad).
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
// input_grad: d loss / d x; centre_grad: d loss / d W.
@group(0) @binding(8) var<storage, read_write> grad: array<f32>;

const WG: u32 = 256u;
const NORM_EPS: f32 = 1e-12;
// Keras's epsilon: the acos clip and the term added to the new scale.
const KERAS_EPS: f32 = 1e-7;
const QUARTER_PI: f32 = 0.78539816339744830962;

var<workgroup> median: f32;

#import common/group_id.wgsl

fn thread_id(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return group_id(wid, groups) * WG + lid;
}

alias Sum = vec4<f32>;
#import common/workgroup_sum.wgsl

#import common/workgroup_max.wgsl

// By its bits: drivers may compile `x != x` as if NaN could not occur.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn quiet_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

@compute @workgroup_size(256)
fn cosine(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let logits = params.classes * params.sub;
    let idx = thread_id(wid, groups, lid);
    if idx >= params.batch * logits {
        return;
    }
    let i = idx / logits;
    let j = idx % logits;
    var dot = 0.0;
    var xx = 0.0;
    var ww = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let a = x[i * params.dim + d];
        let b = centres[j * params.dim + d];
        dot += a * b;
        xx += a * a;
        ww += b * b;
    }
    let inv_x = inverseSqrt(max(xx, NORM_EPS));
    let inv_w = inverseSqrt(max(ww, NORM_EPS));
    cosines[idx] = dot * inv_x * inv_w;
    if j == 0u {
        inv_norms[i] = inv_x;
    }
    if i == 0u {
        inv_norms[params.batch + j] = inv_w;
    }
}

@compute @workgroup_size(256)
fn scale_update(@builtin(local_invocation_index) lid: u32) {
    let logits = params.classes * params.sub;
    let n = params.batch * logits;
    let s = scale[0];
    var m = -3.0e38;
    for (var k = lid; k < n; k += WG) {
        m = max(m, s * cosines[k]);
    }
    let s_max = workgroup_max(lid, m);
    var e = 0.0;
    for (var k = lid; k < n; k += WG) {
        e += exp(s * cosines[k] - s_max);
    }
    let b_avg = workgroup_sum(lid, vec4(e, 0.0, 0.0, 0.0)).x / f32(params.batch);

    // theta_i into `out` (scratch), then the median by rank: the row with exactly `target`
    // smaller thetas (ties broken by index) is the sorted array's element `target`.
    for (var i = lid; i < params.batch; i += WG) {
        var acc = 0.0;
        var nonzero = 0.0;
        for (var c = 0u; c < params.classes; c++) {
            let y = labels[i * params.classes + c];
            if y != 0.0 {
                nonzero += 1.0;
            }
            for (var k = 0u; k < params.sub; k++) {
                let cs = cosines[i * logits + c * params.sub + k];
                acc += y * acos(clamp(cs, -1.0 + KERAS_EPS, 1.0 - KERAS_EPS));
            }
        }
        out[i] = acc * nonzero;
    }
    if lid == 0u {
        // Stays NaN only when a NaN theta breaks the ranking.
        median = quiet_nan();
    }
    storageBarrier();
    workgroupBarrier();
    let half_up = params.batch - 1u;
    var target_rank = half_up / 2u;
    if half_up % 2u == 1u {
        // (batch - 1) / 2 ends in .5: round half to even, as tf.round.
        target_rank += target_rank % 2u;
    }
    for (var i = lid; i < params.batch; i += WG) {
        let t = out[i];
        var rank = 0u;
        for (var j = 0u; j < params.batch; j++) {
            let u = out[j];
            if u < t || (u == t && j < i) {
                rank += 1u;
            }
        }
        if rank == target_rank {
            median = t;
        }
    }
    workgroupBarrier();
    if lid == 0u {
        scale[0] = (s_max + log(b_avg)) / cos(min(QUARTER_PI, median)) + KERAS_EPS;
    }
}

// Per-row statistics at scale s: (max_j z, sum_j exp(z - max), Y = sum_c y_c,
// sum_c y_c lse_{j in c} z) in .xyzw, and the count of bad labels (negative or NaN).
struct RowStats {
    sums: vec4<f32>,
    bad: f32,
}

fn class_lse(row_base: u32, c: u32, s: f32) -> f32 {
    var mc = -3.0e38;
    for (var k = 0u; k < params.sub; k++) {
        mc = max(mc, s * cosines[row_base + c * params.sub + k]);
    }
    var e = 0.0;
    for (var k = 0u; k < params.sub; k++) {
        e += exp(s * cosines[row_base + c * params.sub + k] - mc);
    }
    return mc + log(e);
}

fn row_stats(lid: u32, i: u32, s: f32) -> RowStats {
    let logits = params.classes * params.sub;
    let row_base = i * logits;
    var m = -3.0e38;
    for (var j = lid; j < logits; j += WG) {
        m = max(m, s * cosines[row_base + j]);
    }
    let row_max = workgroup_max(lid, m);
    var acc = vec4(0.0, 0.0, 0.0, 0.0);
    for (var c = lid; c < params.classes; c += WG) {
        let y = labels[i * params.classes + c];
        for (var k = 0u; k < params.sub; k++) {
            acc.x += exp(s * cosines[row_base + c * params.sub + k] - row_max);
        }
        acc.y += y;
        if y != 0.0 {
            acc.z += y * class_lse(row_base, c, s);
        }
        if is_nan(y) || y < 0.0 {
            acc.w += 1.0;
        }
    }
    let totals = workgroup_sum(lid, acc);
    return RowStats(vec4(row_max, totals.x, totals.y, totals.z), totals.w);
}

@compute @workgroup_size(256)
fn rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if i >= params.batch {
        return;
    }
    let stats = row_stats(lid, i, scale[0]);
    if lid == 0u {
        let lse = stats.sums.x + log(stats.sums.y);
        var value = lse * stats.sums.z - stats.sums.w;
        if stats.bad > 0.0 {
            value = quiet_nan();
        }
        out[i] = value;
    }
}

@compute @workgroup_size(256)
fn logit_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups);
    if i >= params.batch {
        return;
    }
    let s = scale[0];
    let stats = row_stats(lid, i, s);
    let lse = stats.sums.x + log(stats.sums.y);
    let row_base = i * params.classes * params.sub;
    for (var c = lid; c < params.classes; c += WG) {
        let y = labels[i * params.classes + c];
        let lse_c = class_lse(row_base, c, s);
        for (var k = 0u; k < params.sub; k++) {
            let j = row_base + c * params.sub + k;
            let z = s * cosines[j];
            let p = exp(z - lse);
            let q = exp(z - lse_c);
            out[j] = params.grad_scale * s * (stats.sums.z * p - y * q);
        }
    }
}

@compute @workgroup_size(256)
fn input_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = thread_id(wid, groups, lid);
    if idx >= params.batch * params.dim {
        return;
    }
    let i = idx / params.dim;
    let d = idx % params.dim;
    let logits = params.classes * params.sub;
    var toward = 0.0;
    var along = 0.0;
    for (var j = 0u; j < logits; j++) {
        let g = out[i * logits + j];
        toward += g * centres[j * params.dim + d] * inv_norms[params.batch + j];
        along += g * cosines[i * logits + j];
    }
    let inv_x = inv_norms[i];
    grad[idx] = inv_x * (toward - along * x[idx] * inv_x);
}

@compute @workgroup_size(256)
fn centre_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let logits = params.classes * params.sub;
    let idx = thread_id(wid, groups, lid);
    if idx >= logits * params.dim {
        return;
    }
    let j = idx / params.dim;
    let d = idx % params.dim;
    var toward = 0.0;
    var along = 0.0;
    for (var i = 0u; i < params.batch; i++) {
        let g = out[i * logits + j];
        toward += g * x[i * params.dim + d] * inv_norms[i];
        along += g * cosines[i * logits + j];
    }
    let inv_w = inv_norms[params.batch + j];
    grad[idx] = inv_w * (toward - along * centres[idx] * inv_w);
}
