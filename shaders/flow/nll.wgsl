// Negative log-likelihood of a flow's output under a standard normal base, with the optional
// domain-invariant latent of 004 (REFERENCE-SPECS §6): z viewed as [N, C, P]; channels
// [0, shifted) are z_d ~ N(mean[n], 1) (mean[n] = k v_n), the rest z_c ~ N(0, 1).
//   nll[n]   = 0.5 sum (z - mu)^2 + (C P / 2) log(2 pi) - logdet[n]
//   score[n] = 0.5 sum_{z_c} z^2 + ((C - shifted) P / 2) log(2 pi) - logdet[n]  (z_d left out)
//   backward: grad_z = scale (z - mu), grad_logdet[n] = -scale (scale = 1 / N for the mean).
// Entries: `forward` (one workgroup per sample), `backward` (one thread per element of z).
// CPU twin: src/cpu/flow/nll.rs.

// Keep in sync with NllParams in src/kernels/flow/nll.rs.
struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    shifted: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
// forward: z, logdet, mean, nll, score. backward: z, logdet (unused), mean, grad_z, grad_logdet.
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> logdet: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<storage, read_write> b5: array<f32>;

const WG: u32 = 256u;
const HALF_LOG_2PI: f32 = 0.9189385332046727;
alias Sum = vec2<f32>;
#import common/workgroup_sum.wgsl

#import common/group_id.wgsl

@compute @workgroup_size(256)
fn forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let sample = group_id(wid, groups);
    // Uniform per workgroup, so the barriers stay in uniform control flow.
    if sample >= params.n {
        return;
    }
    let per_sample = params.channels * params.inner;
    // x: squares of z_d about their mean; y: squares of z_c.
    var sums = vec2(0.0, 0.0);
    for (var e = lid; e < per_sample; e += WG) {
        let v = z[sample * per_sample + e];
        if e / params.inner < params.shifted {
            let d = v - mean[sample];
            sums.x += d * d;
        } else {
            sums.y += v * v;
        }
    }
    let total = workgroup_sum(lid, sums);
    if lid == 0u {
        let kept = f32((params.channels - params.shifted) * params.inner);
        b4[sample] = 0.5 * (total.x + total.y) + f32(per_sample) * HALF_LOG_2PI - logdet[sample];
        b5[sample] = 0.5 * total.y + kept * HALF_LOG_2PI - logdet[sample];
    }
}

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
    let e = i % per_sample;
    let mu = select(0.0, mean[sample], e / params.inner < params.shifted);
    b4[i] = params.scale * (z[i] - mu);
    if e == 0u {
        b5[sample] = -params.scale;
    }
}
