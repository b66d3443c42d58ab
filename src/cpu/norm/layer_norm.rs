//! CPU twin of `shaders/norm/layer_norm.wgsl`, in f64 throughout (precise enough to be the
//! reference of finite-difference checks).

/// `[outer, axis_len, inner]` LayerNorm: `(out, mean, rstd)`, mean and rstd per line in
/// `[outer, inner]` order. Empty `weight`/`bias` mean none.
pub fn layer_norm(
    x: &[f64],
    (outer, axis_len, inner): (usize, usize, usize),
    eps: f64,
    weight: &[f64],
    bias: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; x.len()];
    let mut means = vec![0.0; outer * inner];
    let mut rstds = vec![0.0; outer * inner];
    for line in 0..outer * inner {
        let idx = |a: usize| ((line / inner) * axis_len + a) * inner + line % inner;
        let n = axis_len as f64;
        let mean = (0..axis_len).map(|a| x[idx(a)]).sum::<f64>() / n;
        let var = (0..axis_len)
            .map(|a| (x[idx(a)] - mean).powi(2))
            .sum::<f64>()
            / n;
        let rstd = 1.0 / (var + eps).sqrt();
        for a in 0..axis_len {
            let mut y = (x[idx(a)] - mean) * rstd;
            if !weight.is_empty() {
                y *= weight[a];
            }
            if !bias.is_empty() {
                y += bias[a];
            }
            out[idx(a)] = y;
        }
        means[line] = mean;
        rstds[line] = rstd;
    }
    (out, means, rstds)
}

/// Backward of [`layer_norm`] from the saved `mean`/`rstd`: `(grad_in, grad_weight, grad_bias)`.
pub fn layer_norm_backward(
    x: &[f64],
    grad_out: &[f64],
    (outer, axis_len, inner): (usize, usize, usize),
    weight: &[f64],
    mean: &[f64],
    rstd: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut grad_in = vec![0.0; x.len()];
    let mut grad_w = vec![0.0; axis_len];
    let mut grad_b = vec![0.0; axis_len];
    for line in 0..outer * inner {
        let idx = |a: usize| ((line / inner) * axis_len + a) * inner + line % inner;
        let (m, r) = (mean[line], rstd[line]);
        let xhat = |a: usize| (x[idx(a)] - m) * r;
        let gw = |a: usize| grad_out[idx(a)] * weight.get(a).copied().unwrap_or(1.0);
        let n = axis_len as f64;
        let mean_gw = (0..axis_len).map(gw).sum::<f64>() / n;
        let mean_gwx = (0..axis_len).map(|a| gw(a) * xhat(a)).sum::<f64>() / n;
        for a in 0..axis_len {
            grad_in[idx(a)] = r * (gw(a) - mean_gw - xhat(a) * mean_gwx);
            grad_w[a] += grad_out[idx(a)] * xhat(a);
            grad_b[a] += grad_out[idx(a)];
        }
    }
    (grad_in, grad_w, grad_b)
}
