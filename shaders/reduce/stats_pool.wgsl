// Statistics pooling of x-vector TDNNs: the mean and standard deviation over time of every
// channel of x [batch, channels, len], concatenated per item into out [batch, 2 * channels]
// (means first, then deviations). std = sqrt(biased variance + eps): the eps keeps the gradient
// finite on a constant channel.
// One workgroup per (item, channel) "row": the shifted mean and the corrected two-pass variance
// of shaders/reduce/mean_var.wgsl, for the same reasons (large means, f32 sums).
// The backward is shaders/reduce/stats_pool_backward.wgsl.
// CPU twin: src/cpu/reduce/stats_pool.rs.

#import common/stats_pool_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// A power of two for the halving tree; 256 is the largest workgroup every device accepts.
const WG: u32 = 256u;

// Two sums per thread: (sum(x - K), unused) in pass 1, (sum(d), sum(d^2)) in pass 2.
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

// Index in out of the mean of `row` (its deviation is `channels` further).
fn stat_index(row: u32) -> u32 {
    let item = row / params.channels;
    let channel = row % params.channels;
    return item * 2u * params.channels + channel;
}

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
    let base = row * params.len;
    let n = f32(params.len);

    let shift = x[base];
    var acc = 0.0;
    for (var k = lid; k < params.len; k += WG) {
        acc += x[base + k] - shift;
    }
    let mean = shift + workgroup_sum(lid, vec2<f32>(acc, 0.0)).x / n;

    var dev = vec2<f32>(0.0, 0.0);
    for (var k = lid; k < params.len; k += WG) {
        let d = x[base + k] - mean;
        dev += vec2<f32>(d, d * d);
    }
    let sums = workgroup_sum(lid, dev);
    // Non-negative in exact arithmetic; the clamp stops a rounding below zero.
    let variance = max((sums.y - sums.x * sums.x / n) / n, 0.0);

    if lid == 0u {
        let at = stat_index(row);
        out[at] = mean;
        out[at + params.channels] = sqrt(variance + params.eps);
    }
}
