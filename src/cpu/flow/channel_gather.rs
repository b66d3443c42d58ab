//! CPU twin of `shaders/flow/channel_gather.wgsl`.

use super::FlowDims;

/// `out[n, j, p] = x[n, index[j], p]` for `x` with dims `d`; out has `index.len()` channels.
pub fn channel_gather(x: &[f32], d: FlowDims, index: &[usize]) -> Vec<f32> {
    let k = index.len();
    let mut out = vec![0.0; d.n * k * d.inner];
    for n in 0..d.n {
        for (j, &c) in index.iter().enumerate() {
            for p in 0..d.inner {
                out[(n * k + j) * d.inner + p] = x[(n * d.channels + c) * d.inner + p];
            }
        }
    }
    out
}

/// `out[n, index[j], p] += x[n, j, p]` for `out` with dims `d`; x has `index.len()` channels.
pub fn channel_scatter_add(x: &[f32], out: &mut [f32], d: FlowDims, index: &[usize]) {
    let k = index.len();
    for n in 0..d.n {
        for (j, &c) in index.iter().enumerate() {
            for p in 0..d.inner {
                out[(n * d.channels + c) * d.inner + p] += x[(n * k + j) * d.inner + p];
            }
        }
    }
}
