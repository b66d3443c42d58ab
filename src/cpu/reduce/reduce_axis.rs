//! CPU twin of `shaders/reduce/reduce_axis.wgsl`.

use super::{strided_partials, tree};
use crate::params::reduce::{AxisView, ReduceOp, SERIAL_MAX_AXIS};

fn combine(op: ReduceOp, a: f32, b: f32) -> f32 {
    match op {
        ReduceOp::Max => a.max(b),
        ReduceOp::Sum | ReduceOp::Mean => a + b,
    }
}

fn finish(op: ReduceOp, r: f32, axis_len: usize) -> f32 {
    if op == ReduceOp::Mean {
        r / axis_len as f32
    } else {
        r
    }
}

/// Reduces `x` (row-major, viewed as `[outer, axis_len, inner]`) along the axis: `outer * inner`
/// values, row `o * inner + i`.
pub fn reduce_axis(op: ReduceOp, x: &[f32], view: AxisView) -> Vec<f32> {
    let AxisView {
        axis_len, inner, ..
    } = view;
    (0..view.rows())
        .map(|row| {
            let o = row / inner;
            let i = row % inner;
            let base = o * axis_len * inner + i;
            let init = if op == ReduceOp::Max { x[base] } else { 0.0 };
            if axis_len <= SERIAL_MAX_AXIS {
                // The `serial` entry point: one thread folds the whole row.
                let mut acc = init;
                for k in 0..axis_len {
                    acc = combine(op, acc, x[base + k * inner]);
                }
                return finish(op, acc, axis_len);
            }
            let partial = strided_partials(
                axis_len,
                init,
                |k| x[base + k * inner],
                |a, b| combine(op, a, b),
            );
            finish(op, tree(partial, |a, b| combine(op, a, b)), axis_len)
        })
        .collect()
}
