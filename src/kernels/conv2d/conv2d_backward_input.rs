//! Launcher for `shaders/conv2d/conv2d_backward_input.wgsl`.

use super::{Conv2dDims, Conv2dParams};
use crate::error::Result;
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "conv2d_backward_input",
    shader: Shader::Conv2dBackwardInput,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Records `grad_input = d(sum(conv2d(x, weight) * grad_out)) / dx`. `grad_input` has the
/// input's shape `[N, C_in, H, W]` (with a stride the output size does not determine it);
/// `grad_out` is `[N, C_out, OH, OW]`, `weight` `[C_out, C_in / groups, KH, KW]`.
/// Every element of `grad_input` is written (no need to zero it first).
pub fn conv2d_backward_input(
    rec: &mut Recorder,
    grad_out: &Tensor,
    weight: &Tensor,
    grad_input: &Tensor,
    params: &Conv2dParams,
) -> Result<()> {
    for t in [grad_out, weight, grad_input] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let dims = Conv2dDims::new(KERNEL.name, grad_input.shape(), weight.shape(), params)?;
    dims.expect_output(KERNEL.name, "grad_out", grad_out)?;
    if grad_input.numel() == 0 {
        return Ok(());
    }
    if dims.is_pointwise(params) {
        // grad_x[n] = W^T grad_y[n].
        let [w, grad_x, grad_y] = dims.pointwise_views(weight, grad_input, grad_out)?;
        let options = MatmulOptions {
            trans_a: true,
            ..Default::default()
        };
        return matmul(rec, &w, &grad_y, &grad_x, &options);
    }
    let kp = dims.kernel_params(KERNEL.name, params, false, grad_input.numel())?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &kp,
        &[grad_out, weight, grad_input],
        grid_1d(grad_input.numel().div_ceil(256) as u32),
    ))
}
