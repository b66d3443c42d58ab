//! Launcher for `shaders/knn/normalize_rows.wgsl`: `out = x / ||x||` row by row (zero rows stay
//! zero), written as f32 or as f16 storage.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::to_u32;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/knn/normalize_rows.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct NormalizeParams {
    rows: u32,
    dim: u32,
    words: u32,
}

static ROW_INV_NORMS: Kernel = Kernel {
    name: "normalize_rows",
    shader: Shader::KnnNormalizeRows,
    entry: "row_inv_norms",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

static SCALE_ROWS: Kernel = Kernel {
    name: "normalize_rows",
    shader: Shader::KnnNormalizeRows,
    entry: "scale_rows",
    bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
};

/// Threads per workgroup of both entry points.
const WG: usize = 64;

/// `out[r] = x[r] / ||x[r]||` for the rows of `x` `[rows, dim]` (f32); a row of zeros gives a row
/// of zeros. `out` has `x`'s shape and is f32 or f16 (the norms and the division are f32 either
/// way; f16 output is rounded once, at the end). Allocates a `[rows]` scratch tensor.
pub fn normalize_rows(rec: &mut Recorder, x: &Tensor, out: &Tensor) -> Result<()> {
    let name = ROW_INV_NORMS.name;
    x.expect_dtype(name, DType::F32)?;
    let [rows, dim] = *x.shape() else {
        return Err(HarkError::shape(
            name,
            format!("x must be [rows, dim], got {:?}", x.shape()),
        ));
    };
    if out.shape() != x.shape() {
        return Err(HarkError::shape(
            name,
            format!("x {:?} but out {:?}", x.shape(), out.shape()),
        ));
    }
    let numel = x.numel();
    if numel == 0 {
        return Ok(());
    }
    let words = match out.dtype() {
        DType::F32 => numel,
        DType::F16 => numel.div_ceil(2),
    };
    // One thread walks a row to find its norm (README, "Portability: loop budget per
    // invocation").
    crate::kernels::check_loop_budget(name, dim, &format!("rows of dim {dim}"))?;
    // 2 * words may reach numel + 1, which must fit too.
    to_u32(name, numel + 1)?;
    let params = NormalizeParams {
        rows: to_u32(name, rows)?,
        dim: to_u32(name, dim)?,
        words: to_u32(name, words)?,
    };
    let inv_norms = Tensor::zeros(rec.context(), &[rows], DType::F32)?;
    let constants = vec![("OUT_F16", f64::from(u8::from(out.dtype() == DType::F16)))];
    rec.dispatch(Launch {
        kernel: &ROW_INV_NORMS,
        constants: constants.clone(),
        params: bytemuck::bytes_of(&params),
        tensors: &[x, &inv_norms, out],
        workgroups: grid_1d(to_u32(name, rows.div_ceil(WG))?),
    })?;
    rec.dispatch(Launch {
        kernel: &SCALE_ROWS,
        constants,
        params: bytemuck::bytes_of(&params),
        tensors: &[x, &inv_norms, out],
        workgroups: grid_1d(to_u32(name, words.div_ceil(WG))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<NormalizeParams>(Shader::KnnNormalizeRows, "Params");
    }
}
