//! Launcher for `shaders/activation/softplus.wgsl`: torch's Softplus(beta, threshold).

use bytemuck::{Pod, Zeroable};

use super::same_numel;
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// torch.nn.Softplus's default threshold on `beta * x`, past which softplus returns `x`.
pub const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// Keep in sync with `Params` in shaders/activation/softplus.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct SoftplusParams {
    n: u32,
    beta: f32,
    threshold: f32,
}

/// One thread per element; 256 is the largest workgroup every WebGPU device accepts.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "softplus",
    shader: Shader::ActivationSoftplus,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// `out = log(1 + exp(beta x)) / beta`, or `x` where `beta x > threshold` (torch uses 20, see
/// [`SOFTPLUS_THRESHOLD`]); finite for every finite `x`. `beta` must be positive.
pub fn softplus(
    rec: &mut Recorder,
    x: &Tensor,
    beta: f32,
    threshold: f32,
    out: &Tensor,
) -> Result<()> {
    let n = same_numel(KERNEL.name, x, &[out])?;
    if beta.is_nan() || beta <= 0.0 {
        return Err(HarkError::invalid(
            KERNEL.name,
            format!("beta {beta} must be positive"),
        ));
    }
    let params = SoftplusParams { n, beta, threshold };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, out],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<SoftplusParams>(Shader::ActivationSoftplus, "Params");
    }
}
