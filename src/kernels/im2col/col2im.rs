//! Launcher for `shaders/im2col/col2im.wgsl`.

use super::{expect_len, Im2colGeometry};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "col2im",
    shader: Shader::Col2im,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Records `dx = col2im(col)`, the adjoint of [`super::im2col`]: each input element is the sum
/// of the `col` `[C*KH*KW, N*OH*OW]` entries im2col copies it to. `dx` has the input's
/// `n * c * h * w` elements; every one is written (no need to zero it first).
pub fn col2im(rec: &mut Recorder, col: &Tensor, geo: &Im2colGeometry, dx: &Tensor) -> Result<()> {
    expect_len(KERNEL.name, "col", col, geo.rows() * geo.columns())?;
    expect_len(KERNEL.name, "dx", dx, geo.input_len())?;
    let total = dx.numel();
    if total == 0 {
        return Ok(());
    }
    let params = geo.shader_params(KERNEL.name, total)?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[col, dx],
        grid_1d(super::to_u32(KERNEL.name, total.div_ceil(256))?),
    ))
}
