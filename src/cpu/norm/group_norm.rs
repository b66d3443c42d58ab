//! CPU twin of `shaders/norm/group_norm.wgsl`, in f64 throughout (precise enough to be the
//! reference of finite-difference checks).

/// `[batch, channels, spatial]` GroupNorm with `groups` groups: `(out, mean, rstd)`, mean and
/// rstd per (sample, group). Empty `weight`/`bias` mean none.
pub fn group_norm(
    x: &[f64],
    (batch, channels, spatial): (usize, usize, usize),
    groups: usize,
    eps: f64,
    weight: &[f64],
    bias: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let per_group = channels / groups;
    let len = per_group * spatial;
    let mut out = vec![0.0; x.len()];
    let mut means = vec![0.0; batch * groups];
    let mut rstds = vec![0.0; batch * groups];
    for block in 0..batch * groups {
        let xs = &x[block * len..(block + 1) * len];
        let mean = xs.iter().sum::<f64>() / len as f64;
        let var = xs.iter().map(|&v| (v - mean).powi(2)).sum::<f64>() / len as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for (k, &v) in xs.iter().enumerate() {
            let c = (block % groups) * per_group + k / spatial;
            let mut y = (v - mean) * rstd;
            if !weight.is_empty() {
                y *= weight[c];
            }
            if !bias.is_empty() {
                y += bias[c];
            }
            out[block * len + k] = y;
        }
        means[block] = mean;
        rstds[block] = rstd;
    }
    (out, means, rstds)
}

/// Backward of [`group_norm`] from the saved `mean`/`rstd`: `(grad_in, grad_weight, grad_bias)`.
#[allow(clippy::too_many_arguments)] // Mirrors the shader's bindings and sizes.
pub fn group_norm_backward(
    x: &[f64],
    grad_out: &[f64],
    (batch, channels, spatial): (usize, usize, usize),
    groups: usize,
    weight: &[f64],
    mean: &[f64],
    rstd: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let per_group = channels / groups;
    let len = per_group * spatial;
    let mut grad_in = vec![0.0; x.len()];
    let mut grad_w = vec![0.0; channels];
    let mut grad_b = vec![0.0; channels];
    for block in 0..batch * groups {
        let (m, r) = (mean[block], rstd[block]);
        let channel = |k: usize| (block % groups) * per_group + k / spatial;
        let xhat = |k: usize| (x[block * len + k] - m) * r;
        let gw =
            |k: usize| grad_out[block * len + k] * weight.get(channel(k)).copied().unwrap_or(1.0);
        let mean_gw = (0..len).map(gw).sum::<f64>() / len as f64;
        let mean_gwx = (0..len).map(|k| gw(k) * xhat(k)).sum::<f64>() / len as f64;
        for k in 0..len {
            grad_in[block * len + k] = r * (gw(k) - mean_gw - xhat(k) * mean_gwx);
            grad_w[channel(k)] += grad_out[block * len + k] * xhat(k);
            grad_b[channel(k)] += grad_out[block * len + k];
        }
    }
    (grad_in, grad_w, grad_b)
}
