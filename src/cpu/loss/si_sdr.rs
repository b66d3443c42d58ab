//! CPU twin of `shaders/loss/si_sdr.wgsl`.

/// Per-row statistics: zero-mean estimate and target, `||s||^2 + eps`, alpha, `||s||^2`,
/// `||e - alpha s||^2 + eps`, `<e - alpha s, s>`.
struct Row {
    e: Vec<f64>,
    s: Vec<f64>,
    energy: f64,
    alpha: f64,
    target_energy: f64,
    noise: f64,
    noise_dot_s: f64,
}

fn row_stats(est: &[f64], tgt: &[f64], eps: f64) -> Row {
    let n = est.len() as f64;
    let (me, ms) = (est.iter().sum::<f64>() / n, tgt.iter().sum::<f64>() / n);
    let e: Vec<f64> = est.iter().map(|v| v - me).collect();
    let s: Vec<f64> = tgt.iter().map(|v| v - ms).collect();
    let dot: f64 = e.iter().zip(&s).map(|(a, b)| a * b).sum();
    let target_energy: f64 = s.iter().map(|v| v * v).sum();
    let energy = target_energy + eps;
    let alpha = dot / energy;
    let noise: f64 = e
        .iter()
        .zip(&s)
        .map(|(a, b)| (a - alpha * b).powi(2))
        .sum::<f64>()
        + eps;
    let noise_dot_s = e.iter().zip(&s).map(|(a, b)| (a - alpha * b) * b).sum();
    Row {
        e,
        s,
        energy,
        alpha,
        target_energy,
        noise,
        noise_dot_s,
    }
}

/// SI-SDR in dB per row of `[rows, samples]`, and the loss `-mean`.
pub fn si_sdr_loss(estimate: &[f64], target: &[f64], samples: usize, eps: f64) -> (Vec<f64>, f64) {
    let rows: Vec<f64> = estimate
        .chunks(samples)
        .zip(target.chunks(samples))
        .map(|(e, s)| {
            let r = row_stats(e, s, eps);
            let projected = r.alpha * r.alpha * r.target_energy;
            10.0 * (projected / r.noise + eps).log10()
        })
        .collect();
    let loss = super::loss_mean(&rows, -1.0 / rows.len() as f64);
    (rows, loss)
}

/// `upstream * d(-mean SI-SDR) / d estimate`.
pub fn si_sdr_loss_backward(
    estimate: &[f64],
    target: &[f64],
    samples: usize,
    eps: f64,
    upstream: f64,
) -> Vec<f64> {
    let scale = -upstream / (estimate.len() / samples) as f64;
    let mut grad = Vec::with_capacity(estimate.len());
    for (e, s) in estimate.chunks(samples).zip(target.chunks(samples)) {
        let r = row_stats(e, s, eps);
        let projected = r.alpha * r.alpha * r.target_energy;
        let ratio = projected / r.noise;
        let outer = scale * 10.0 / std::f64::consts::LN_10 / ((ratio + eps) * r.noise);
        grad.extend(r.e.iter().zip(&r.s).map(|(&ev, &sv)| {
            let d_projected = 2.0 * r.alpha * r.target_energy * sv / r.energy;
            let d_noise = 2.0 * (ev - r.alpha * sv) - 2.0 * r.noise_dot_s * sv / r.energy;
            outer * (d_projected - ratio * d_noise)
        }));
    }
    grad
}
