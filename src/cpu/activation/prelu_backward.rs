//! CPU twin of `shaders/activation/prelu_backward.wgsl`, plus an f64 PReLU forward for
//! finite differences.

/// PReLU forward on `[outer, channels, inner]` with `weight.len()` slopes (1 or `channels`).
pub fn prelu(x: &[f64], weight: &[f64], channels: usize, inner: usize) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = if weight.len() == 1 {
                0
            } else {
                (i / inner) % channels
            };
            if v >= 0.0 {
                v
            } else {
                weight[c] * v
            }
        })
        .collect()
}

/// `(grad_in, grad_weight)` of [`prelu`] (torch's convention: the slope applies where x <= 0).
pub fn prelu_backward(
    x: &[f64],
    weight: &[f64],
    grad_out: &[f64],
    channels: usize,
    inner: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut grad_in = vec![0.0; x.len()];
    let mut grad_w = vec![0.0; weight.len()];
    for (i, (&v, &g)) in x.iter().zip(grad_out).enumerate() {
        let c = if weight.len() == 1 {
            0
        } else {
            (i / inner) % channels
        };
        if v > 0.0 {
            grad_in[i] = g;
        } else {
            grad_in[i] = weight[c] * g;
            grad_w[c] += v * g;
        }
    }
    (grad_in, grad_w)
}
