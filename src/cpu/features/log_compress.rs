//! CPU twin of `shaders/features/log_compress.wgsl`.

use crate::params::features::LogKind;

/// `10 log10(max(x, eps))` or `ln(max(x, eps))` elementwise.
pub fn log_compress(kind: LogKind, x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| match kind {
            LogKind::Decibel { eps } => 10.0 * v.max(eps).log10(),
            LogKind::Natural { eps } => v.max(eps).ln(),
        })
        .collect()
}
