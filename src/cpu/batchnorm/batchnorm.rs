//! CPU twin of `shaders/batchnorm/batchnorm*.wgsl`, in f64 (also the function that finite-
//! difference checks differentiate).

/// Forward in training mode over `[n, c, l]`: returns (y, mean, rstd, new running mean, new
/// running var).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn batchnorm_train(
    x: &[f64],
    n: usize,
    c: usize,
    l: usize,
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    eps: f64,
    momentum: f64,
    relu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let idx = |i: usize, ch: usize, k: usize| (i * c + ch) * l + k;
    let count = (n * l) as f64;
    let mut y = vec![0.0; x.len()];
    let (mut means, mut rstds) = (vec![0.0; c], vec![0.0; c]);
    let (mut rm, mut rv) = (running_mean.to_vec(), running_var.to_vec());
    for ch in 0..c {
        let values: Vec<f64> = (0..n)
            .flat_map(|i| (0..l).map(move |k| (i, k)))
            .map(|(i, k)| x[idx(i, ch, k)])
            .collect();
        let mean = values.iter().sum::<f64>() / count;
        let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let rstd = 1.0 / (squares / count + eps).sqrt();
        rm[ch] = (1.0 - momentum) * rm[ch] + momentum * mean;
        rv[ch] = (1.0 - momentum) * rv[ch] + momentum * squares / (count - 1.0).max(1.0);
        means[ch] = mean;
        rstds[ch] = rstd;
        for i in 0..n {
            for k in 0..l {
                let v = gamma[ch] * (x[idx(i, ch, k)] - mean) * rstd + beta[ch];
                y[idx(i, ch, k)] = if relu { v.max(0.0) } else { v };
            }
        }
    }
    (y, means, rstds, rm, rv)
}

/// Forward in eval mode (running statistics normalise).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_eval(
    x: &[f64],
    n: usize,
    c: usize,
    l: usize,
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    eps: f64,
    relu: bool,
) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for i in 0..n {
        for ch in 0..c {
            let rstd = 1.0 / (running_var[ch] + eps).sqrt();
            for k in 0..l {
                let j = (i * c + ch) * l + k;
                let v = gamma[ch] * (x[j] - running_mean[ch]) * rstd + beta[ch];
                y[j] = if relu { v.max(0.0) } else { v };
            }
        }
    }
    y
}

/// Backward of the training-mode forward: (dx, dgamma, dbeta).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f64],
    y: &[f64],
    dy: &[f64],
    n: usize,
    c: usize,
    l: usize,
    gamma: &[f64],
    mean: &[f64],
    rstd: &[f64],
    relu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let idx = |i: usize, ch: usize, k: usize| (i * c + ch) * l + k;
    let count = (n * l) as f64;
    let mut dx = vec![0.0; x.len()];
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    let masked = |j: usize| if relu && y[j] <= 0.0 { 0.0 } else { dy[j] };
    for ch in 0..c {
        for i in 0..n {
            for k in 0..l {
                let j = idx(i, ch, k);
                dbeta[ch] += masked(j);
                dgamma[ch] += masked(j) * (x[j] - mean[ch]) * rstd[ch];
            }
        }
        let scale = gamma[ch] * rstd[ch] / count;
        for i in 0..n {
            for k in 0..l {
                let j = idx(i, ch, k);
                let xhat = (x[j] - mean[ch]) * rstd[ch];
                dx[j] = scale * (count * masked(j) - dbeta[ch] - xhat * dgamma[ch]);
            }
        }
    }
    (dx, dgamma, dbeta)
}
