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
use crate::kernels::conv1d::{conv1d_output_len, Conv1dParams};
use crate::kernels::conv2d::{Conv2dDims, Conv2dParams};
use crate::tensor::{DType, Tensor};

/// Sizes of one im2col: input `[n, c, h, w]`, a `kh x kw` kernel with stride, zero padding and
/// dilation (each (rows, columns)), output positions `oh x ow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2colGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub oh: usize,
    pub ow: usize,
}

impl Im2colGeometry {
    /// The geometry of a checked conv2d (dilation 1).
    pub fn conv2d(dims: &Conv2dDims, params: &Conv2dParams) -> Self {
        Self {
            n: dims.n,
            c: dims.c_in,
            h: dims.h,
            w: dims.w,
            kh: dims.kh,
            kw: dims.kw,
            stride: params.stride,
            padding: params.padding,
            dilation: (1, 1),
            oh: dims.oh,
            ow: dims.ow,
        }
    }

    /// A conv1d over `[n, c, len]` as a conv2d over `[n, c, 1, len]` with a `1 x kernel` kernel;
    /// `None` when the kernel does not fit (see [`conv1d_output_len`]).
    pub fn conv1d(
        n: usize,
        c: usize,
        len: usize,
        kernel: usize,
        params: &Conv1dParams,
    ) -> Option<Self> {
        let ow = conv1d_output_len(len, kernel, params)?;
        Some(Self {
            n,
            c,
            h: 1,
            w: len,
            kh: 1,
            kw: kernel,
            stride: (1, params.stride),
            padding: (0, params.padding),
            dilation: (1, params.dilation),
            oh: 1,
            ow,
        })
    }

    /// Rows of the column matrix: `c * kh * kw` (the matmul's inner size).
    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the column matrix: `n * oh * ow`.
    pub fn columns(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// `[rows, columns]`.
    pub fn col_shape(&self) -> [usize; 2] {
        [self.rows(), self.columns()]
    }

    /// Elements of the input `[n, c, h, w]`.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// Bytes of the f32 column matrix (compare with the device's largest storage binding).
    pub fn col_bytes(&self) -> u64 {
        (self.rows() as u64) * (self.columns() as u64) * 4
    }

    /// Checks the stride and dilation and that `oh x ow` are the positions torch would compute.
    fn validate(&self, kernel: &'static str) -> Result<()> {
        let one = |len: usize, k: usize, s: usize, p: usize, d: usize| {
            let span = d * (k.max(1) - 1) + 1;
            (s > 0 && d > 0 && k > 0 && len + 2 * p >= span).then(|| (len + 2 * p - span) / s + 1)
        };
        let rows = one(
            self.h,
            self.kh,
            self.stride.0,
            self.padding.0,
            self.dilation.0,
        );
        let cols = one(
            self.w,
            self.kw,
            self.stride.1,
            self.padding.1,
            self.dilation.1,
        );
        if rows != Some(self.oh) || cols != Some(self.ow) {
            return Err(HarkError::invalid(
                kernel,
                format!("inconsistent geometry {self:?}"),
            ));
        }
        Ok(())
    }

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
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
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
