// BatchNorm over [N, C, L] (L = 1 for BatchNorm1d on [N, C] features) with an optional fused
// ReLU, as torch.nn.BatchNorm1d followed by ReLU:
//   train: mean/var over the N*L values of each channel (biased var normalises; the running var
//          takes the unbiased one, as torch), running = (1 - momentum) running + momentum batch
//   eval:  the running statistics normalise
//   y = gamma (x - mean) rstd + beta, then max(y, 0) when RELU.
// One workgroup per channel: its 256 threads stride over the channel's N*L values and tree-sum
// their partial sums. (One thread per channel walking every value lost all but the first
// rows' outputs on lavapipe for conv-sized inputs, e.g. [128, 8, 2048].)
// Long channels (N*L above the launcher's threshold) are split into chunks instead, so that many
// workgroups share a channel and no invocation passes lavapipe's loop budget (README,
// "Portability: loop budget per invocation"): `stats_partials` (train; grid [chunks, channels])
// writes each chunk's sum and squared deviations from its own mean to `partials`,
// `stats_finish` (one thread per channel) merges the chunks in order (Chan et al.) into mean,
// rstd and the running statistics, and `apply` (one thread per element) normalises; in eval it
// reads the running statistics and element (0, c, 0) writes `saved`.
// CPU twin: src/cpu/batchnorm/batchnorm.rs.

#import common/batchnorm_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// [mean, rstd] per channel (saved for backward; read in eval from running stats).
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_var: array<f32>;
// Chunked entries only: [channels, chunks, 2] partial statistics.
@group(0) @binding(8) var<storage, read_write> partials: array<f32>;

override RELU: bool = true;
override TRAIN: bool = true;

const WG: u32 = 256u;
alias Sum = f32;
#import common/workgroup_sum.wgsl

// Element j (= i * L + l) of channel c.
fn index(c: u32, j: u32) -> u32 {
    return ((j / params.len) * params.channels + c) * params.len + j % params.len;
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
    let count = params.n * params.len;
    var mean: f32;
    var rstd: f32;
    if TRAIN {
        var sum = 0.0;
        for (var j = lid; j < count; j += WG) {
            sum += x[index(c, j)];
        }
        mean = workgroup_sum(lid, sum) / f32(count);
        // Second pass over the deviations: accurate when |mean| >> std.
        var squares = 0.0;
        for (var j = lid; j < count; j += WG) {
            let d = x[index(c, j)] - mean;
            squares += d * d;
        }
        squares = workgroup_sum(lid, squares);
        let var_biased = squares / f32(count);
        rstd = inverseSqrt(var_biased + params.eps);
        let var_unbiased = squares / f32(max(count, 2u) - 1u);
        let m = params.momentum;
        if lid == 0u {
            running_mean[c] = (1.0 - m) * running_mean[c] + m * mean;
            running_var[c] = (1.0 - m) * running_var[c] + m * var_unbiased;
        }
    } else {
        mean = running_mean[c];
        rstd = inverseSqrt(running_var[c] + params.eps);
    }
    if lid == 0u {
        saved[2u * c] = mean;
        saved[2u * c + 1u] = rstd;
    }
    let g = gamma[c] * rstd;
    let b = beta[c] - mean * g;
    for (var j = lid; j < count; j += WG) {
        let k = index(c, j);
        var v = x[k] * g + b;
        if RELU {
            v = max(v, 0.0);
        }
        y[k] = v;
    }
}

// Sum and squared deviations from the chunk's mean of one chunk of channel c; grid [chunks, C].
@compute @workgroup_size(256)
fn stats_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = wid.x;
    let c = wid.y;
    if chunk >= params.chunks || c >= params.channels {
        return;
    }
    let start = chunk * params.chunk;
    let end = min(start + params.chunk, params.n * params.len);
    var sum = 0.0;
    for (var j = start + lid; j < end; j += WG) {
        sum += x[index(c, j)];
    }
    let total = workgroup_sum(lid, sum);
    let mean = total / f32(end - start);
    var squares = 0.0;
    for (var j = start + lid; j < end; j += WG) {
        let d = x[index(c, j)] - mean;
        squares += d * d;
    }
    let m2 = workgroup_sum(lid, squares);
    if lid == 0u {
        let slot = 2u * (c * params.chunks + chunk);
        partials[slot] = total;
        partials[slot + 1u] = m2;
    }
}

// Merges channel c's chunks in order into mean and biased variance; one thread per channel.
@compute @workgroup_size(256)
fn stats_finish(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = (wid.y * groups.x + wid.x) * WG + lid;
    if c >= params.channels {
        return;
    }
    let count = params.n * params.len;
    var seen = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        let slot = 2u * (c * params.chunks + chunk);
        let n = f32(min(params.chunk, count - chunk * params.chunk));
        let d = partials[slot] / n - mean;
        let merged = seen + n;
        mean += d * n / merged;
        m2 += partials[slot + 1u] + d * d * seen * n / merged;
        seen = merged;
    }
    let rstd = inverseSqrt(m2 / f32(count) + params.eps);
    let var_unbiased = m2 / f32(max(count, 2u) - 1u);
    let m = params.momentum;
    running_mean[c] = (1.0 - m) * running_mean[c] + m * mean;
    running_var[c] = (1.0 - m) * running_var[c] + m * var_unbiased;
    saved[2u * c] = mean;
    saved[2u * c + 1u] = rstd;
}

// y from the saved statistics (train) or the running ones (eval); one thread per element.
@compute @workgroup_size(256)
fn apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let k = (wid.y * groups.x + wid.x) * WG + lid;
    if k >= params.n * params.channels * params.len {
        return;
    }
    let c = (k / params.len) % params.channels;
    var mean: f32;
    var rstd: f32;
    if TRAIN {
        mean = saved[2u * c];
        rstd = saved[2u * c + 1u];
    } else {
        mean = running_mean[c];
        rstd = inverseSqrt(running_var[c] + params.eps);
        if k < params.channels * params.len && k % params.len == 0u {
            saved[2u * c] = mean;
            saved[2u * c + 1u] = rstd;
        }
    }
    let g = gamma[c] * rstd;
    var v = x[k] * g + (beta[c] - mean * g);
    if RELU {
        v = max(v, 0.0);
    }
    y[k] = v;
}
