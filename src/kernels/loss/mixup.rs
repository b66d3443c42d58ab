//! Launcher for `shaders/loss/mixup.wgsl`: mixup of a batch with its reverse, for inputs and
//! for the labels the losses train on (linear, or Wilkinghoff's elementwise max).

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::loss::MixupMode;

/// Keep in sync with `Params` in shaders/loss/mixup.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MixupParams {
    batch: u32,
    features: u32,
    lambdas: u32,
}

/// One thread per element; 256 is the largest workgroup every WebGPU device accepts.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "mixup",
    shader: Shader::LossMixup,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// Mixes each sample of `x` (`[batch, ...]`) with sample `batch - 1 - b`, weighted by
/// `lambda` (`batch` values, or 1 for the whole batch), into `out` (shape of `x`).
pub fn mixup(
    rec: &mut Recorder,
    mode: MixupMode,
    x: &Tensor,
    lambda: &Tensor,
    out: &Tensor,
) -> Result<()> {
    for t in [x, lambda, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let batch = match x.shape() {
        [b, ..] if *b > 0 => *b,
        _ => {
            return Err(HarkError::shape(
                KERNEL.name,
                format!("expected a non-empty [batch, ...], got {:?}", x.shape()),
            ))
        }
    };
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} but out {:?}", x.shape(), out.shape()),
        ));
    }
    if lambda.numel() != 1 && lambda.numel() != batch {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("lambda {:?} must hold 1 or {batch} values", lambda.shape()),
        ));
    }
    let n = u32::try_from(x.numel())
        .map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 elements"))?;
    // Both divide n, which fits.
    let params = MixupParams {
        batch: batch as u32,
        features: (x.numel() / batch) as u32,
        lambdas: lambda.numel() as u32,
    };
    let code = match mode {
        MixupMode::Linear => 0.0,
        MixupMode::Max => 1.0,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("MODE", code)],
        params: bytemuck::bytes_of(&params),
        tensors: &[x, lambda, out],
        workgroups: grid_1d(n.div_ceil(WORKGROUP)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MixupParams>(Shader::LossMixup, "Params");
    }
}
