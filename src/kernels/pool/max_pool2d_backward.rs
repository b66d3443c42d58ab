//! Launcher for `shaders/pool/max_pool2d_backward.wgsl`.

use super::{kernel_params, pool_dims, PoolParams};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "max_pool2d_backward",
    shader: Shader::MaxPool2dBackward,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Records the gradient of [`max_pool2d`](super::max_pool2d): `grad_input[p]` is the sum of
/// `grad_out` over the windows whose saved index is `p`. `grad_out` and `indices`
/// `[N, C, OH, OW]`, `grad_input` `[N, C, H, W]` (the input's shape; fully overwritten).
pub fn max_pool2d_backward(
    rec: &mut Recorder,
    grad_out: &Tensor,
    indices: &Tensor,
    grad_input: &Tensor,
    params: &PoolParams,
) -> Result<()> {
    for t in [grad_out, indices, grad_input] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let dims = pool_dims(KERNEL.name, grad_input.shape(), params)?;
    let [n, c, _, _, oh, ow] = dims;
    for (what, t) in [("grad_out", grad_out), ("indices", indices)] {
        if t.shape() != [n, c, oh, ow] {
            return Err(HarkError::shape(
                KERNEL.name,
                format!("{what} must be {:?}, got {:?}", [n, c, oh, ow], t.shape()),
            ));
        }
    }
    if grad_input.numel() == 0 {
        return Ok(());
    }
    let kp = kernel_params(KERNEL.name, dims, params, grad_input.numel())?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &kp,
        &[grad_out, indices, grad_input],
        grid_1d(grad_input.numel().div_ceil(256) as u32),
    ))
}
