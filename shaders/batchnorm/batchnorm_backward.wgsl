// Backward of BatchNorm (training statistics) with the fused ReLU: dy is first masked by
// (y > 0) when RELU, then with xhat = (x - mean) rstd:
//   dbeta  = sum dy,  dgamma = sum dy xhat,
//   dx     = gamma rstd / M (M dy - dbeta - xhat dgamma),  M = N * L.
// One thread per channel, two passes over the channel's values (sums, then dx).
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
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> saved: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta_out: array<f32>;

override RELU: bool = true;

fn index(i: u32, c: u32, l: u32) -> u32 {
    return (i * params.channels + c) * params.len + l;
}

fn masked(k: u32) -> f32 {
    if RELU && y[k] <= 0.0 {
        return 0.0;
    }
    return dy[k];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.channels {
        return;
    }
    let mean = saved[2u * c];
    let rstd = saved[2u * c + 1u];
    var dbeta = 0.0;
    var dgamma = 0.0;
    for (var i = 0u; i < params.n; i++) {
        for (var l = 0u; l < params.len; l++) {
            let k = index(i, c, l);
            let g = masked(k);
            dbeta += g;
            dgamma += g * (x[k] - mean) * rstd;
        }
    }
    dgamma_out[c] = dgamma;
    dbeta_out[c] = dbeta;
    let count = f32(params.n * params.len);
    let scale = gamma[c] * rstd / count;
    for (var i = 0u; i < params.n; i++) {
        for (var l = 0u; l < params.len; l++) {
            let k = index(i, c, l);
            let xhat = (x[k] - mean) * rstd;
            dx[k] = scale * (count * masked(k) - dbeta - xhat * dgamma);
        }
    }
}
