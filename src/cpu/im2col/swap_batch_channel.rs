//! CPU twin of `shaders/im2col/swap_batch_channel.wgsl`.

/// `x` `[a, b, p]` -> `[b, a, p]`.
pub fn swap_batch_channel(x: &[f32], (a, b, p): (usize, usize, usize)) -> Vec<f32> {
    let mut out = Vec::with_capacity(a * b * p);
    for bi in 0..b {
        for ai in 0..a {
            out.extend_from_slice(&x[(ai * b + bi) * p..][..p]);
        }
    }
    out
}
