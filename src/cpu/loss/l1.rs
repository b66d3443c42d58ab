//! CPU twin of `shaders/loss/l1.wgsl`.

/// Row means of `|pred - target|` over `[rows, cols]`, and their mean.
pub fn l1_loss(pred: &[f64], target: &[f64], cols: usize) -> (Vec<f64>, f64) {
    let rows: Vec<f64> = pred
        .chunks(cols)
        .zip(target.chunks(cols))
        .map(|(p, t)| p.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f64>() / cols as f64)
        .collect();
    let loss = super::loss_mean(&rows, 1.0 / rows.len() as f64);
    (rows, loss)
}

/// `upstream * sign(pred - target) / numel`, 0 where they are equal.
pub fn l1_loss_backward(pred: &[f64], target: &[f64], upstream: f64) -> Vec<f64> {
    let scale = upstream / pred.len() as f64;
    pred.iter()
        .zip(target)
        .map(|(p, t)| {
            let d = p - t;
            if d == 0.0 {
                0.0
            } else {
                scale * d.signum()
            }
        })
        .collect()
}
