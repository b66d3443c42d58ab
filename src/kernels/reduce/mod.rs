//! Reductions along one axis of a tensor of any rank: sum, mean and max ([`reduce_axis`]), and
//! mean with biased variance ([`mean_var`]) for normalisation layers, and x-vector statistics
//! pooling ([`stats_pool`], with its backward). The input is viewed as
//! `[outer, axis_len, inner]`; each output element reduces one strided run of `axis_len` values.

mod mean_var;
mod reduce_axis;
mod stats_pool;

pub use mean_var::mean_var;
pub use reduce_axis::{max, mean, reduce_axis, sum, ReduceOp};
pub use stats_pool::{stats_pool, stats_pool_backward, STATS_POOL_EPS};

use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

pub use crate::params::reduce::AxisView;

/// Checks that `out` holds one value per row (the input's shape with the axis removed or kept
/// as 1: only the element count matters) and returns the view's sizes as `u32`.
pub(crate) fn check_reduction(
    kernel: &'static str,
    x: &Tensor,
    view: &AxisView,
    out: &Tensor,
) -> Result<(u32, u32, u32)> {
    if out.numel() != view.rows() {
        return Err(HarkError::shape(
            kernel,
            format!(
                "x {:?} reduced to {} values but out {:?} holds {}",
                x.shape(),
                view.rows(),
                out.shape(),
                out.numel()
            ),
        ));
    }
    let too_large = || HarkError::invalid(kernel, "over 2^32 elements");
    u32::try_from(x.numel()).map_err(|_| too_large())?;
    // Each is at most numel, which fits.
    Ok((
        view.rows() as u32,
        view.axis_len as u32,
        view.inner.max(1) as u32,
    ))
}
