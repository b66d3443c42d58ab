//! CPU twin of `shaders/separation/mask_apply.wgsl` and `mask_apply_backward.wgsl`.

/// `out[b, s, i] = mask[b, s, i] * feats[b, i]` with `inner` elements per (b, s).
pub fn mask_apply(mask: &[f32], feats: &[f32], sources: usize, inner: usize) -> Vec<f32> {
    (0..mask.len())
        .map(|i| {
            let b = i / (sources * inner);
            mask[i] * feats[b * inner + i % inner]
        })
        .collect()
}

/// (grad_mask, grad_feats) of [`mask_apply`].
pub fn mask_apply_backward(
    grad: &[f32],
    mask: &[f32],
    feats: &[f32],
    sources: usize,
    inner: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut grad_mask = vec![0.0; mask.len()];
    let mut grad_feats = vec![0.0; feats.len()];
    for (i, (&g, &m)) in grad.iter().zip(mask).enumerate() {
        let j = i / (sources * inner) * inner + i % inner;
        grad_mask[i] = g * feats[j];
        grad_feats[j] += g * m;
    }
    (grad_mask, grad_feats)
}
