//! Launchers for `shaders/reduce/stats_pool.wgsl` and its backward: x-vector statistics pooling,
//! `[batch, channels, len]` -> `[batch, 2 * channels]` (per-channel means over time, then standard
//! deviations), one workgroup per channel of an item forward, one thread per element backward.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/common/stats_pool_params.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct StatsPoolParams {
    rows: u32,
    channels: u32,
    len: u32,
    eps: f32,
}

/// The variance floor inside the square root (x-vector implementations use 1e-5..1e-9; 1e-5
/// keeps the backward's `1 / std` below ~316 on a constant channel).
pub const STATS_POOL_EPS: f32 = 1e-5;

/// Threads per workgroup of the backward (`WG` in the shader).
const WORKGROUP: u32 = 256;

static FORWARD: Kernel = Kernel {
    name: "stats_pool",
    shader: Shader::ReduceStatsPool,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

static BACKWARD: Kernel = Kernel {
    name: "stats_pool_backward",
    shader: Shader::ReduceStatsPoolBackward,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Checks `x` `[batch, channels, len]` (none empty) against `stats` `[batch, 2 * channels]`.
fn check(kernel: &'static str, x: &Tensor, stats: &Tensor, eps: f32) -> Result<StatsPoolParams> {
    for t in [x, stats] {
        t.expect_dtype(kernel, DType::F32)?;
    }
    let &[batch, channels, len] = x.shape() else {
        return Err(HarkError::shape(
            kernel,
            format!("x {:?} must be [batch, channels, len]", x.shape()),
        ));
    };
    if batch == 0 || channels == 0 || len == 0 {
        return Err(HarkError::invalid(
            kernel,
            format!("empty input {:?}", x.shape()),
        ));
    }
    if stats.shape() != [batch, 2 * channels] {
        return Err(HarkError::shape(
            kernel,
            format!(
                "stats {:?} must be [{batch}, {}] for x {:?}",
                stats.shape(),
                2 * channels,
                x.shape()
            ),
        ));
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(HarkError::invalid(
            kernel,
            format!("eps {eps} must be >= 0"),
        ));
    }
    to_u32(kernel, x.numel())?;
    // One workgroup per (item, channel) row: two strided passes, two 8-level trees.
    crate::kernels::check_loop_budget(
        kernel,
        2 * (len.div_ceil(256) + 8),
        &format!("rows of {len} values"),
    )?;
    Ok(StatsPoolParams {
        rows: to_u32(kernel, batch * channels)?,
        channels: to_u32(kernel, channels)?,
        len: to_u32(kernel, len)?,
        eps,
    })
}

/// Means over the last axis of `x` `[batch, channels, len]` into `out[:, :channels]` and
/// `sqrt(biased variance + eps)` into `out[:, channels..]` (`out` is `[batch, 2 * channels]`).
/// Errors: a rank other than 3 or an output of the wrong shape (`Shape`), an empty axis or a
/// negative eps (`InvalidArgument`).
pub fn stats_pool(rec: &mut Recorder, x: &Tensor, eps: f32, out: &Tensor) -> Result<()> {
    let params = check(FORWARD.name, x, out, eps)?;
    rec.dispatch(Launch {
        kernel: &FORWARD,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[x, out],
        // One workgroup per (item, channel); past 65535 grid_1d folds the grid into 2-D.
        workgroups: grid_1d(params.rows),
    })
}

/// Gradient of [`stats_pool`] with respect to `x`, from the forward's input `x`, its output
/// `stats` and the output gradient `grad_out` (shape of `stats`), into `grad_x` (shape of `x`).
pub fn stats_pool_backward(
    rec: &mut Recorder,
    x: &Tensor,
    stats: &Tensor,
    grad_out: &Tensor,
    grad_x: &Tensor,
) -> Result<()> {
    let params = check(BACKWARD.name, x, stats, 0.0)?;
    for t in [grad_out, grad_x] {
        t.expect_dtype(BACKWARD.name, DType::F32)?;
    }
    if grad_out.shape() != stats.shape() || grad_x.shape() != x.shape() {
        return Err(HarkError::shape(
            BACKWARD.name,
            format!(
                "grad_out {:?} must be {:?} and grad_x {:?} must be {:?}",
                grad_out.shape(),
                stats.shape(),
                grad_x.shape(),
                x.shape()
            ),
        ));
    }
    let n = params.rows * params.len;
    rec.dispatch(Launch::new(
        &BACKWARD,
        &params,
        &[x, stats, grad_out, grad_x],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [Shader::ReduceStatsPool, Shader::ReduceStatsPoolBackward] {
            assert_eq!(
                Some(std::mem::size_of::<StatsPoolParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params")
            );
        }
    }
}
