// GroupNorm as torch.nn.GroupNorm: x viewed as [batch, channels, spatial]; the channels split
// into `groups` runs of `channels / groups`, and each (sample, group) block, contiguous in memory,
// is normalised with its biased variance, then scaled and shifted per channel. One group is
// Conv-TasNet's gLN. Entries: `forward` (one workgroup per block; saves mean and rstd per block),
// `backward_input` (one workgroup per block), `backward_params` (one workgroup per channel,
// reducing over batch and spatial: deterministic, no float atomics).
// Long reductions are split into chunks of `chunk` values so that no invocation passes
// lavapipe's loop budget (README, "Portability: loop budget per invocation"); the launcher picks
// the form. Long blocks: the forward pass runs the chunked prelu_group_norm kernels (no slope);
// `backward_partials` sums one chunk of a block per workgroup into b7 = [blocks, chunks, 2], the
// launcher sums those over chunks (reduce_axis) into [blocks, 2], and `backward_apply` (one
// thread per element, those sums in b7) writes grad_in. Long channels: `params_partials` sums
// one chunk of a channel per workgroup into b7 = [channels, chunks, 2] and `params_finish` (one
// thread per channel, chunks in order) writes grad_weight and grad_bias.
// CPU twin: src/cpu/norm/group_norm.rs.

// Keep in sync with GroupNormParams in src/kernels/norm/group_norm.rs.
struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    groups: u32,
    eps: f32,
    // 1 when weight (or bias) is bound; otherwise its binding holds a placeholder.
    has_weight: u32,
    has_bias: u32,
    // Chunked entries only: values per chunk and chunks per block (or channel).
    chunk: u32,
    chunks: u32,
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
// Chunked entries only: partial sums, or (backward_apply) their totals per block.
@group(0) @binding(7) var<storage, read_write> b7: array<f32>;

const WG: u32 = 256u;
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

#import common/group_id.wgsl

@compute @workgroup_size(256)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = group_id(wid, groups);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if block >= params.batch * params.groups {
        return;
    }
    let per_group = params.channels / params.groups;
    let len = per_group * params.spatial;
    let base = block * len;
    let first_channel = (block % params.groups) * per_group;
    var sum = 0.0;
    for (var k = lid; k < len; k += WG) {
        sum += x[base + k];
    }
    let mean = workgroup_sum(lid, vec2(sum, 0.0)).x / f32(len);
    // Two passes: the variance of deviations stays accurate for blocks with a large offset.
    var squares = 0.0;
    for (var k = lid; k < len; k += WG) {
        let d = x[base + k] - mean;
        squares += d * d;
    }
    let rstd = inverseSqrt(workgroup_sum(lid, vec2(squares, 0.0)).x / f32(len) + params.eps);
    for (var k = lid; k < len; k += WG) {
        let c = first_channel + k / params.spatial;
        var y = (x[base + k] - mean) * rstd;
        if params.has_weight != 0u {
            y *= b2[c];
        }
        if params.has_bias != 0u {
            y += b3[c];
        }
        b4[base + k] = y;
    }
    if lid == 0u {
        b5[block] = mean;
        b6[block] = rstd;
    }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) over the block, gw = grad_out * weight[c].
@compute @workgroup_size(256)
fn backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = group_id(wid, groups);
    if block >= params.batch * params.groups {
        return;
    }
    let per_group = params.channels / params.groups;
    let len = per_group * params.spatial;
    let base = block * len;
    let first_channel = (block % params.groups) * per_group;
    let mean = b4[block];
    let rstd = b5[block];
    var sums = vec2(0.0, 0.0);
    for (var k = lid; k < len; k += WG) {
        var gw = b2[base + k];
        if params.has_weight != 0u {
            gw *= b3[first_channel + k / params.spatial];
        }
        sums += vec2(gw, gw * (x[base + k] - mean) * rstd);
    }
    let means = workgroup_sum(lid, sums) / f32(len);
    for (var k = lid; k < len; k += WG) {
        var gw = b2[base + k];
        if params.has_weight != 0u {
            gw *= b3[first_channel + k / params.spatial];
        }
        let xhat = (x[base + k] - mean) * rstd;
        b6[base + k] = rstd * (gw - means.x - xhat * means.y);
    }
}

// grad_weight[c] = sum over batch and spatial of grad_out * xhat; grad_bias[c] = sum of grad_out.
@compute @workgroup_size(256)
fn backward_params(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = group_id(wid, groups);
    if c >= params.channels {
        return;
    }
    let g = c / (params.channels / params.groups);
    var sums = vec2(0.0, 0.0);
    for (var t = lid; t < params.batch * params.spatial; t += WG) {
        let n = t / params.spatial;
        let k = (n * params.channels + c) * params.spatial + t % params.spatial;
        let stat = n * params.groups + g;
        let grad = b2[k];
        sums += vec2(grad * (x[k] - b3[stat]) * b4[stat], grad);
    }
    let totals = workgroup_sum(lid, sums);
    if lid == 0u {
        b5[c] = totals.x;
        b6[c] = totals.y;
    }
}

// One chunk of one block of backward_input's two sums; grid [chunks, blocks].
@compute @workgroup_size(256)
fn backward_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let block = wid.y;
    if chunk >= params.chunks || block >= params.batch * params.groups {
        return;
    }
    let per_group = params.channels / params.groups;
    let len = per_group * params.spatial;
    let base = block * len;
    let first_channel = (block % params.groups) * per_group;
    let mean = b4[block];
    let rstd = b5[block];
    let end = min((chunk + 1u) * params.chunk, len);
    var sums = vec2(0.0, 0.0);
    for (var k = chunk * params.chunk + lid; k < end; k += WG) {
        var gw = b2[base + k];
        if params.has_weight != 0u {
            gw *= b3[first_channel + k / params.spatial];
        }
        sums += vec2(gw, gw * (x[base + k] - mean) * rstd);
    }
    let totals = workgroup_sum(lid, sums);
    if lid == 0u {
        let slot = 2u * (block * params.chunks + chunk);
        b7[slot] = totals.x;
        b7[slot + 1u] = totals.y;
    }
}

// grad_in from the block sums in b7 ([blocks, 2]); one thread per element.
@compute @workgroup_size(256)
fn backward_apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups) * WG + lid;
    let per_group = params.channels / params.groups;
    let len = per_group * params.spatial;
    if i >= params.batch * params.groups * len {
        return;
    }
    let block = i / len;
    let k = i % len;
    let means = vec2(b7[2u * block], b7[2u * block + 1u]) / f32(len);
    var gw = b2[i];
    if params.has_weight != 0u {
        gw *= b3[(block % params.groups) * per_group + k / params.spatial];
    }
    let rstd = b5[block];
    let xhat = (x[i] - b4[block]) * rstd;
    b6[i] = rstd * (gw - means.x - xhat * means.y);
}

// One chunk of one channel of backward_params' two sums; grid [chunks, channels].
@compute @workgroup_size(256)
fn params_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let c = wid.y;
    if chunk >= params.chunks || c >= params.channels {
        return;
    }
    let g = c / (params.channels / params.groups);
    let end = min((chunk + 1u) * params.chunk, params.batch * params.spatial);
    var sums = vec2(0.0, 0.0);
    for (var t = chunk * params.chunk + lid; t < end; t += WG) {
        let n = t / params.spatial;
        let k = (n * params.channels + c) * params.spatial + t % params.spatial;
        let stat = n * params.groups + g;
        let grad = b2[k];
        sums += vec2(grad * (x[k] - b3[stat]) * b4[stat], grad);
    }
    let totals = workgroup_sum(lid, sums);
    if lid == 0u {
        let slot = 2u * (c * params.chunks + chunk);
        b7[slot] = totals.x;
        b7[slot + 1u] = totals.y;
    }
}

// grad_weight and grad_bias from params_partials' chunks, added in chunk order; one thread per
// channel (the launcher keeps chunks within the loop budget).
@compute @workgroup_size(256)
fn params_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = group_id(wid, groups) * WG + lid;
    if c >= params.channels {
        return;
    }
    var sums = vec2(0.0, 0.0);
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        let slot = 2u * (c * params.chunks + chunk);
        sums += vec2(b7[slot], b7[slot + 1u]);
    }
    b5[c] = sums.x;
    b6[c] = sums.y;
}
