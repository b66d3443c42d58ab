//! Launcher for `shaders/loss/loss_mean.wgsl`: the last stage of every loss's forward.

use super::LossParams;
use crate::error::{HarkError, Result};
use crate::runtime::{Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "loss_mean",
    shader: Shader::LossMean,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// `loss[0] = scale * sum(row_values)`, in one workgroup (row counts are batch sizes).
pub fn loss_mean(rec: &mut Recorder, row_values: &Tensor, scale: f32, loss: &Tensor) -> Result<()> {
    row_values.expect_dtype(KERNEL.name, DType::F32)?;
    loss.expect_dtype(KERNEL.name, DType::F32)?;
    if loss.numel() != 1 {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("loss {:?} must hold 1 element", loss.shape()),
        ));
    }
    let rows = u32::try_from(row_values.numel())
        .map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 rows"))?;
    // One workgroup strides over every row value, then an 8-level tree.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        (rows as usize).div_ceil(256) + 8,
        &format!("{rows} row values"),
    )?;
    let params = LossParams {
        rows,
        cols: 1,
        scale,
        eps: 0.0,
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[row_values, loss],
        [1, 1, 1],
    ))
}
