// Last pass of the fused PReLU + GroupNorm: one thread per element,
// out = (prelu(x) - mean) * rstd * weight[c] + bias[c] with the block's statistics from
// group_norm_finalize.wgsl. PReLU is recomputed rather than stored; training also writes
// prelu(x) into `activated` for the backward pass.
// CPU twin: src/cpu/norm/prelu_group_norm.rs.

#import common/prelu_group_norm_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> slope: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rstd: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> activated: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    let n = params.batch * params.channels * params.spatial;
    if i >= n {
        return;
    }
    let c = (i / params.spatial) % params.channels;
    let block = (i / params.spatial) / (params.channels / params.groups);
    var v = x[i];
    if params.slopes != 0u && v < 0.0 {
        v *= slope[select(0u, c, params.slopes > 1u)];
    }
    if params.has_activated != 0u {
        activated[i] = v;
    }
    var y = (v - mean[block]) * rstd[block];
    if params.has_weight != 0u {
        y *= weight[c];
    }
    if params.has_bias != 0u {
        y += bias[c];
    }
    out[i] = y;
}
