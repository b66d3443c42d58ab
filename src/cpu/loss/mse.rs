//! CPU twin of `shaders/loss/mse.wgsl`.

/// Per-row mean squared error over rows of `cols` values.
pub fn mse_rows(p: &[f32], t: &[f32], cols: usize) -> Vec<f32> {
    p.chunks_exact(cols)
        .zip(t.chunks_exact(cols))
        .map(|(pr, tr)| {
            let sum: f32 = pr.iter().zip(tr).map(|(a, b)| (a - b) * (a - b)).sum();
            sum / cols as f32
        })
        .collect()
}

/// `scale * 2 (p - t) / numel`.
pub fn mse_backward(p: &[f32], t: &[f32], scale: f32) -> Vec<f32> {
    let n = p.len() as f32;
    p.iter()
        .zip(t)
        .map(|(a, b)| scale * 2.0 * (a - b) / n)
        .collect()
}
