//! CPU twin of `shaders/softmax/softmax.wgsl`: the same three passes with the shader's strided
//! partials and trees, so that the max and the sum are formed in the same order.

use crate::cpu::reduce::{strided_partials, tree};
use crate::params::reduce::AxisView;

/// Softmax of `x` (row-major, viewed as `[outer, axis_len, inner]`) along the axis.
pub fn softmax(x: &[f32], view: AxisView) -> Vec<f32> {
    let AxisView {
        axis_len, inner, ..
    } = view;
    let mut out = vec![0.0; x.len()];
    for row in 0..view.rows() {
        let o = row / inner;
        let i = row % inner;
        let base = o * axis_len * inner + i;

        let partial = strided_partials(axis_len, x[base], |k| x[base + k * inner], f32::max);
        let row_max = tree(partial, f32::max);

        let partial = strided_partials(
            axis_len,
            0.0,
            |k| (x[base + k * inner] - row_max).exp(),
            |a, b| a + b,
        );
        let total = tree(partial, |a, b| a + b);

        for k in 0..axis_len {
            let j = base + k * inner;
            out[j] = (x[j] - row_max).exp() / total;
        }
    }
    out
}
