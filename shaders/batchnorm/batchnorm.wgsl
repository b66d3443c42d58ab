// BatchNorm over [N, C, L] (L = 1 for BatchNorm1d on [N, C] features) with an optional fused
// ReLU, as torch.nn.BatchNorm1d followed by ReLU:
//   train: mean/var over the N*L values of each channel (biased var normalises; the running var
//          takes the unbiased one, as torch), running = (1 - momentum) running + momentum batch
//   eval:  the running statistics normalise
//   y = gamma (x - mean) rstd + beta, then max(y, 0) when RELU.
// One thread per channel walks the channel's N*L values: threads of one warp read neighbouring
// channels of one row, so the loads coalesce for the [N, C] layout of dense layers.
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

fn index(i: u32, c: u32, l: u32) -> u32 {
    return (i * params.channels + c) * params.len + l;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.channels {
        return;
    }
    let count = params.n * params.len;
    var mean: f32;
    var rstd: f32;
    if TRAIN {
        var sum = 0.0;
        for (var i = 0u; i < params.n; i++) {
            for (var l = 0u; l < params.len; l++) {
                sum += x[index(i, c, l)];
            }
        }
        mean = sum / f32(count);
        // Second pass over the deviations: accurate when |mean| >> std.
        var squares = 0.0;
        for (var i = 0u; i < params.n; i++) {
            for (var l = 0u; l < params.len; l++) {
                let d = x[index(i, c, l)] - mean;
                squares += d * d;
            }
        }
        let var_biased = squares / f32(count);
        rstd = inverseSqrt(var_biased + params.eps);
        let var_unbiased = squares / f32(max(count, 2u) - 1u);
        let m = params.momentum;
        running_mean[c] = (1.0 - m) * running_mean[c] + m * mean;
        running_var[c] = (1.0 - m) * running_var[c] + m * var_unbiased;
    } else {
        mean = running_mean[c];
        rstd = inverseSqrt(running_var[c] + params.eps);
    }
    saved[2u * c] = mean;
    saved[2u * c + 1u] = rstd;
    let g = gamma[c] * rstd;
    let b = beta[c] - mean * g;
    for (var i = 0u; i < params.n; i++) {
        for (var l = 0u; l < params.len; l++) {
            let k = index(i, c, l);
            var v = x[k] * g + b;
            if RELU {
                v = max(v, 0.0);
            }
            y[k] = v;
        }
    }
}
