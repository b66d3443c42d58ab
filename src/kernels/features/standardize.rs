//! Launcher for `shaders/features/standardize.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::to_u32;
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/features/standardize.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct StandardizeParams {
    rows: u32,
    len: u32,
    floor: f32,
}

static KERNEL: Kernel = Kernel {
    name: "standardize",
    shader: Shader::FeaturesStandardize,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Standard deviations below this count as silence (the clip becomes zeros, not NaN).
pub const STD_FLOOR: f32 = 1e-12;

/// Each row of `x` (`[clips, samples]`, or one clip `[samples]`) to zero mean and unit
/// (biased) variance. Rows of at most 1,398,016 samples (one workgroup walks a row three times;
/// the per-invocation loop budget).
pub fn standardize(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    x.expect_dtype(KERNEL.name, DType::F32)?;
    out.expect_dtype(KERNEL.name, DType::F32)?;
    let (rows, len) = match *x.shape() {
        [len] => (1, len),
        [rows, len] => (rows, len),
        _ => {
            return Err(HarkError::shape(
                KERNEL.name,
                format!(
                    "expected [samples] or [clips, samples], got {:?}",
                    x.shape()
                ),
            ))
        }
    };
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} vs out {:?}", x.shape(), out.shape()),
        ));
    }
    if len == 0 {
        return Err(HarkError::invalid(KERNEL.name, "clips hold no samples"));
    }
    // One workgroup per row: three strided passes, two 8-level trees (README, "Portability: loop
    // budget per invocation"); longer rows are an invalid-argument error.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        3 * len.div_ceil(256) + 16,
        &format!("clips of {len} samples"),
    )?;
    let params = StandardizeParams {
        rows: to_u32(KERNEL.name, rows)?,
        len: to_u32(KERNEL.name, len)?,
        floor: STD_FLOOR,
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, out],
        grid_1d(params.rows),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<StandardizeParams>(
            Shader::FeaturesStandardize,
            "Params",
        );
    }
}
