//! CPU twin of `shaders/reduce/mean_var.wgsl`: the same shifted mean, then the corrected
//! two-pass variance, with the same strided partials and tree.

use super::{strided_partials, tree};
use crate::params::reduce::AxisView;

/// `(mean, biased variance)` of `x` (row-major, viewed as `[outer, axis_len, inner]`) along the
/// axis, `outer * inner` values each.
pub fn mean_var(x: &[f32], view: AxisView) -> (Vec<f32>, Vec<f32>) {
    let AxisView {
        axis_len, inner, ..
    } = view;
    let n = axis_len as f32;
    let add = |a: f32, b: f32| a + b;
    let mut means = Vec::with_capacity(view.rows());
    let mut vars = Vec::with_capacity(view.rows());
    for row in 0..view.rows() {
        let o = row / inner;
        let i = row % inner;
        let base = o * axis_len * inner + i;

        let shift = x[base];
        let partial = strided_partials(axis_len, 0.0, |k| x[base + k * inner] - shift, add);
        let mean = shift + tree(partial, add) / n;

        // The shader carries (sum d, sum d^2) as one vec2 through its tree; the two components
        // never mix, so two scalar trees add in the same order.
        let dev = |k: usize| x[base + k * inner] - mean;
        let sum_d = tree(strided_partials(axis_len, 0.0, dev, add), add);
        let sum_d2 = tree(
            strided_partials(
                axis_len,
                0.0,
                |k| {
                    let d = dev(k);
                    d * d
                },
                add,
            ),
            add,
        );
        means.push(mean);
        vars.push(((sum_d2 - sum_d * sum_d / n) / n).max(0.0));
    }
    (means, vars)
}
