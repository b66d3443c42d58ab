//! Launcher for `shaders/conv2d/conv2d_backward_bias.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::to_u32;
use crate::error::{HarkError, Result};
use crate::kernels::{reduce, LOOP_BUDGET};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/conv2d/conv2d_backward_bias.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct BiasGradParams {
    n: u32,
    c_out: u32,
    plane: u32,
}

static KERNEL: Kernel = Kernel {
    name: "conv2d_backward_bias",
    shader: Shader::Conv2dBackwardBias,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Records `grad_bias[c] = sum over n, oy, ox of grad_out[n, c, oy, ox]`: `grad_out`
/// `[N, C_out, OH, OW]`, `grad_bias` `[C_out]`. It overwrites `grad_bias`. One workgroup per
/// channel sums up to `LOOP_BUDGET * 256` values; longer channels are summed over the plane,
/// then over N, by [`reduce::sum`] (many workgroups, fixed order; within the per-invocation
/// loop budget up to 4,194,304 plane positions and batch items, beyond which `reduce::sum`
/// returns an invalid-argument error).
pub fn conv2d_backward_bias(
    rec: &mut Recorder,
    grad_out: &Tensor,
    grad_bias: &Tensor,
) -> Result<()> {
    grad_out.expect_dtype(KERNEL.name, DType::F32)?;
    grad_bias.expect_dtype(KERNEL.name, DType::F32)?;
    let &[n, c_out, oh, ow] = grad_out.shape() else {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "grad_out must be [N, C_out, OH, OW], got {:?}",
                grad_out.shape()
            ),
        ));
    };
    if grad_bias.numel() != c_out {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "grad_bias {:?} must have C_out = {c_out} elements",
                grad_bias.shape()
            ),
        ));
    }
    if c_out == 0 {
        return Ok(());
    }
    to_u32(KERNEL.name, grad_out.numel())?;
    if (n * oh * ow).div_ceil(256) > LOOP_BUDGET {
        let planes = grad_out.reshape(&[n, c_out, oh * ow])?;
        let per_item = Tensor::zeros(rec.context(), &[n, c_out], DType::F32)?;
        reduce::sum(rec, &planes, 2, &per_item)?;
        return reduce::sum(rec, &per_item, 0, grad_bias);
    }
    let params = BiasGradParams {
        n: to_u32(KERNEL.name, n)?,
        c_out: to_u32(KERNEL.name, c_out)?,
        plane: to_u32(KERNEL.name, oh * ow)?,
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[grad_out, grad_bias],
        grid_1d(params.c_out),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<BiasGradParams>(Shader::Conv2dBackwardBias, "Params");
    }
}
