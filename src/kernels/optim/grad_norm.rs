//! Launchers for `shaders/optim/grad_norm.wgsl`: the global gradient norm over many tensors and
//! the clipping scale, computed on the GPU so that a training step needs no read-back.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/optim/grad_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GradNormParams {
    n: u32,
    slot: u32,
    max_norm: f32,
}

static SUM_SQUARES: Kernel = Kernel {
    name: "grad_sum_squares",
    shader: Shader::OptimGradNorm,
    entry: "sum_squares",
    bindings: &[Access::Read, Access::ReadWrite],
};

static CLIP_SCALE: Kernel = Kernel {
    name: "grad_clip_scale",
    shader: Shader::OptimGradNorm,
    entry: "clip_scale",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Records `scale = [min(1, max_norm / (norm + 1e-6)), norm]` for the global L2 norm of `grads`
/// (torch's `clip_grad_norm_`). `partials` holds one f32 per gradient; `scale` two.
pub fn clip_scale(
    rec: &mut Recorder,
    grads: &[&Tensor],
    max_norm: f32,
    partials: &Tensor,
    scale: &Tensor,
) -> Result<()> {
    if partials.numel() != grads.len() || scale.numel() != 2 || grads.is_empty() {
        return Err(HarkError::shape(
            CLIP_SCALE.name,
            format!(
                "{} gradients need partials of {} and a scale of 2, got {:?} and {:?}",
                grads.len(),
                grads.len(),
                partials.shape(),
                scale.shape()
            ),
        ));
    }
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(HarkError::invalid(
            CLIP_SCALE.name,
            format!("max_norm {max_norm} must be > 0"),
        ));
    }
    let to_u32 =
        |v: usize| u32::try_from(v).map_err(|_| HarkError::invalid(SUM_SQUARES.name, "too large"));
    for (slot, grad) in grads.iter().enumerate() {
        grad.expect_dtype(SUM_SQUARES.name, DType::F32)?;
        // One workgroup strides over the whole tensor, then an 8-level tree (README,
        // "Portability: loop budget per invocation").
        crate::kernels::check_loop_budget(
            SUM_SQUARES.name,
            grad.numel().div_ceil(256) + 8,
            &format!("a gradient of {} values", grad.numel()),
        )?;
        let params = GradNormParams {
            n: to_u32(grad.numel())?,
            slot: to_u32(slot)?,
            max_norm,
        };
        rec.dispatch(Launch::new(
            &SUM_SQUARES,
            &params,
            &[grad, partials],
            [1, 1, 1],
        ))?;
    }
    let params = GradNormParams {
        n: to_u32(grads.len())?,
        slot: 0,
        max_norm,
    };
    rec.dispatch(Launch::new(
        &CLIP_SCALE,
        &params,
        &[partials, scale],
        [1, 1, 1],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<GradNormParams>(Shader::OptimGradNorm, "Params");
    }
}
