//! Launchers for `shaders/loss/mse.wgsl`: per-row MSE and the gradient of the mean MSE.
//! Rows of up to [`SERIAL_MAX_COLS`] values are summed by one thread each, longer ones by one
//! workgroup each (the per-invocation loop budget; README, "Portability: loop budget per
//! invocation").

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/loss/mse.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MseParams {
    rows: u32,
    cols: u32,
    scale: f32,
}

static ROWS: Kernel = Kernel {
    name: "mse_rows",
    shader: Shader::LossMse,
    entry: "rows",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

static ROWS_WIDE: Kernel = Kernel {
    name: "mse_rows_wide",
    shader: Shader::LossMse,
    entry: "rows_wide",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

/// The longest row one thread sums (`rows`); longer rows get a workgroup each (`rows_wide`).
pub const SERIAL_MAX_COLS: usize = 4096;

/// Threads per workgroup (`WG` in the shader).
const WG: usize = 256;

static BACKWARD: Kernel = Kernel {
    name: "mse_backward",
    shader: Shader::LossMse,
    entry: "backward",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

fn rows_cols(kernel: &'static str, p: &Tensor, t: &Tensor) -> Result<(u32, u32)> {
    p.expect_dtype(kernel, DType::F32)?;
    t.expect_dtype(kernel, DType::F32)?;
    if p.shape() != t.shape() || p.numel() == 0 {
        return Err(HarkError::shape(
            kernel,
            format!("prediction {:?} vs target {:?}", p.shape(), t.shape()),
        ));
    }
    let cols = p.shape().last().copied().unwrap_or(1);
    let rows = p.numel() / cols;
    let to_u32 = |v: usize| u32::try_from(v).map_err(|_| HarkError::invalid(kernel, "too large"));
    Ok((to_u32(rows)?, to_u32(cols)?))
}

/// `out[r] = mean_j (p[r, j] - t[r, j])^2` over the last axis. Rows of more than 4,192,256
/// values are an invalid-argument error (one workgroup walks a row; the per-invocation loop
/// budget: lavapipe ends an invocation's loops after 65,535 iterations).
pub fn mse_rows(
    rec: &mut Recorder,
    prediction: &Tensor,
    target: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let (rows, cols) = rows_cols(ROWS.name, prediction, target)?;
    if out.numel() != rows as usize {
        return Err(HarkError::shape(
            ROWS.name,
            format!("out {:?} needs {rows} values", out.shape()),
        ));
    }
    let params = MseParams {
        rows,
        cols,
        scale: 1.0,
    };
    let cols = cols as usize;
    // rows_wide: WG-strided steps, then an 8-level tree.
    crate::kernels::check_loop_budget(
        ROWS.name,
        cols.div_ceil(WG) + 8,
        &format!("rows of {cols} values"),
    )?;
    let (kernel, workgroups) = if cols <= SERIAL_MAX_COLS {
        (&ROWS, grid_1d(rows.div_ceil(WG as u32)))
    } else {
        (&ROWS_WIDE, grid_1d(rows))
    };
    rec.dispatch(Launch {
        kernel,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&params),
        tensors: &[prediction, target, out],
        workgroups,
    })
}

/// `grad = scale * d mean((p - t)^2) / d p = scale * 2 (p - t) / numel`.
pub fn mse_backward(
    rec: &mut Recorder,
    prediction: &Tensor,
    target: &Tensor,
    scale: f32,
    grad: &Tensor,
) -> Result<()> {
    let (rows, cols) = rows_cols(BACKWARD.name, prediction, target)?;
    if grad.shape() != prediction.shape() {
        return Err(HarkError::shape(
            BACKWARD.name,
            format!(
                "grad {:?} vs prediction {:?}",
                grad.shape(),
                prediction.shape()
            ),
        ));
    }
    let params = MseParams { rows, cols, scale };
    rec.dispatch(Launch::new(
        &BACKWARD,
        &params,
        &[prediction, target, grad],
        grid_1d((rows * cols).div_ceil(256)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<MseParams>(Shader::LossMse, "Params");
    }
}
