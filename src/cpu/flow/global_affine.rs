//! CPU twin of `shaders/flow/global_affine.wgsl`.

use super::FlowDims;

const BETA: f32 = 0.5;
const THRESHOLD: f32 = 20.0;
const SCALE_FACTOR: f32 = 0.1;

/// `0.1 softplus_{beta=0.5}(v)` with torch's threshold.
pub fn scale_of(v: f32) -> f32 {
    let z = BETA * v;
    if z > THRESHOLD {
        return SCALE_FACTOR * v;
    }
    SCALE_FACTOR * (z.max(0.0) + (-z.abs()).exp().ln_1p()) / BETA
}

fn scale_derivative(v: f32) -> f32 {
    let z = BETA * v;
    if z > THRESHOLD {
        return SCALE_FACTOR;
    }
    SCALE_FACTOR / (1.0 + (-z).exp())
}

fn transform(x: &[f32], g: &[f32], offset: &[f32], d: FlowDims, sign: f32) -> (Vec<f32>, Vec<f32>) {
    let per_sample = d.channels * d.inner;
    let mut out = vec![0.0; d.numel()];
    let mut logdet = vec![0.0; d.n];
    for (n, total) in logdet.iter_mut().enumerate() {
        let mut sum = 0.0;
        for e in 0..per_sample {
            let c = e / d.inner;
            let i = n * per_sample + e;
            let scale = scale_of(g[c]);
            out[i] = if sign > 0.0 {
                x[i] * scale + offset[c]
            } else {
                (x[i] - offset[c]) / scale
            };
            sum += scale.ln();
        }
        *total = sign * sum;
    }
    (out, logdet)
}

/// `(out, logdet)`: `out = x scale_c + offset_c`, `logdet[n] = P sum_c log scale_c`.
pub fn global_affine_forward(
    x: &[f32],
    g: &[f32],
    offset: &[f32],
    d: FlowDims,
) -> (Vec<f32>, Vec<f32>) {
    transform(x, g, offset, d, 1.0)
}

/// `(out, logdet)`: `out = (y - offset_c) / scale_c`, `logdet[n] = -P sum_c log scale_c`.
pub fn global_affine_inverse(
    y: &[f32],
    g: &[f32],
    offset: &[f32],
    d: FlowDims,
) -> (Vec<f32>, Vec<f32>) {
    transform(y, g, offset, d, -1.0)
}

/// Gradients of the global affine w.r.t. its input and parameters.
pub struct GlobalAffineGrads {
    pub grad_x: Vec<f32>,
    pub grad_g: Vec<f32>,
    pub grad_offset: Vec<f32>,
}

/// Backward of [`global_affine_forward`] at `x`.
pub fn global_affine_backward(
    x: &[f32],
    g: &[f32],
    grad_out: &[f32],
    grad_logdet: &[f32],
    d: FlowDims,
) -> GlobalAffineGrads {
    let mut grad_x = vec![0.0; d.numel()];
    let mut grad_g = vec![0.0; d.channels];
    let mut grad_offset = vec![0.0; d.channels];
    for c in 0..d.channels {
        let scale = scale_of(g[c]);
        let (mut sum_go, mut sum_gox, mut sum_gld) = (0.0f32, 0.0f32, 0.0f32);
        for e in 0..d.n * d.inner {
            let n = e / d.inner;
            let i = (n * d.channels + c) * d.inner + e % d.inner;
            let go = grad_out[i];
            grad_x[i] = go * scale;
            sum_go += go;
            sum_gox += go * x[i];
            sum_gld += grad_logdet[n];
        }
        grad_offset[c] = sum_go;
        grad_g[c] = (sum_gox + sum_gld / scale) * scale_derivative(g[c]);
    }
    GlobalAffineGrads {
        grad_x,
        grad_g,
        grad_offset,
    }
}
