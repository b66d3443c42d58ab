// Backward of BatchNorm (training statistics) with the fused ReLU: dy is first masked by
// (y > 0) when RELU, then with xhat = (x - mean) rstd:
//   dbeta  = sum dy,  dgamma = sum dy xhat,
//   dx     = gamma rstd / M (M dy - dbeta - xhat dgamma),  M = N * L.
// One workgroup per channel (256 threads striding over its values, tree-summed), two passes
// (sums, then dx).
// Long channels (above the launcher's threshold) are split into chunks, so that many workgroups
// share a channel and no invocation passes lavapipe's loop budget (README, "Portability: loop
// budget per invocation"): `grad_partials` (grid [chunks, channels]) writes each chunk's two sums
// to `partials`, `grad_finish` (one thread per channel) adds them in chunk order into dgamma and
// dbeta, and `grad_apply` (one thread per element) writes dx from those.
// CPU twin: src/cpu/batchnorm/batchnorm.rs.

#import common/batchnorm_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> saved: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta_out: array<f32>;
// Chunked entries only: [channels, chunks, 2] partial sums.
@group(0) @binding(9) var<storage, read_write> partials: array<f32>;

override RELU: bool = true;

const WG: u32 = 256u;
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

// Element j (= i * L + l) of channel c.
fn index(c: u32, j: u32) -> u32 {
    return ((j / params.len) * params.channels + c) * params.len + j % params.len;
}

fn masked(k: u32) -> f32 {
    if RELU && y[k] <= 0.0 {
        return 0.0;
    }
    return dy[k];
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if c >= params.channels {
        return;
    }
    let mean = saved[2u * c];
    let rstd = saved[2u * c + 1u];
    let n = params.n * params.len;
    var sums = vec2(0.0, 0.0);
    for (var j = lid; j < n; j += WG) {
        let k = index(c, j);
        let g = masked(k);
        sums += vec2(g, g * (x[k] - mean) * rstd);
    }
    let totals = workgroup_sum(lid, sums);
    let dbeta = totals.x;
    let dgamma = totals.y;
    if lid == 0u {
        dgamma_out[c] = dgamma;
        dbeta_out[c] = dbeta;
    }
    let count = f32(n);
    let scale = gamma[c] * rstd / count;
    for (var j = lid; j < n; j += WG) {
        let k = index(c, j);
        let xhat = (x[k] - mean) * rstd;
        dx[k] = scale * (count * masked(k) - dbeta - xhat * dgamma);
    }
}

// dbeta's and dgamma's sums over one chunk of channel c; grid [chunks, channels].
@compute @workgroup_size(256)
fn grad_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let c = wid.y;
    if chunk >= params.chunks || c >= params.channels {
        return;
    }
    let mean = saved[2u * c];
    let rstd = saved[2u * c + 1u];
    let start = chunk * params.chunk;
    let end = min(start + params.chunk, params.n * params.len);
    var sums = vec2(0.0, 0.0);
    for (var j = start + lid; j < end; j += WG) {
        let k = index(c, j);
        let g = masked(k);
        sums += vec2(g, g * (x[k] - mean) * rstd);
    }
    let totals = workgroup_sum(lid, sums);
    if lid == 0u {
        let slot = 2u * (c * params.chunks + chunk);
        partials[slot] = totals.x;
        partials[slot + 1u] = totals.y;
    }
}

// dgamma and dbeta of channel c, its chunks added in order; one thread per channel.
@compute @workgroup_size(256)
fn grad_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = (wid.y * groups.x + wid.x) * WG + lid;
    if c >= params.channels {
        return;
    }
    var sums = vec2(0.0, 0.0);
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        let slot = 2u * (c * params.chunks + chunk);
        sums += vec2(partials[slot], partials[slot + 1u]);
    }
    dbeta_out[c] = sums.x;
    dgamma_out[c] = sums.y;
}

// dx from dgamma and dbeta; one thread per element.
@compute @workgroup_size(256)
fn grad_apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let k = (wid.y * groups.x + wid.x) * WG + lid;
    if k >= params.n * params.channels * params.len {
        return;
    }
    let c = (k / params.len) % params.channels;
    let mean = saved[2u * c];
    let rstd = saved[2u * c + 1u];
    let count = f32(params.n * params.len);
    let scale = gamma[c] * rstd / count;
    let xhat = (x[k] - mean) * rstd;
    dx[k] = scale * (count * masked(k) - dbeta_out[c] - xhat * dgamma_out[c]);
}
