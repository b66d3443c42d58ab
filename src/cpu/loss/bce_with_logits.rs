//! CPU twin of `shaders/loss/bce_with_logits.wgsl`.

/// Row means of `max(z, 0) - z y + log(1 + exp(-|z|))` over `[rows, cols]`, and their mean.
pub fn bce_with_logits(logits: &[f64], target: &[f64], cols: usize) -> (Vec<f64>, f64) {
    let rows: Vec<f64> = logits
        .chunks(cols)
        .zip(target.chunks(cols))
        .map(|(z, y)| {
            z.iter()
                .zip(y)
                .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
                .sum::<f64>()
                / cols as f64
        })
        .collect();
    let loss = super::loss_mean(&rows, 1.0 / rows.len() as f64);
    (rows, loss)
}

/// `upstream * (sigmoid(z) - y) / numel`.
pub fn bce_with_logits_backward(logits: &[f64], target: &[f64], upstream: f64) -> Vec<f64> {
    let scale = upstream / logits.len() as f64;
    logits
        .iter()
        .zip(target)
        .map(|(&z, &y)| scale * (1.0 / (1.0 + (-z).exp()) - y))
        .collect()
}
