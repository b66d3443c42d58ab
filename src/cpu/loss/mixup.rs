//! CPU twin of `shaders/loss/mixup.wgsl`.

use crate::params::loss::MixupMode;

/// Each sample of `[batch, features]` mixed with sample `batch - 1 - b`; `lambda` holds 1 or
/// `batch` values.
pub fn mixup(mode: MixupMode, x: &[f32], batch: usize, lambda: &[f32]) -> Vec<f32> {
    let features = x.len() / batch;
    (0..x.len())
        .map(|i| {
            let b = i / features;
            let l = if lambda.len() == 1 {
                lambda[0]
            } else {
                lambda[b]
            };
            let own = l * x[i];
            let other = (1.0 - l) * x[(batch - 1 - b) * features + i % features];
            match mode {
                MixupMode::Linear => own + other,
                MixupMode::Max => own.max(other),
            }
        })
        .collect()
}
