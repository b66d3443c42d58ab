//! CPU twin of `shaders/flow/nll.wgsl`.

use super::FlowDims;

const HALF_LOG_2PI: f64 = 0.918_938_533_204_672_7;

/// `(nll, score)` per sample; the first `shifted` channels have mean `mean[n]`, the score leaves
/// them out. Sums in f64 (the shader's tree sum is at least as accurate as an f32 loop).
pub fn flow_nll(
    z: &[f32],
    logdet: &[f32],
    mean: &[f32],
    d: FlowDims,
    shifted: usize,
) -> (Vec<f32>, Vec<f32>) {
    let per_sample = d.channels * d.inner;
    let mut nll = vec![0.0; d.n];
    let mut score = vec![0.0; d.n];
    for n in 0..d.n {
        let (mut shifted_sq, mut kept_sq) = (0.0f64, 0.0f64);
        for e in 0..per_sample {
            let v = f64::from(z[n * per_sample + e]);
            if e / d.inner < shifted {
                shifted_sq += (v - f64::from(mean[n])).powi(2);
            } else {
                kept_sq += v * v;
            }
        }
        let kept = ((d.channels - shifted) * d.inner) as f64;
        let ld = f64::from(logdet[n]);
        nll[n] = (0.5 * (shifted_sq + kept_sq) + per_sample as f64 * HALF_LOG_2PI - ld) as f32;
        score[n] = (0.5 * kept_sq + kept * HALF_LOG_2PI - ld) as f32;
    }
    (nll, score)
}

/// `(grad_z, grad_logdet)` of `scale * sum_n nll[n]`.
pub fn flow_nll_backward(
    z: &[f32],
    mean: &[f32],
    d: FlowDims,
    shifted: usize,
    scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let per_sample = d.channels * d.inner;
    let grad_z = z
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (n, e) = (i / per_sample, i % per_sample);
            let mu = if e / d.inner < shifted { mean[n] } else { 0.0 };
            scale * (v - mu)
        })
        .collect();
    (grad_z, vec![-scale; d.n])
}
