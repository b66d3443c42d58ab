//! Launcher for `shaders/features/log_compress.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::to_u32;
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

pub use crate::params::features::LogKind;

/// Keep in sync with `Params` in shaders/features/log_compress.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LogParams {
    n: u32,
    eps: f32,
}

static KERNEL: Kernel = Kernel {
    name: "log_compress",
    shader: Shader::FeaturesLogCompress,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// `out = log(max(x, eps))` elementwise, in decibels or natural log.
pub fn log_compress(rec: &mut Recorder, kind: LogKind, x: &Tensor, out: &Tensor) -> Result<()> {
    x.expect_dtype(KERNEL.name, DType::F32)?;
    out.expect_dtype(KERNEL.name, DType::F32)?;
    if x.numel() != out.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} vs out {:?}", x.shape(), out.shape()),
        ));
    }
    let (mode, eps) = kind.mode_and_eps();
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(HarkError::invalid(
            KERNEL.name,
            format!("eps must be > 0, got {eps}"),
        ));
    }
    let n = to_u32(KERNEL.name, x.numel())?;
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: vec![("MODE", f64::from(mode))],
        params: bytemuck::bytes_of(&LogParams { n, eps }),
        tensors: &[x, out],
        workgroups: grid_1d(n.div_ceil(256)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<LogParams>(Shader::FeaturesLogCompress, "Params");
    }
}
