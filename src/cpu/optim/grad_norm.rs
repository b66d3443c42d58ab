//! CPU twin of `shaders/optim/grad_norm.wgsl` (torch's `clip_grad_norm_` scale).

/// `(min(1, max_norm / (norm + 1e-6)), norm)` for the global L2 norm of `grads`.
pub fn clip_scale(grads: &[&[f32]], max_norm: f32) -> (f32, f32) {
    let total: f64 = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    let norm = total.sqrt() as f32;
    ((max_norm / (norm + 1e-6)).min(1.0), norm)
}
