//! Launcher for `shaders/reduce/mean_var.wgsl`: mean and biased variance along one axis in one
//! dispatch (two passes over each row inside its workgroup), for BatchNorm and LayerNorm.

use bytemuck::{Pod, Zeroable};

use super::{check_reduction, AxisView};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/reduce/mean_var.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct MeanVarParams {
    rows: u32,
    axis_len: u32,
    inner: u32,
}

static KERNEL: Kernel = Kernel {
    name: "reduce_mean_var",
    shader: Shader::ReduceMeanVar,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

/// Mean and biased variance (sum of squared deviations over N) of `x` along `axis`. Both outputs
/// have `x`'s shape with that axis removed or kept as 1.
/// Errors: axis out of range or of length 0 (`InvalidArgument`), an output of the wrong size
/// (`Shape`).
pub fn mean_var(
    rec: &mut Recorder,
    x: &Tensor,
    axis: usize,
    mean_out: &Tensor,
    var_out: &Tensor,
) -> Result<()> {
    for t in [x, mean_out, var_out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    let view = AxisView::new(KERNEL.name, x.shape(), axis)?;
    check_reduction(KERNEL.name, x, &view, var_out)?;
    let (rows, axis_len, inner) = check_reduction(KERNEL.name, x, &view, mean_out)?;
    // One workgroup per row: two strided passes, two 8-level trees.
    crate::kernels::check_loop_budget(
        KERNEL.name,
        2 * (view.axis_len.div_ceil(256) + 8),
        &format!("an axis of {} values", view.axis_len),
    )?;
    let params = MeanVarParams {
        rows,
        axis_len,
        inner,
    };
    rec.dispatch(Launch {
        kernel: &KERNEL,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[x, mean_out, var_out],
        // One workgroup per row; past 65535 rows grid_1d folds the grid into 2-D.
        workgroups: grid_1d(rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MeanVarParams>(Shader::ReduceMeanVar, "Params");
    }
}
