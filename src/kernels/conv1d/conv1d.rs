//! Launcher for `shaders/conv1d/conv1d.wgsl`: the forward pass of `torch.nn.functional.conv1d`.

use super::{check_bias, Conv1dParams, Geometry};
use crate::error::Result;
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "conv1d",
    shader: Shader::Conv1d,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Threads per workgroup in the shader (`WG`).
const WG: usize = 64;

/// Records `out = conv1d(x, weight, bias)`: `x [N, C_in, L]`, `weight [C_out, C_in/groups, K]`,
/// `bias [C_out]`, `out [N, C_out, L_out]` with `L_out` from [`super::conv1d_output_len`].
pub fn conv1d(
    rec: &mut Recorder,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    params: &Conv1dParams,
    out: &Tensor,
) -> Result<()> {
    let geo = Geometry::resolve(KERNEL.name, ["x", "weight", "out"], x, weight, out, params)?;
    check_bias(KERNEL.name, bias, geo.c_out)?;
    if geo.is_pointwise() {
        let options = MatmulOptions {
            bias,
            bias_per_row: true,
            ..Default::default()
        };
        return matmul(rec, &geo.pointwise_weight(weight)?, x, out, &options);
    }
    record(rec, &geo, x, weight, bias, out)
}

/// Records the shader for an already checked geometry (also the transposed convolution's input
/// gradient, which is a conv1d of its output gradient).
pub(super) fn record(
    rec: &mut Recorder,
    geo: &Geometry,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
) -> Result<()> {
    let shader_params = geo.shader_params(KERNEL.name, bias.is_some())?;
    // Without a bias the binding still needs a buffer: the weight is bound again, never read.
    let bias = bias.unwrap_or(weight);
    let groups = (geo.batch * geo.c_out * geo.l_out).div_ceil(WG);
    rec.dispatch(Launch::new(
        &KERNEL,
        &shader_params,
        &[x, weight, bias, out],
        grid_1d(super::to_u32(KERNEL.name, "workgroups", groups)?),
    ))
}
