//! Launcher for `shaders/features/mean_normalize.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::{frames_dims, to_u32};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/features/mean_normalize.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MeanNormParams {
    batch: u32,
    frames: u32,
    bins: u32,
}

static KERNEL: Kernel = Kernel {
    name: "mean_normalize",
    shader: Shader::FeaturesMeanNormalize,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Subtracts each bin's mean over the frames: `x`, `out` are `[batch, frames, bins]` (or
/// `[frames, bins]`). At most 8,192 frames (the per-invocation loop budget).
pub fn mean_normalize(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    x.expect_dtype(KERNEL.name, DType::F32)?;
    out.expect_dtype(KERNEL.name, DType::F32)?;
    let (batch, frames, bins) = frames_dims(KERNEL.name, x)?;
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} vs out {:?}", x.shape(), out.shape()),
        ));
    }
    if frames == 0 {
        return Err(HarkError::invalid(KERNEL.name, "no frames to average"));
    }
    // One thread per (item, bin) walks the frames twice (README, "Portability: loop budget per
    // invocation"): more than 8,192 frames are an invalid-argument error.
    crate::kernels::check_loop_budget(KERNEL.name, 2 * frames, &format!("{frames} frames"))?;
    let params = MeanNormParams {
        batch: to_u32(KERNEL.name, batch)?,
        frames: to_u32(KERNEL.name, frames)?,
        bins: to_u32(KERNEL.name, bins)?,
    };
    let columns = to_u32(KERNEL.name, batch * bins)?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, out],
        grid_1d(columns.div_ceil(256)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MeanNormParams>(
            Shader::FeaturesMeanNormalize,
            "Params",
        );
    }
}
