//! Shared parameters of the `im2col` kernels (see [`crate::params`]).

use crate::error::{HarkError, Result};
use crate::params::conv1d::{conv1d_output_len, Conv1dParams};
use crate::params::conv2d::{Conv2dDims, Conv2dParams};

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
    pub(crate) fn validate(&self, kernel: &'static str) -> Result<()> {
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
}
