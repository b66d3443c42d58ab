//! Launcher for `shaders/features/frame_stack.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::{frames_dims, to_u32};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/features/frame_stack.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct FrameStackParams {
    batch: u32,
    frames: u32,
    bins: u32,
    context: u32,
}

static KERNEL: Kernel = Kernel {
    name: "frame_stack",
    shader: Shader::FeaturesFrameStack,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Number of stacked vectors from `frames` frames: `frames - context + 1` (the DCASE
/// `n_vectors`), or 0 when the clip is shorter than the context.
pub fn stacked_vectors(frames: usize, context: usize) -> usize {
    (frames + 1).saturating_sub(context)
}

/// `x` `[batch, frames, bins]` -> `out` `[batch, frames - context + 1, context * bins]`.
pub fn frame_stack(rec: &mut Recorder, x: &Tensor, context: usize, out: &Tensor) -> Result<()> {
    x.expect_dtype(KERNEL.name, DType::F32)?;
    out.expect_dtype(KERNEL.name, DType::F32)?;
    let (batch, frames, bins) = frames_dims(KERNEL.name, x)?;
    if context == 0 || context > frames {
        return Err(HarkError::invalid(
            KERNEL.name,
            format!("context {context} needs 1..={frames} frames"),
        ));
    }
    let vectors = stacked_vectors(frames, context);
    if out.numel() != batch * vectors * context * bins {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "out {:?} should hold [{batch}, {vectors}, {}]",
                out.shape(),
                context * bins
            ),
        ));
    }
    let params = FrameStackParams {
        batch: to_u32(KERNEL.name, batch)?,
        frames: to_u32(KERNEL.name, frames)?,
        bins: to_u32(KERNEL.name, bins)?,
        context: to_u32(KERNEL.name, context)?,
    };
    let n = to_u32(KERNEL.name, out.numel())?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, out],
        grid_1d(n.div_ceil(256)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<FrameStackParams>(
            Shader::FeaturesFrameStack,
            "Params",
        );
    }
}
