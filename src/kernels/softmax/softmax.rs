//! Launcher for `shaders/softmax/softmax.wgsl`: max-subtracted softmax along one axis of a tensor
//! of any rank, one workgroup per row.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::reduce::AxisView;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/softmax/softmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct SoftmaxParams {
    rows: u32,
    axis_len: u32,
    inner: u32,
}

static KERNEL: Kernel = Kernel {
    name: "softmax",
    shader: Shader::Softmax,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// `out = softmax(x)` along `axis`; `out` has `x`'s element count.
/// Errors: axis out of range or of length 0 (`InvalidArgument`), `out` of the wrong size
/// (`Shape`).
pub fn softmax(rec: &mut Recorder, x: &Tensor, axis: usize, out: &Tensor) -> Result<()> {
    for t in [x, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let view = AxisView::new(KERNEL.name, x.shape(), axis)?;
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} but out {:?}", x.shape(), out.shape()),
        ));
    }
    u32::try_from(x.numel()).map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 elements"))?;
    // One workgroup per row: three strided passes, two 8-level trees (README, "Portability: loop
    // budget per invocation"); longer axes are an invalid-argument error.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        3 * view.axis_len.div_ceil(256) + 16,
        &format!("an axis of {} values", view.axis_len),
    )?;
    // Each is at most numel, which fits.
    let params = SoftmaxParams {
        rows: view.rows() as u32,
        axis_len: view.axis_len as u32,
        inner: view.inner.max(1) as u32,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[x, out],
        // One workgroup per row; past 65535 rows grid_1d folds the grid into 2-D.
        workgroups: grid_1d(params.rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<SoftmaxParams>(Shader::Softmax, "Params");
    }
}
