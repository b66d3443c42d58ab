//! CPU twin of `shaders/elementwise/prelu.wgsl`.

use crate::params::elementwise::prelu_layout;

/// PReLU of `x` (row-major, of shape `shape`) with one slope per channel or one shared slope.
pub fn prelu(x: &[f32], shape: &[usize], weight: &[f32]) -> Vec<f32> {
    let (_, inner) = prelu_layout(shape);
    let inner = inner.max(1);
    let channels = weight.len();
    (0..x.len())
        .map(|i| {
            let c = (i / inner) % channels;
            let v = x[i];
            if v >= 0.0 {
                v
            } else {
                weight[c] * v
            }
        })
        .collect()
}
