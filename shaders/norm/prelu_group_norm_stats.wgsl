// First pass of the fused PReLU + GroupNorm: workgroup (chunk, block) reads `chunk` values of
// the (sample, group) block `block`, applies PReLU, and writes the chunk's sum and its M2 (sum
// of squared deviations from the chunk's own mean) into partials[2 * (block * chunks + chunk)].
// Many workgroups share one block, so a gLN over a long signal is not one workgroup's work;
// group_norm_finalize.wgsl combines the chunks exactly.
// CPU twin: src/cpu/norm/prelu_group_norm.rs.

#import common/prelu_group_norm_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> slope: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

// prelu(x[i]) for element i of the whole [batch, channels, spatial] tensor.
fn activated(i: u32) -> f32 {
    let v = x[i];
    if params.slopes == 0u || v >= 0.0 {
        return v;
    }
    let c = (i / params.spatial) % params.channels;
    return v * slope[select(0u, c, params.slopes > 1u)];
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let block = wid.y;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if chunk >= params.chunks || block >= params.batch * params.groups {
        return;
    }
    let len = params.channels / params.groups * params.spatial;
    let start = block * len + chunk * params.chunk;
    let count = min(params.chunk, len - chunk * params.chunk);
    var sum = 0.0;
    for (var k = lid; k < count; k += WG) {
        sum += activated(start + k);
    }
    let total = workgroup_sum(lid, sum);
    let mean = total / f32(count);
    // Deviations from the chunk's own mean: the finalize pass adds the between-chunk term.
    var squares = 0.0;
    for (var k = lid; k < count; k += WG) {
        let d = activated(start + k) - mean;
        squares += d * d;
    }
    let m2 = workgroup_sum(lid, squares);
    if lid == 0u {
        let slot = 2u * (block * params.chunks + chunk);
        partials[slot] = total;
        partials[slot + 1u] = m2;
    }
}
