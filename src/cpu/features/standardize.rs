//! CPU twin of `shaders/features/standardize.wgsl`.

/// Each row of `[rows, len]` to `(x - mean) / max(std, floor)` (biased std, two passes).
pub fn standardize(x: &[f32], len: usize, floor: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(len) {
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / len as f64;
        let inv = 1.0 / var.sqrt().max(f64::from(floor));
        out.extend(row.iter().map(|&v| ((f64::from(v) - mean) * inv) as f32));
    }
    out
}
