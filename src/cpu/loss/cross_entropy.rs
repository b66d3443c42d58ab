//! CPU twin of `shaders/loss/cross_entropy.wgsl`.

/// `(max, sum exp(z - max), sum y, sum y z)` of one row.
fn row_stats(z: &[f64], y: &[f64]) -> (f64, f64, f64, f64) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = z.iter().map(|v| (v - m).exp()).sum();
    let sy = y.iter().sum();
    let syz = z.iter().zip(y).map(|(a, b)| a * b).sum();
    (m, e, sy, syz)
}

/// Per-row `-sum_c y_c log_softmax(z)_c` over `[rows, classes]`, and their mean.
pub fn cross_entropy(logits: &[f64], target: &[f64], classes: usize) -> (Vec<f64>, f64) {
    let rows: Vec<f64> = logits
        .chunks(classes)
        .zip(target.chunks(classes))
        .map(|(z, y)| {
            let (m, e, sy, syz) = row_stats(z, y);
            (m + e.ln()) * sy - syz
        })
        .collect();
    let loss = super::loss_mean(&rows, 1.0 / rows.len() as f64);
    (rows, loss)
}

/// `upstream * (softmax(z) sum_c y_c - y) / rows`.
pub fn cross_entropy_backward(
    logits: &[f64],
    target: &[f64],
    classes: usize,
    upstream: f64,
) -> Vec<f64> {
    let scale = upstream / (logits.len() / classes) as f64;
    let mut grad = Vec::with_capacity(logits.len());
    for (z, y) in logits.chunks(classes).zip(target.chunks(classes)) {
        let (m, e, sy, _) = row_stats(z, y);
        grad.extend(
            z.iter()
                .zip(y)
                .map(|(v, t)| scale * ((v - m).exp() / e * sy - t)),
        );
    }
    grad
}
