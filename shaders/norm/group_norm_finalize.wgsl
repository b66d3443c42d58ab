// Second pass of the fused PReLU + GroupNorm: one workgroup per (sample, group) block combines
// the chunks' (sum, M2) from prelu_group_norm_stats.wgsl into the block's mean and
// rstd = 1 / sqrt(M2 / len + eps), with M2 = sum_i M2_i + n_i (mean_i - mean)^2 (exact, and as
// accurate as a two-pass variance even when the mean is large).
// CPU twin: src/cpu/norm/prelu_group_norm.rs.

#import common/prelu_group_norm_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

fn chunk_count(chunk: u32, len: u32) -> f32 {
    return f32(min(params.chunk, len - chunk * params.chunk));
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if block >= params.batch * params.groups {
        return;
    }
    let len = params.channels / params.groups * params.spatial;
    let first = block * params.chunks * 2u;
    var sum = 0.0;
    for (var i = lid; i < params.chunks; i += WG) {
        sum += partials[first + 2u * i];
    }
    let mean = workgroup_sum(lid, sum) / f32(len);
    var m2 = 0.0;
    for (var i = lid; i < params.chunks; i += WG) {
        let n = chunk_count(i, len);
        let d = partials[first + 2u * i] / n - mean;
        m2 += partials[first + 2u * i + 1u] + n * d * d;
    }
    let total = workgroup_sum(lid, m2);
    if lid == 0u {
        mean_out[block] = mean;
        rstd_out[block] = inverseSqrt(total / f32(len) + params.eps);
    }
}
