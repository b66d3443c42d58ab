//! Launcher for `shaders/conv2d/conv2d_backward_weight.wgsl`.

use super::{Conv2dDims, Conv2dParams};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "conv2d_backward_weight",
    shader: Shader::Conv2dBackwardWeight,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Records `grad_weight = d(sum(conv2d(x, weight) * grad_out)) / dweight`, summed over the
/// batch: `grad_out` `[N, C_out, OH, OW]`, `x` `[N, C_in, H, W]`, `grad_weight` with the weight's
/// shape `[C_out, C_in / groups, KH, KW]`. It overwrites `grad_weight` (callers accumulating
/// over micro-batches add it themselves). More than 4,192,256 (N x OH x OW) products per weight
/// element are an invalid-argument error: one workgroup reduces them (the per-invocation loop
/// budget; README, "Portability: loop budget per invocation").
pub fn conv2d_backward_weight(
    rec: &mut Recorder,
    grad_out: &Tensor,
    x: &Tensor,
    grad_weight: &Tensor,
    params: &Conv2dParams,
) -> Result<()> {
    for t in [grad_out, x, grad_weight] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let dims = Conv2dDims::new(KERNEL.name, x.shape(), grad_weight.shape(), params)?;
    dims.expect_output(KERNEL.name, "grad_out", grad_out)?;
    let weights = grad_weight.numel();
    if weights == 0 {
        return Ok(());
    }
    // One workgroup per weight element: 256 threads stride over N * OH * OW, then a tree.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        (dims.n * dims.oh * dims.ow).div_ceil(256) + 8,
        &format!(
            "{} batch items x {}x{} output positions",
            dims.n, dims.oh, dims.ow
        ),
    )?;
    let kp = dims.kernel_params(KERNEL.name, params, false, weights)?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &kp,
        &[grad_out, x, grad_weight],
        grid_1d(weights as u32),
    ))
}
