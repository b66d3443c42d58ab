//! Launcher for `shaders/im2col/im2col.wgsl`.

use super::{expect_len, Im2colGeometry};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "im2col",
    shader: Shader::Im2col,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Records `col = im2col(x)`: `x` with the geometry's `n * c * h * w` elements (`[N, C, H, W]`
/// or, for conv1d, `[N, C, L]`), `col` `[C*KH*KW, N*OH*OW]`, zeros where a tap falls in the
/// padding. Every element of `col` is written.
pub fn im2col(rec: &mut Recorder, x: &Tensor, geo: &Im2colGeometry, col: &Tensor) -> Result<()> {
    expect_len(KERNEL.name, "x", x, geo.input_len())?;
    expect_len(KERNEL.name, "col", col, geo.rows() * geo.columns())?;
    if col.shape() != geo.col_shape() {
        return Err(crate::error::HarkError::shape(
            KERNEL.name,
            format!("col {:?} must be {:?}", col.shape(), geo.col_shape()),
        ));
    }
    let total = col.numel();
    if total == 0 {
        return Ok(());
    }
    let params = geo.shader_params(KERNEL.name, total)?;
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, col],
        grid_1d(super::to_u32(KERNEL.name, total.div_ceil(256))?),
    ))
}
