//! Launcher for `shaders/optim/adam.wgsl`: one Adam or AdamW step over one parameter tensor.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/optim/adam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct AdamParams {
    n: u32,
    decoupled: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    bias_correction2: f32,
    grad_scale: f32,
}

static KERNEL: Kernel = Kernel {
    name: "adam",
    shader: Shader::OptimAdam,
    entry: "main",
    bindings: &[
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::Read,
    ],
};

pub use crate::params::optim::AdamConfig;

/// One step (`step` counts from 1) of `param` with `grad`, updating the moment tensors.
/// `grad_scale` multiplies the gradient first (1 normally); with `clip_scale` (the output of
/// [`super::clip_scale`]) the gradient is also multiplied by its element 0 on the GPU.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    rec: &mut Recorder,
    config: &AdamConfig,
    step: u64,
    grad_scale: f32,
    grad: &Tensor,
    param: &Tensor,
    exp_avg: &Tensor,
    exp_avg_sq: &Tensor,
    clip_scale: Option<&Tensor>,
) -> Result<()> {
    for t in [grad, param, exp_avg, exp_avg_sq] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
        if t.numel() != param.numel() {
            return Err(HarkError::shape(
                KERNEL.name,
                format!("{:?} vs parameter {:?}", t.shape(), param.shape()),
            ));
        }
    }
    if step == 0 {
        return Err(HarkError::invalid(KERNEL.name, "steps count from 1"));
    }
    let n =
        u32::try_from(param.numel()).map_err(|_| HarkError::invalid(KERNEL.name, "too large"))?;
    let t = step.min(i32::MAX as u64) as i32;
    let params = AdamParams {
        n,
        decoupled: u32::from(config.decoupled),
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weight_decay: config.weight_decay,
        bias_correction1: (1.0 - f64::from(config.beta1).powi(t)) as f32,
        bias_correction2: (1.0 - f64::from(config.beta2).powi(t)) as f32,
        grad_scale,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("SCALED", f64::from(u8::from(clip_scale.is_some())))],
        params: bytemuck::bytes_of(&params),
        // Without a scale, the gradient is bound again (read-only, never read through it).
        tensors: &[grad, param, exp_avg, exp_avg_sq, clip_scale.unwrap_or(grad)],
        workgroups: grid_1d(n.div_ceil(256)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<AdamParams>(Shader::OptimAdam, "Params");
    }
}
