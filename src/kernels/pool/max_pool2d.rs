//! Launcher for `shaders/pool/max_pool2d.wgsl`.

use super::{kernel_params, pool_dims, PoolParams};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "max_pool2d",
    shader: Shader::MaxPool2d,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

/// Records `out, indices = max_pool2d(x)`: `x` `[N, C, H, W]`, `out` and `indices`
/// `[N, C, OH, OW]` with the sizes of [`PoolParams::output_size`]. `indices` is an f32 tensor
/// whose elements hold the u32 bits of the argmax's flat position `iy * W + ix` in its plane.
pub fn max_pool2d(
    rec: &mut Recorder,
    x: &Tensor,
    out: &Tensor,
    indices: &Tensor,
    params: &PoolParams,
) -> Result<()> {
    for t in [x, out, indices] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let dims = pool_dims(KERNEL.name, x.shape(), params)?;
    let [n, c, _, _, oh, ow] = dims;
    for (what, t) in [("out", out), ("indices", indices)] {
        if t.shape() != [n, c, oh, ow] {
            return Err(HarkError::shape(
                KERNEL.name,
                format!("{what} must be {:?}, got {:?}", [n, c, oh, ow], t.shape()),
            ));
        }
    }
    if out.numel() == 0 {
        return Ok(());
    }
    let kp = kernel_params(KERNEL.name, dims, params, out.numel())?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &kp,
        &[x, out, indices],
        grid_1d(out.numel().div_ceil(256) as u32),
    ))
}
