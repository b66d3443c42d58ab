//! CPU twin of `shaders/activation/softplus.wgsl`.

/// `log(1 + exp(beta x)) / beta`, or `x` where `beta x > threshold`.
pub fn softplus(x: &[f64], beta: f64, threshold: f64) -> Vec<f64> {
    x.iter()
        .map(|&v| {
            let z = beta * v;
            if z > threshold {
                v
            } else {
                (z.max(0.0) + (-z.abs()).exp().ln_1p()) / beta
            }
        })
        .collect()
}
