//! Launcher for `shaders/conv1d/conv1d_backward_weight.wgsl`: the weight gradient of conv1d.

use super::{Conv1dParams, Geometry};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "conv1d_backward_weight",
    shader: Shader::Conv1dBackwardWeight,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Records `grad_weight [C_out, C_in/groups, K]` of [`super::conv1d`] from its input
/// `x [N, C_in, L]` and `grad_output [N, C_out, L_out]` (overwritten, not accumulated).
pub fn conv1d_backward_weight(
    rec: &mut Recorder,
    x: &Tensor,
    grad_output: &Tensor,
    params: &Conv1dParams,
    grad_weight: &Tensor,
) -> Result<()> {
    let geo = Geometry::resolve(
        KERNEL.name,
        ["x", "grad_weight", "grad_output"],
        x,
        grad_weight,
        grad_output,
        params,
    )?;
    record(rec, &geo, x, grad_output, grad_weight)
}

/// Records the shader for an already checked geometry: one workgroup per weight element. More
/// than 4,192,256 (batch x output positions) products per weight element are an
/// invalid-argument error (the per-invocation loop budget; README, "Portability: loop budget
/// per invocation").
pub(super) fn record(
    rec: &mut Recorder,
    geo: &Geometry,
    x: &Tensor,
    grad_output: &Tensor,
    grad_weight: &Tensor,
) -> Result<()> {
    let shader_params = geo.shader_params(KERNEL.name, false)?;
    // 256 threads stride over batch * l_out products, then an 8-level tree.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        (geo.batch * geo.l_out).div_ceil(256) + 8,
        &format!("{} batch items x {} output positions", geo.batch, geo.l_out),
    )?;
    let groups = geo.c_out * (geo.c_in / geo.params.groups) * geo.kernel;
    rec.dispatch(Launch::new(
        &KERNEL,
        &shader_params,
        &[x, grad_output, grad_weight],
        grid_1d(super::to_u32(KERNEL.name, "workgroups", groups)?),
    ))
}
