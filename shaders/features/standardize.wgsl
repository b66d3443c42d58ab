// Per-clip waveform standardisation (Fujimura 004): each row of x, [rows, len], becomes
// (x - mean) / max(std, floor) with the biased standard deviation. One workgroup per row: the
// mean, then the variance of the deviations (two passes, accurate for signals with an offset),
// then the write.
// CPU twin: src/cpu/features/standardize.rs.

// Keep in sync with StandardizeParams in src/kernels/features/standardize.rs.
struct Params {
    rows: u32,
    len: u32,
    // Lower bound on the std, so that a silent clip gives zeros instead of NaN.
    floor: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let base = row * params.len;
    var sum = 0.0;
    for (var k = lid; k < params.len; k += WG) {
        sum += x[base + k];
    }
    let mean = workgroup_sum(lid, sum) / f32(params.len);
    var squares = 0.0;
    for (var k = lid; k < params.len; k += WG) {
        let d = x[base + k] - mean;
        squares += d * d;
    }
    let deviation = sqrt(workgroup_sum(lid, squares) / f32(params.len));
    let inv = 1.0 / max(deviation, params.floor);
    for (var k = lid; k < params.len; k += WG) {
        out[base + k] = (x[base + k] - mean) * inv;
    }
}
