//! CPU references for the reduce kernels. They keep the shaders' structure (256 strided per-thread
//! partials, then a halving tree) so that GPU and CPU add in the same order.

mod mean_var;
mod reduce_axis;
mod stats_pool;

pub use mean_var::mean_var;
pub use reduce_axis::reduce_axis;
pub use stats_pool::{stats_pool, stats_pool_backward};

/// Threads per workgroup in the reduce and softmax shaders (`WG` there).
pub(crate) const WG: usize = 256;

/// Per-thread partials of one row: thread `t` folds elements `t, t + WG, ...` of the row into
/// `init` with `combine`, as the shaders' strided loop does.
pub(crate) fn strided_partials(
    axis_len: usize,
    init: f32,
    mut value: impl FnMut(usize) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> Vec<f32> {
    (0..WG)
        .map(|t| {
            let mut acc = init;
            let mut k = t;
            while k < axis_len {
                acc = combine(acc, value(k));
                k += WG;
            }
            acc
        })
        .collect()
}

/// The shaders' workgroup tree: halve the active threads, each combining its partial with the one
/// `stride` above, until `partial[0]` holds the result.
pub(crate) fn tree(mut partial: Vec<f32>, combine: impl Fn(f32, f32) -> f32) -> f32 {
    let mut stride = WG / 2;
    while stride > 0 {
        for t in 0..stride {
            partial[t] = combine(partial[t], partial[t + stride]);
        }
        stride /= 2;
    }
    partial[0]
}
