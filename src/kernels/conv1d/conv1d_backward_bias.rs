//! Launcher for `shaders/conv1d/conv1d_backward_bias.wgsl`: the bias gradient of conv1d (and of
//! conv_transpose1d: both sum the output gradient over batch items and positions).

use super::{ncl, to_u32, Conv1dShaderParams};
use crate::error::{HarkError, Result};
use crate::kernels::{reduce, LOOP_BUDGET};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "conv1d_backward_bias",
    shader: Shader::Conv1dBackwardBias,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Threads per workgroup of the shader (`WG`).
const WG: usize = 64;

/// Records `grad_bias [C_out]` = the sum of `grad_output [N, C_out, L_out]` over N and L_out
/// (overwritten, not accumulated). One workgroup per channel sums up to `LOOP_BUDGET * 64`
/// values; longer channels are summed over L_out, then over N, by [`reduce::sum`] (many
/// workgroups, fixed order; within the per-invocation loop budget up to 4,194,304 positions and
/// batch items, beyond which `reduce::sum` returns an invalid-argument error).
pub fn conv1d_backward_bias(
    rec: &mut Recorder,
    grad_output: &Tensor,
    grad_bias: &Tensor,
) -> Result<()> {
    let [batch, channels, len] = ncl(KERNEL.name, "grad_output", grad_output)?;
    grad_bias.expect_dtype(KERNEL.name, DType::F32)?;
    if grad_bias.shape() != [channels] {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "grad_bias {:?} must be [{channels}] for grad_output {:?}",
                grad_bias.shape(),
                grad_output.shape()
            ),
        ));
    }
    if channels == 0 {
        return Ok(());
    }
    to_u32(KERNEL.name, "grad_output elements", grad_output.numel())?;
    if (batch * len).div_ceil(WG) > LOOP_BUDGET {
        let per_item = Tensor::zeros(rec.context(), &[batch, channels], DType::F32)?;
        reduce::sum(rec, grad_output, 2, &per_item)?;
        return reduce::sum(rec, &per_item, 0, grad_bias);
    }
    let shader_params = Conv1dShaderParams {
        batch: to_u32(KERNEL.name, "batch", batch)?,
        c_out: to_u32(KERNEL.name, "channels", channels)?,
        l_out: to_u32(KERNEL.name, "length", len)?,
        ..bytemuck::Zeroable::zeroed()
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &shader_params,
        &[grad_output, grad_bias],
        grid_1d(shader_params.c_out),
    ))
}
