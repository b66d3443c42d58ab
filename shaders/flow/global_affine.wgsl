// Global affine ("ActNorm") of FrEIA's AllInOneBlock with its SOFTPLUS activation
// (REFERENCE-SPECS §6): per channel c, scale_c = 0.1 softplus_{beta=0.5}(g_c) and
// y = x scale_c + offset_c on x viewed as [N, C, P]; the per-sample log-det gains
// P sum_c log scale_c. softplus follows torch (threshold 20: linear where beta g > 20).
// Entries: `forward` and `inverse` (one workgroup per sample, owning logdet[n]), `backward`
// (one workgroup per channel: the input gradient of that channel and the reductions over
// samples and positions for the gradients of g and offset, deterministic without atomics).
// CPU twin: src/cpu/flow/global_affine.rs.

// Keep in sync with GlobalAffineParams in src/kernels/flow/global_affine.rs.
struct Params {
    n: u32,
    channels: u32,
    inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// forward: x, g, offset, out (= x scale + offset), logdet (+= P sum log scale).
// inverse: y, g, offset, out (= (y - offset) / scale), logdet (-= P sum log scale).
// backward: x, g, grad_out, grad_logdet, grad_x, grad_g, grad_offset.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> b3: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<storage, read_write> b5: array<f32>;
@group(0) @binding(6) var<storage, read_write> b6: array<f32>;
@group(0) @binding(7) var<storage, read_write> b7: array<f32>;

const WG: u32 = 256u;
const BETA: f32 = 0.5;
const THRESHOLD: f32 = 20.0;
const SCALE_FACTOR: f32 = 0.1;
alias Sum = vec3<f32>;
#import common/workgroup_sum.wgsl

#import common/flow_entries.wgsl

// 0.1 softplus_{0.5}(v) = 0.1 * 2 log(1 + exp(v / 2)), written without overflow.
fn scale_of(v: f32) -> f32 {
    let z = BETA * v;
    if z > THRESHOLD {
        return SCALE_FACTOR * v;
    }
    return SCALE_FACTOR * (max(z, 0.0) + log(1.0 + exp(-abs(z)))) / BETA;
}

// d scale / d v = 0.1 sigmoid(v / 2) (1 above the threshold, as torch's softplus backward).
fn scale_derivative(v: f32) -> f32 {
    let z = BETA * v;
    if z > THRESHOLD {
        return SCALE_FACTOR;
    }
    return SCALE_FACTOR / (1.0 + exp(-z));
}

fn transform(sample: u32, lid: u32, sign: f32) {
    let per_sample = params.channels * params.inner;
    var sum = 0.0;
    for (var e = lid; e < per_sample; e += WG) {
        let c = e / params.inner;
        let i = sample * per_sample + e;
        let scale = scale_of(g[c]);
        if sign > 0.0 {
            b4[i] = x[i] * scale + b3[c];
        } else {
            b4[i] = (x[i] - b3[c]) / scale;
        }
        sum += log(scale);
    }
    let total = workgroup_sum(lid, vec3(sum, 0.0, 0.0)).x;
    if lid == 0u {
        b5[sample] += sign * total;
    }
}

// grad_x = grad_out scale; grad_offset = sum grad_out;
// grad_g = (sum grad_out x + sum_{n,p} grad_logdet[n] / scale) d scale / d g.
@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = group_id(wid, groups);
    if c >= params.channels {
        return;
    }
    let scale = scale_of(g[c]);
    let lines = params.n * params.inner;
    var sums = vec3(0.0, 0.0, 0.0);
    for (var e = lid; e < lines; e += WG) {
        let sample = e / params.inner;
        let i = (sample * params.channels + c) * params.inner + e % params.inner;
        let go = b3[i];
        b5[i] = go * scale;
        sums += vec3(go, go * x[i], b4[sample]);
    }
    let total = workgroup_sum(lid, sums);
    if lid == 0u {
        b7[c] = total.x;
        b6[c] = (total.y + total.z / scale) * scale_derivative(g[c]);
    }
}
