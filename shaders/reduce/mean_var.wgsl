// Mean and biased variance (divide by N, as BatchNorm and LayerNorm normalise) along one axis.
// The input is viewed as [outer, axis_len, inner]; one workgroup per output element ("row").
// The one-pass E[x^2] - E[x]^2 cancels catastrophically when the mean is large next to the spread
// (1000 + noise of 0.01 keeps no correct digit in f32), so this reads the row twice:
// 1. mean = K + sum(x - K) / N, shifted by the row's first element K: for data far from zero the
//    shifted values are small and nearly exact, so the mean is not lost to the rounding of a
//    large running sum.
// 2. with d = x - mean: var = (sum(d^2) - sum(d)^2 / N) / N, the corrected two-pass formula; the
//    sum(d) term removes, to first order, what error is left in the mean.
// The second read of the row usually hits cache.
// CPU twin: src/cpu/reduce/mean_var.rs.

// Keep in sync with MeanVarParams in src/kernels/reduce/mean_var.rs.
struct Params {
    rows: u32,
    axis_len: u32,
    // Distance between consecutive axis elements (product of the dims after the axis).
    inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> var_out: array<f32>;

// A power of two for the halving tree; 256 is the largest workgroup every device accepts.
const WG: u32 = 256u;

// Two sums per thread: (sum(x - K), unused) in pass 1, (sum(d), sum(d^2)) in pass 2.
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Over 65535 rows the grid is 2-D (grid_1d); the row id is the linear workgroup id.
    let row = wid.y * groups.x + wid.x;
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let o = row / params.inner;
    let i = row % params.inner;
    let base = o * params.axis_len * params.inner + i;
    let n = f32(params.axis_len);

    let shift = x[base];
    var acc = 0.0;
    for (var k = lid; k < params.axis_len; k += WG) {
        acc += x[base + k * params.inner] - shift;
    }
    let mean = shift + workgroup_sum(lid, vec2<f32>(acc, 0.0)).x / n;

    var dev = vec2<f32>(0.0, 0.0);
    for (var k = lid; k < params.axis_len; k += WG) {
        let d = x[base + k * params.inner] - mean;
        dev += vec2<f32>(d, d * d);
    }
    let sums = workgroup_sum(lid, dev);
    // Non-negative in exact arithmetic (Cauchy-Schwarz); the clamp stops a rounding below zero
    // from reaching a later sqrt.
    let variance = max((sums.y - sums.x * sums.x / n) / n, 0.0);

    if lid == 0u {
        mean_out[row] = mean;
        var_out[row] = variance;
    }
}
