//! CPU twin of `shaders/reduce/stats_pool.wgsl` (the same shifted mean and corrected two-pass
//! variance, with the shader's strided partials and tree) and of `stats_pool_backward.wgsl`.

use super::{strided_partials, tree};

/// `[batch, 2 * channels]`: each channel's mean over the `len` values of `x`
/// (`[batch, channels, len]`, row-major), then each channel's `sqrt(biased variance + eps)`.
pub fn stats_pool(x: &[f32], batch: usize, channels: usize, len: usize, eps: f32) -> Vec<f32> {
    let n = len as f32;
    let add = |a: f32, b: f32| a + b;
    let mut out = vec![0.0; batch * 2 * channels];
    for row in 0..batch * channels {
        let base = row * len;
        let shift = x[base];
        let mean = shift
            + tree(
                strided_partials(len, 0.0, |k| x[base + k] - shift, add),
                add,
            ) / n;
        let dev = |k: usize| x[base + k] - mean;
        let sum_d = tree(strided_partials(len, 0.0, dev, add), add);
        let sum_d2 = tree(
            strided_partials(
                len,
                0.0,
                |k| {
                    let d = dev(k);
                    d * d
                },
                add,
            ),
            add,
        );
        let variance = ((sum_d2 - sum_d * sum_d / n) / n).max(0.0);
        let at = (row / channels) * 2 * channels + row % channels;
        out[at] = mean;
        out[at + channels] = (variance + eps).sqrt();
    }
    out
}

/// Gradient of [`stats_pool`] with respect to `x`, from `x`, the forward's `stats` and
/// `grad_out` (both `[batch, 2 * channels]`).
pub fn stats_pool_backward(
    x: &[f32],
    stats: &[f32],
    grad_out: &[f32],
    batch: usize,
    channels: usize,
    len: usize,
) -> Vec<f32> {
    let n = len as f32;
    (0..batch * channels * len)
        .map(|i| {
            let row = i / len;
            let at = (row / channels) * 2 * channels + row % channels;
            let (mean, std) = (stats[at], stats[at + channels]);
            grad_out[at] / n + grad_out[at + channels] * (x[i] - mean) / (n * std)
        })
        .collect()
}
