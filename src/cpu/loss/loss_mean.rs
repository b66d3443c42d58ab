//! CPU twin of `shaders/loss/loss_mean.wgsl`.

/// `scale * sum(row_values)`.
pub fn loss_mean(row_values: &[f64], scale: f64) -> f64 {
    scale * row_values.iter().sum::<f64>()
}
