// Bluestein's algorithm for complex FFTs of any length n (lengths with a prime factor other than
// 2, 3, 5): X[k] = c[k] * sum_t (x[t] c[t]) conj(c[k - t]) with the chirp c[t] = exp(-pi i t^2 / n),
// a circular convolution evaluated by power-of-two FFTs of length m >= 2n - 1.
//   premul:    a = x * c, zero-padded to m           (then forward FFT of a, by fft_stage)
//   pointwise: A * B, B = FFT(conj c) / m from the host (then inverse FFT, by fft_stage)
//   postmul:   X[k] = c[k] * y[k], k < n
// The chirp (angle from t^2 mod 2n, exact in integers) and B are computed on the host in f64.
// CPU twin: src/cpu/fft/bluestein.rs.

// Keep in sync with BluesteinParams in src/kernels/fft/plan.rs.
struct Params {
    // Transform length.
    n: u32,
    // Convolution (power-of-two FFT) length.
    m: u32,
    rows: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// premul and postmul: chirp[t], t < n. pointwise: B[i], i < m.
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;

override WG: u32 = 256u;

#import common/cmul.wgsl

fn thread_id(wid: vec3<u32>, groups: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.y * groups.x + wid.x) * WG + lid.x;
}

// Over rows x m: src rows of n points -> dst rows of m points.
@compute @workgroup_size(WG)
fn premul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = thread_id(wid, groups, lid);
    if id >= params.rows * params.m {
        return;
    }
    let row = id / params.m;
    let t = id % params.m;
    var a = vec2<f32>(0.0);
    if t < params.n {
        a = cmul(src[row * params.n + t], table[t]);
    }
    dst[id] = a;
}

// Over rows x m.
@compute @workgroup_size(WG)
fn pointwise(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = thread_id(wid, groups, lid);
    if id >= params.rows * params.m {
        return;
    }
    dst[id] = cmul(src[id], table[id % params.m]);
}

// Over rows x n: src rows of m points -> dst rows of n points.
@compute @workgroup_size(WG)
fn postmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let id = thread_id(wid, groups, lid);
    if id >= params.rows * params.n {
        return;
    }
    let row = id / params.n;
    let k = id % params.n;
    dst[id] = cmul(src[row * params.m + k], table[k]);
}
