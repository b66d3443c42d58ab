// BatchNorm over [N, C, L] (L = 1 for BatchNorm1d on [N, C] features) with an optional fused
// ReLU, as torch.nn.BatchNorm1d followed by ReLU:
//   train: mean/var over the N*L values of each channel (biased var normalises; the running var
//          takes the unbiased one, as torch), running = (1 - momentum) running + momentum batch
//   eval:  the running statistics normalise
//   y = gamma (x - mean) rstd + beta, then max(y, 0) when RELU.
// One workgroup per channel: its 256 threads stride over the channel's N*L values and tree-sum
// their partial sums. (One thread per channel walking every value lost all but the first
// rows' outputs on lavapipe for conv-sized inputs, e.g. [128, 8, 2048].)
// CPU twin: src/cpu/batchnorm/batchnorm.rs.

// Keep in sync with BatchNormParams in src/kernels/batchnorm/batchnorm.rs.
struct Params {
    n: u32,
    channels: u32,
    len: u32,
    eps: f32,
    momentum: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// [mean, rstd] per channel (saved for backward; read in eval from running stats).
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_var: array<f32>;

override RELU: bool = true;
override TRAIN: bool = true;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

// Tree sum over the workgroup; every thread gets the total. Called in uniform control flow.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Everyone has read the total before `partial` is reused.
    workgroupBarrier();
    return total;
}

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
