//! CPU twin of `shaders/flow/coupling.wgsl`.

use super::FlowDims;

/// FrEIA scales the whole subnet output by 0.1 before the affine coupling.
const A_SCALE: f32 = 0.1;

fn scale_index(d: FlowDims, n: usize, j: usize, p: usize) -> usize {
    let c2 = d.channels / 2;
    (n * 2 * c2 + j) * d.inner + p
}

fn shift_index(d: FlowDims, n: usize, j: usize, p: usize) -> usize {
    let c2 = d.channels / 2;
    (n * 2 * c2 + c2 + j) * d.inner + p
}

fn couple(x: &[f32], a: &[f32], d: FlowDims, clamp: f32, sign: f32) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![0.0; d.numel()];
    let mut logdet = vec![0.0; d.n];
    let per_sample = d.channels * d.inner;
    for (n, total) in logdet.iter_mut().enumerate() {
        let mut sum = 0.0;
        for e in 0..per_sample {
            let (c, p) = (e / d.inner, e % d.inner);
            let i = n * per_sample + e;
            if c < d.split() {
                out[i] = x[i];
            } else {
                let j = c - d.split();
                let s = clamp * (A_SCALE * a[scale_index(d, n, j, p)]).tanh();
                let t = A_SCALE * a[shift_index(d, n, j, p)];
                out[i] = if sign > 0.0 {
                    x[i] * s.exp() + t
                } else {
                    (x[i] - t) * (-s).exp()
                };
                sum += s;
            }
        }
        *total = sign * sum;
    }
    (out, logdet)
}

/// `(out, logdet)`: `out = [x1, x2 exp(s) + 0.1 a_t]`, `logdet[n] = sum s`.
pub fn coupling_forward(x: &[f32], a: &[f32], d: FlowDims, clamp: f32) -> (Vec<f32>, Vec<f32>) {
    couple(x, a, d, clamp, 1.0)
}

/// `(out, logdet)`: `out = [y1, (y2 - 0.1 a_t) exp(-s)]`, `logdet[n] = -sum s`.
pub fn coupling_inverse(y: &[f32], a: &[f32], d: FlowDims, clamp: f32) -> (Vec<f32>, Vec<f32>) {
    couple(y, a, d, clamp, -1.0)
}

/// Gradients of the coupling w.r.t. its input and the subnet output.
pub struct CouplingGrads {
    pub grad_x: Vec<f32>,
    pub grad_a: Vec<f32>,
}

/// Backward of [`coupling_forward`] given `grad_out` and the per-sample `grad_logdet`.
pub fn coupling_backward(
    x: &[f32],
    a: &[f32],
    grad_out: &[f32],
    grad_logdet: &[f32],
    d: FlowDims,
    clamp: f32,
) -> CouplingGrads {
    let mut grad_x = vec![0.0; d.numel()];
    let mut grad_a = vec![0.0; a.len()];
    let per_sample = d.channels * d.inner;
    for (i, gx) in grad_x.iter_mut().enumerate() {
        let n = i / per_sample;
        let c = (i % per_sample) / d.inner;
        let p = i % d.inner;
        let g = grad_out[i];
        if c < d.split() {
            *gx = g;
            continue;
        }
        let j = c - d.split();
        let si = scale_index(d, n, j, p);
        let th = (A_SCALE * a[si]).tanh();
        let es = (clamp * th).exp();
        *gx = g * es;
        grad_a[shift_index(d, n, j, p)] = A_SCALE * g;
        let grad_s = g * x[i] * es + grad_logdet[n];
        grad_a[si] = grad_s * clamp * (1.0 - th * th) * A_SCALE;
    }
    CouplingGrads { grad_x, grad_a }
}
