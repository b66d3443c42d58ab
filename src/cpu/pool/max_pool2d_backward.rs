//! CPU twin of `shaders/pool/max_pool2d_backward.wgsl`, written as the scatter it replaces (each
//! output adds its gradient to its saved argmax), so the GPU's gather is checked against the
//! direct definition.

/// Gradient of max pooling: `grad_input` of `planes` planes of `h x w` from `grad_out` and the
/// saved `indices` (flat positions within each plane), `out_plane = OH * OW` per plane.
pub fn max_pool2d_backward(
    grad_out: &[f32],
    indices: &[u32],
    planes: usize,
    (h, w): (usize, usize),
    out_plane: usize,
) -> Vec<f32> {
    let mut grad = vec![0f64; planes * h * w];
    for plane in 0..planes {
        for o in 0..out_plane {
            let k = plane * out_plane + o;
            grad[plane * h * w + indices[k] as usize] += f64::from(grad_out[k]);
        }
    }
    grad.into_iter().map(|v| v as f32).collect()
}
