// Scale-invariant SDR per row of [rows, samples] (REFERENCE-SPECS §2, asteroid's convention):
// both signals zero-mean; alpha = <s, e> / (||s||^2 + eps) with s the target and e the estimate;
// SI-SDR = 10 log10(||alpha s||^2 / (||e - alpha s||^2 + eps) + eps). One workgroup per row in
// both entries, three passes over the row (means; dot and energies; the noise energy directly,
// which stays accurate when the noise is tiny). `rows` writes SI-SDR in dB (loss_mean.wgsl
// takes minus the mean as the loss); `backward` writes scale * d SI-SDR / d estimate.
// CPU twin: src/cpu/loss/si_sdr.rs.

#import common/loss_params.wgsl

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> estimate: array<f32>;
// The target (`target` is a reserved word in WGSL).
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// SI-SDR per row for `rows`, the gradient for `backward`.
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

const WG: u32 = 256u;
alias Sum = vec4<f32>;
#import common/workgroup_sum.wgsl

#import common/group_id.wgsl

// Everything both entries need about one row.
struct Row {
    mean_e: f32,
    mean_s: f32,
    // ||s||^2 + eps and alpha.
    energy: f32,
    alpha: f32,
    // ||s||^2, ||e - alpha s||^2 + eps, <e - alpha s, s>.
    target_energy: f32,
    noise: f32,
    noise_dot_s: f32,
}

fn row_stats(lid: u32, base: u32) -> Row {
    var sums = vec4(0.0, 0.0, 0.0, 0.0);
    for (var k = lid; k < params.cols; k += WG) {
        sums += vec4(estimate[base + k], labels[base + k], 0.0, 0.0);
    }
    let means = workgroup_sum(lid, sums) / f32(params.cols);
    sums = vec4(0.0, 0.0, 0.0, 0.0);
    for (var k = lid; k < params.cols; k += WG) {
        let e = estimate[base + k] - means.x;
        let s = labels[base + k] - means.y;
        sums += vec4(e * s, s * s, 0.0, 0.0);
    }
    let dots = workgroup_sum(lid, sums);
    let energy = dots.y + params.eps;
    let alpha = dots.x / energy;
    sums = vec4(0.0, 0.0, 0.0, 0.0);
    for (var k = lid; k < params.cols; k += WG) {
        let e = estimate[base + k] - means.x;
        let s = labels[base + k] - means.y;
        let noise = e - alpha * s;
        sums += vec4(noise * noise, noise * s, 0.0, 0.0);
    }
    let noise = workgroup_sum(lid, sums);
    return Row(means.x, means.y, energy, alpha, dots.y, noise.x + params.eps, noise.y);
}

// ln(10) / 10: SI-SDR in dB is ln(ratio + eps) / LN10_OVER_10.
const LN10_OVER_10: f32 = 0.23025850929940458;

@compute @workgroup_size(256)
fn rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = group_id(wid, groups);
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if row >= params.rows {
        return;
    }
    let r = row_stats(lid, row * params.cols);
    let projected = r.alpha * r.alpha * r.target_energy;
    if lid == 0u {
        result[row] = log(projected / r.noise + params.eps) / LN10_OVER_10;
    }
}

// With P = alpha^2 ||s||^2 and N = ||e - alpha s||^2 + eps, d alpha / d e = s / E, so
// dP/de = 2 alpha ||s||^2 s / E and dN/de = 2 (e - alpha s) - 2 <e - alpha s, s> s / E;
// d SI-SDR / de = (10 / ln 10) (dP/N - P dN/N^2) / (P/N + eps). Both derivatives are zero-mean
// (s and e - alpha s are), so the zero-mean step needs no extra term.
@compute @workgroup_size(256)
fn backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = group_id(wid, groups);
    if row >= params.rows {
        return;
    }
    let base = row * params.cols;
    let r = row_stats(lid, base);
    let projected = r.alpha * r.alpha * r.target_energy;
    let ratio = projected / r.noise;
    let outer = params.scale / (LN10_OVER_10 * (ratio + params.eps) * r.noise);
    for (var k = lid; k < params.cols; k += WG) {
        let e = estimate[base + k] - r.mean_e;
        let s = labels[base + k] - r.mean_s;
        let noise = e - r.alpha * s;
        let d_projected = 2.0 * r.alpha * r.target_energy * s / r.energy;
        let d_noise = 2.0 * noise - 2.0 * r.noise_dot_s * s / r.energy;
        result[base + k] = outer * (d_projected - ratio * d_noise);
    }
}
