// LayerNorm over one axis: x viewed as [outer, axis_len, inner]; each (outer, inner) line is
// normalised over the axis with its biased variance, then scaled and shifted per axis element.
// Entries: `forward` (one workgroup per line; saves mean and rstd per line), `backward_input`
// (one workgroup per line), `backward_params` (one workgroup per axis element, reducing over all
// lines: a deterministic reduction instead of float atomics).
// CPU twin: src/cpu/norm/layer_norm.rs.

// Keep in sync with LayerNormParams in src/kernels/norm/layer_norm.rs.
struct Params {
    lines: u32,
    axis_len: u32,
    inner: u32,
    eps: f32,
    // 1 when weight (or bias) is bound; otherwise its binding holds a placeholder.
    has_weight: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// forward: x, weight, bias, out, mean, rstd.
// backward_input: x, grad_out, weight, mean, rstd, grad_in.
// backward_params: x, grad_out, mean, rstd, grad_weight, grad_bias.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b2: array<f32>;
@group(0) @binding(3) var<storage, read> b3: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<storage, read_write> b5: array<f32>;
@group(0) @binding(6) var<storage, read_write> b6: array<f32>;

const WG: u32 = 256u;
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

#import common/group_id.wgsl

// Flat index of element `a` of line `line`.
fn index(line: u32, a: u32) -> u32 {
    let o = line / params.inner;
    let i = line % params.inner;
    return (o * params.axis_len + a) * params.inner + i;
}

@compute @workgroup_size(256)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let line = group_id(wid, groups);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if line >= params.lines {
        return;
    }
    let n = f32(params.axis_len);
    var sum = 0.0;
    for (var a = lid; a < params.axis_len; a += WG) {
        sum += x[index(line, a)];
    }
    let mean = workgroup_sum(lid, vec2(sum, 0.0)).x / n;
    // Two passes: the variance of deviations stays accurate for lines with a large offset.
    var squares = 0.0;
    for (var a = lid; a < params.axis_len; a += WG) {
        let d = x[index(line, a)] - mean;
        squares += d * d;
    }
    let rstd = inverseSqrt(workgroup_sum(lid, vec2(squares, 0.0)).x / n + params.eps);
    for (var a = lid; a < params.axis_len; a += WG) {
        let k = index(line, a);
        var y = (x[k] - mean) * rstd;
        if params.has_weight != 0u {
            y *= b2[a];
        }
        if params.has_bias != 0u {
            y += b3[a];
        }
        b4[k] = y;
    }
    if lid == 0u {
        b5[line] = mean;
        b6[line] = rstd;
    }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = grad_out * weight.
@compute @workgroup_size(256)
fn backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let line = group_id(wid, groups);
    if line >= params.lines {
        return;
    }
    let mean = b4[line];
    let rstd = b5[line];
    var sums = vec2(0.0, 0.0);
    for (var a = lid; a < params.axis_len; a += WG) {
        let k = index(line, a);
        var gw = b2[k];
        if params.has_weight != 0u {
            gw *= b3[a];
        }
        sums += vec2(gw, gw * (x[k] - mean) * rstd);
    }
    let means = workgroup_sum(lid, sums) / f32(params.axis_len);
    for (var a = lid; a < params.axis_len; a += WG) {
        let k = index(line, a);
        var gw = b2[k];
        if params.has_weight != 0u {
            gw *= b3[a];
        }
        let xhat = (x[k] - mean) * rstd;
        b6[k] = rstd * (gw - means.x - xhat * means.y);
    }
}

// grad_weight[a] = sum over lines of grad_out * xhat, grad_bias[a] = sum of grad_out.
@compute @workgroup_size(256)
fn backward_params(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let a = group_id(wid, groups);
    if a >= params.axis_len {
        return;
    }
    var sums = vec2(0.0, 0.0);
    for (var line = lid; line < params.lines; line += WG) {
        let k = index(line, a);
        let g = b2[k];
        sums += vec2(g * (x[k] - b3[line]) * b4[line], g);
    }
    let totals = workgroup_sum(lid, sums);
    if lid == 0u {
        b5[a] = totals.x;
        b6[a] = totals.y;
    }
}
