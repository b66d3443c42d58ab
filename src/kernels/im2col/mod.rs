//! im2col, its adjoint col2im and a batch/channel axis swap: the pieces that turn a dense
//! convolution (groups 1) and both its gradients into single matmuls over the whole batch
//! (see [`crate::nn::conv_gemm`]). The column matrix is channel-major, `[C*KH*KW, N*OH*OW]`
//! (row `(c, ky, kx)`, column `(n, oy, ox)`), so the weight `[C_out, C_in, KH, KW]` is already
//! its left operand `[C_out, C*KH*KW]`.

// One kernel, one name in every place (STYLE.md): im2col/im2col.rs.
mod col2im;
#[allow(clippy::module_inception)]
mod im2col;
mod swap_batch_channel;

pub use col2im::col2im;
pub use im2col::im2col;
pub use swap_batch_channel::swap_batch_channel;

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::kernels::fast_div::FastDiv;
use crate::tensor::{DType, Tensor};

pub use crate::params::im2col::Im2colGeometry;

/// Keep in sync with `Params` in shaders/common/im2col_params.wgsl (im2col.wgsl, col2im.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Im2colParams {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    total: u32,
    _pad: u32,
    // Divisions the shaders decode indices with (fast_div.wgsl).
    div_columns: FastDiv,
    div_ow: FastDiv,
    div_oh: FastDiv,
    div_kw: FastDiv,
    div_kh: FastDiv,
    div_w: FastDiv,
    div_h: FastDiv,
    div_c: FastDiv,
    div_sh: FastDiv,
    div_sw: FastDiv,
}

/// Errors unless `t` is f32 with `len` elements (any shape: conv1d inputs are `[N, C, L]`).
fn expect_len(kernel: &'static str, what: &str, t: &Tensor, len: usize) -> Result<()> {
    t.expect_dtype(kernel, DType::F32)?;
    if t.numel() != len {
        return Err(HarkError::shape(
            kernel,
            format!("{what} {:?} must have {len} elements", t.shape()),
        ));
    }
    Ok(())
}

use super::to_u32;

/// The shaders' parameter struct of a checked geometry.
impl Im2colGeometry {
    fn shader_params(&self, kernel: &'static str, total: usize) -> Result<Im2colParams> {
        self.validate(kernel)?;
        // Every flat index the shaders form must fit u32.
        to_u32(kernel, self.rows() * self.columns())?;
        to_u32(kernel, self.input_len())?;
        let u = |v: usize| to_u32(kernel, v);
        Ok(Im2colParams {
            n: u(self.n)?,
            c: u(self.c)?,
            h: u(self.h)?,
            w: u(self.w)?,
            kh: u(self.kh)?,
            kw: u(self.kw)?,
            oh: u(self.oh)?,
            ow: u(self.ow)?,
            sh: u(self.stride.0)?,
            sw: u(self.stride.1)?,
            ph: u(self.padding.0)?,
            pw: u(self.padding.1)?,
            dh: u(self.dilation.0)?,
            dw: u(self.dilation.1)?,
            total: u(total)?,
            _pad: 0,
            div_columns: FastDiv::new(u(self.columns())?),
            div_ow: FastDiv::new(u(self.ow)?),
            div_oh: FastDiv::new(u(self.oh)?),
            div_kw: FastDiv::new(u(self.kw)?),
            div_kh: FastDiv::new(u(self.kh)?),
            div_w: FastDiv::new(u(self.w)?),
            div_h: FastDiv::new(u(self.h)?),
            div_c: FastDiv::new(u(self.c)?),
            div_sh: FastDiv::new(u(self.stride.0)?),
            div_sw: FastDiv::new(u(self.stride.1)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::conv1d::{conv1d_output_len, Conv1dParams};
    use crate::shaders::Shader;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [Shader::Im2col, Shader::Col2im] {
            assert_eq!(
                Some(std::mem::size_of::<Im2colParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params"),
                "{shader:?}"
            );
        }
    }

    #[test]
    fn conv1d_geometry_follows_torch() {
        let p = Conv1dParams {
            stride: 2,
            padding: 3,
            dilation: 4,
            groups: 1,
        };
        let g = Im2colGeometry::conv1d(2, 3, 50, 3, &p).unwrap();
        assert_eq!((g.oh, g.ow), (1, conv1d_output_len(50, 3, &p).unwrap()));
        assert!(g.validate("test").is_ok());
        assert!(Im2colGeometry::conv1d(1, 1, 4, 3, &Conv1dParams { dilation: 3, ..p }).is_some());
        assert!(Im2colGeometry::conv1d(1, 1, 2, 5, &Conv1dParams::default()).is_none());
    }
}
