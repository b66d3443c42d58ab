// Affine coupling of FrEIA's AllInOneBlock (REFERENCE-SPECS §6). x is viewed as [N, C, P]
// (P = H * W for feature maps, 1 for vectors); x1 = channels [0, split), x2 = [split, C) with
// split = ceil(C / 2). The subnet output a = subnet(x1) is [N, 2 * C2, P] (C2 = C - split): its
// first C2 channels give the scale, the last C2 the shift. As FrEIA's `_affine`, the whole of a
// is scaled by 0.1 first, then s = clamp * tanh(0.1 a_s), x2' = x2 exp(s) + 0.1 a_t, and the
// per-sample log-det gains sum(s).
// Entries: `forward` and `inverse` (one workgroup per sample, which also owns logdet[n], so the
// log-det needs no atomics), `backward` (one thread per element of x).
// CPU twin: src/cpu/flow/coupling.rs.

// Keep in sync with CouplingParams in src/kernels/flow/coupling.rs.
struct Params {
    n: u32,
    channels: u32,
    split: u32,
    inner: u32,
    clamp: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
// forward: x, a, out (= [x1, x2']), logdet (+= sum s).
// inverse: y, a, out (= [y1, (y2 - t) exp(-s)]), logdet (-= sum s).
// backward: x, a, grad_out, grad_logdet, grad_x, grad_a.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b3: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<storage, read_write> b5: array<f32>;
@group(0) @binding(6) var<storage, read_write> b6: array<f32>;

const WG: u32 = 256u;
// FrEIA scales the subnet output by 0.1 "for stability and easier initialization".
const A_SCALE: f32 = 0.1;
alias Sum = f32;
#import common/workgroup_sum.wgsl

// tanh without overflow: exp of a non-positive argument only.
fn stable_tanh(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

#import common/flow_entries.wgsl

// Flat indices into a of the scale and shift coefficients of x2 channel j at position p.
fn scale_index(n: u32, j: u32, p: u32) -> u32 {
    let c2 = params.channels - params.split;
    return (n * 2u * c2 + j) * params.inner + p;
}

fn shift_index(n: u32, j: u32, p: u32) -> u32 {
    let c2 = params.channels - params.split;
    return (n * 2u * c2 + c2 + j) * params.inner + p;
}

// forward (sign = 1) and inverse (sign = -1) share the per-sample loop.
fn transform(sample: u32, lid: u32, sign: f32) {
    let per_sample = params.channels * params.inner;
    var sum = 0.0;
    for (var e = lid; e < per_sample; e += WG) {
        let c = e / params.inner;
        let p = e % params.inner;
        let i = sample * per_sample + e;
        if c < params.split {
            b3[i] = x[i];
        } else {
            let j = c - params.split;
            let s = params.clamp * stable_tanh(A_SCALE * a[scale_index(sample, j, p)]);
            let t = A_SCALE * a[shift_index(sample, j, p)];
            if sign > 0.0 {
                b3[i] = x[i] * exp(s) + t;
            } else {
                b3[i] = (x[i] - t) * exp(-s);
            }
            sum += s;
        }
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u {
        b4[sample] += sign * total;
    }
}

// d/dx2 = g exp(s); d/da_t = 0.1 g; d/da_s = (g x2 exp(s) + g_logdet) * clamp (1 - tanh^2) 0.1.
// Each element of grad_a is written by the thread of its x2 element, so there are no races.
@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_id(wid, groups) * WG + lid;
    let per_sample = params.channels * params.inner;
    if i >= params.n * per_sample {
        return;
    }
    let sample = i / per_sample;
    let c = (i % per_sample) / params.inner;
    let p = i % params.inner;
    let g = b3[i];
    if c < params.split {
        b5[i] = g;
        return;
    }
    let j = c - params.split;
    let si = scale_index(sample, j, p);
    let th = stable_tanh(A_SCALE * a[si]);
    let es = exp(params.clamp * th);
    b5[i] = g * es;
    b6[shift_index(sample, j, p)] = A_SCALE * g;
    let grad_s = g * x[i] * es + b4[sample];
    b6[si] = grad_s * params.clamp * (1.0 - th * th) * A_SCALE;
}
