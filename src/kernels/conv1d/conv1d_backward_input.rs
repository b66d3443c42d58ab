//! Launcher for `shaders/conv1d/conv1d_backward_input.wgsl`: the input gradient of conv1d.

use super::{Conv1dParams, Geometry};
use crate::error::Result;
use crate::kernels::matmul::{matmul, MatmulOptions};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "conv1d_backward_input",
    shader: Shader::Conv1dBackwardInput,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
};

/// Threads per workgroup in the shader (`WG`).
const WG: usize = 64;

/// Records `grad_input [N, C_in, L]` of [`super::conv1d`] from `grad_output [N, C_out, L_out]`
/// and `weight [C_out, C_in/groups, K]` (overwritten, not accumulated). A layer whose input needs
/// no gradient (the first layer) simply skips this launch.
pub fn conv1d_backward_input(
    rec: &mut Recorder,
    grad_output: &Tensor,
    weight: &Tensor,
    params: &Conv1dParams,
    grad_input: &Tensor,
) -> Result<()> {
    let geo = Geometry::resolve(
        KERNEL.name,
        ["grad_input", "weight", "grad_output"],
        grad_input,
        weight,
        grad_output,
        params,
    )?;
    if geo.is_pointwise() {
        // grad_x[b] = W^T grad_y[b].
        let options = MatmulOptions {
            trans_a: true,
            ..Default::default()
        };
        let w = geo.pointwise_weight(weight)?;
        return matmul(rec, &w, grad_output, grad_input, &options);
    }
    record(rec, &geo, grad_output, weight, None, grad_input)
}

/// Records the shader for an already checked geometry; `bias [C_in]` is added per input channel
/// (used by the transposed convolution's forward pass, which is this gather).
pub(super) fn record(
    rec: &mut Recorder,
    geo: &Geometry,
    grad_output: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    grad_input: &Tensor,
) -> Result<()> {
    let shader_params = geo.shader_params(KERNEL.name, bias.is_some())?;
    // Without a bias the binding still needs a buffer: the weight is bound again, never read.
    let bias = bias.unwrap_or(weight);
    let groups = (geo.batch * geo.c_in * geo.l_in).div_ceil(WG);
    rec.dispatch(Launch::new(
        &KERNEL,
        &shader_params,
        &[grad_output, weight, bias, grad_input],
        grid_1d(super::to_u32(KERNEL.name, "workgroups", groups)?),
    ))
}
