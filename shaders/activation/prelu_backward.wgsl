// Backward of PReLU (shaders/elementwise/prelu.wgsl), as torch: x viewed as
// [outer, channels, inner]. `input_grad`: grad_in = grad_out where x > 0, else weight[c] * grad_out
// (one thread per element). `weight_grad`: grad_weight[c] = sum of x * grad_out over the elements of
// channel c with x <= 0, one workgroup per slope (a deterministic reduction, no float atomics).
// One shared slope is channels = 1 with the whole tensor as one run.
// Long channels (the launcher decides) are reduced in chunks instead, so that no invocation
// passes lavapipe's loop budget (README, "Portability: loop budget per invocation") and many
// workgroups share a long channel: `weight_partials` sums one chunk of one channel per workgroup
// into `partials` [channels, chunks], and `weight_finish` (one thread per channel) adds a
// channel's chunks in order.
// CPU twin: src/cpu/activation/prelu_backward.rs.

// Keep in sync with PreluBackwardParams in src/kernels/activation/prelu_backward.rs.
struct Params {
    n: u32,
    outer: u32,
    channels: u32,
    inner: u32,
    // Chunked weight gradient only: values per chunk and chunks per channel.
    chunk: u32,
    chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// `input_grad` reads the slopes; `weight_grad` binds a placeholder here.
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> grad_out: array<f32>;
// grad_in for `input_grad`, grad_weight for `weight_grad`.
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

@compute @workgroup_size(256)
fn input_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.y * groups.x + wid.x) * WG + lid;
    if i >= params.n {
        return;
    }
    let c = (i / params.inner) % params.channels;
    let g = grad_out[i];
    result[i] = select(weight[c] * g, g, x[i] > 0.0);
}

@compute @workgroup_size(256)
fn weight_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = wid.y * groups.x + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if c >= params.channels {
        return;
    }
    var sum = 0.0;
    for (var t = lid; t < params.outer * params.inner; t += WG) {
        let k = ((t / params.inner) * params.channels + c) * params.inner + t % params.inner;
        let v = x[k];
        sum += select(v * grad_out[k], 0.0, v > 0.0);
    }
    tree_sum(lid, sum);
    if lid == 0u {
        result[c] = partial[0];
    }
}

@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

// x * grad_out over x <= 0 of channel c's k-th value (k in [0, outer * inner)).
fn weight_term(c: u32, t: u32) -> f32 {
    let k = ((t / params.inner) * params.channels + c) * params.inner + t % params.inner;
    let v = x[k];
    return select(v * grad_out[k], 0.0, v > 0.0);
}

// One chunk of one channel; grid [chunks, channels].
@compute @workgroup_size(256)
fn weight_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let c = wid.y;
    if chunk >= params.chunks || c >= params.channels {
        return;
    }
    let end = min((chunk + 1u) * params.chunk, params.outer * params.inner);
    var sum = 0.0;
    for (var t = chunk * params.chunk + lid; t < end; t += WG) {
        sum += weight_term(c, t);
    }
    tree_sum(lid, sum);
    if lid == 0u {
        partials[c * params.chunks + chunk] = partial[0];
    }
}

// A channel's chunks added in order; one thread per channel.
@compute @workgroup_size(256)
fn weight_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = (wid.y * groups.x + wid.x) * WG + lid;
    if c >= params.channels {
        return;
    }
    var sum = 0.0;
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        sum += partials[c * params.chunks + chunk];
    }
    result[c] = sum;
}
