//! Launcher for `shaders/conv2d/conv2d.wgsl`.

use super::{Conv2dDims, Conv2dParams};
use crate::error::{HarkError, Result};
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

static KERNEL: Kernel = Kernel {
    name: "conv2d",
    shader: Shader::Conv2d,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Records `out = conv2d(x, weight, bias)`: `x` `[N, C_in, H, W]`, `weight`
/// `[C_out, C_in / groups, KH, KW]`, `bias` `[C_out]`, `out` `[N, C_out, OH, OW]` with the sizes
/// of [`Conv2dParams::output_size`].
pub fn conv2d(
    rec: &mut Recorder,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
    params: &Conv2dParams,
) -> Result<()> {
    for t in [x, weight, out].into_iter().chain(bias) {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let dims = Conv2dDims::new(KERNEL.name, x.shape(), weight.shape(), params)?;
    dims.expect_output(KERNEL.name, "out", out)?;
    if let Some(bias) = bias {
        if bias.numel() != dims.c_out {
            return Err(HarkError::shape(
                KERNEL.name,
                format!(
                    "bias {:?} must have C_out = {} elements",
                    bias.shape(),
                    dims.c_out
                ),
            ));
        }
    }
    if out.numel() == 0 {
        return Ok(());
    }
    if dims.is_pointwise(params) {
        let [w, x, out] = dims.pointwise_views(weight, x, out)?;
        let options = MatmulOptions {
            bias,
            bias_per_row: true,
            ..Default::default()
        };
        return matmul(rec, &w, &x, &out, &options);
    }
    let kp = dims.kernel_params(KERNEL.name, params, bias.is_some(), out.numel())?;
    // Without a bias the binding still needs a buffer: the weight is bound again (never read).
    let bias = bias.unwrap_or(weight);
    rec.dispatch(Launch::new(
        &KERNEL,
        &kp,
        &[x, weight, bias, out],
        grid_1d(out.numel().div_ceil(256) as u32),
    ))
}
