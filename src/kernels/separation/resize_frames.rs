//! Launcher for `shaders/separation/resize_frames.wgsl`.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/separation/resize_frames.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ResizeFramesParams {
    n: u32,
    len_in: u32,
    len_out: u32,
}

const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "resize_frames",
    shader: Shader::SeparationResizeFrames,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Copies `x [.., len_in]` into `out [.., len_out]` (the same leading axes), padding with zeros
/// at the end or cropping the end. Padding's backward is cropping and vice versa.
pub fn resize_frames(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    for t in [x, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let (Some((&len_in, lead_in)), Some((&len_out, lead_out))) =
        (x.shape().split_last(), out.shape().split_last())
    else {
        return Err(HarkError::shape(KERNEL.name, "scalars have no frame axis"));
    };
    let rows: usize = lead_in.iter().product();
    if rows != lead_out.iter().product::<usize>() || len_in == 0 || len_out == 0 {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "x {:?} and out {:?} must share their leading axes and have frames",
                x.shape(),
                out.shape()
            ),
        ));
    }
    let n = to_u32(KERNEL.name, out.numel())?;
    let params = ResizeFramesParams {
        n,
        len_in: to_u32(KERNEL.name, len_in)?,
        len_out: to_u32(KERNEL.name, len_out)?,
    };
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
        crate::shaders::assert_params_match::<ResizeFramesParams>(
            Shader::SeparationResizeFrames,
            "Params",
        );
    }
}
