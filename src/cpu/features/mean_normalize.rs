//! CPU twin of `shaders/features/mean_normalize.wgsl`.

/// Subtracts each bin's mean over the frames; `x` is `[batch, frames, bins]`.
pub fn mean_normalize(x: &[f32], batch: usize, frames: usize, bins: usize) -> Vec<f32> {
    let mut out = x.to_vec();
    for b in 0..batch {
        for f in 0..bins {
            let base = b * frames * bins + f;
            let sum: f32 = (0..frames).map(|t| x[base + t * bins]).sum();
            let mean = sum / frames as f32;
            for t in 0..frames {
                out[base + t * bins] = x[base + t * bins] - mean;
            }
        }
    }
    out
}
