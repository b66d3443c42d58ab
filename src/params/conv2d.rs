//! Shared parameters of the `conv2d` kernels (see [`crate::params`]).

use crate::error::{HarkError, Result};

/// Stride, zero padding and groups of a 2-D convolution (dilation 1), as torch's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// (rows, columns).
    pub stride: (usize, usize),
    /// Zeros added on each side: (rows, columns).
    pub padding: (usize, usize),
    /// 1 = dense; C_in = C_out = groups is depthwise.
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: (1, 1),
            padding: (0, 0),
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Square stride and padding, groups 1.
    pub fn new(stride: usize, padding: usize) -> Self {
        Self {
            stride: (stride, stride),
            padding: (padding, padding),
            groups: 1,
        }
    }

    /// The same with `groups`.
    pub fn with_groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }

    /// Output (height, width) for an `h x w` input and a `kh x kw` kernel, as torch computes it:
    /// `(h + 2 ph - kh) / sh + 1`; `None` when the padded input is smaller than the kernel or a
    /// stride is 0.
    pub fn output_size(&self, h: usize, w: usize, kh: usize, kw: usize) -> Option<(usize, usize)> {
        let one = |len: usize, k: usize, s: usize, p: usize| {
            let padded = len + 2 * p;
            (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        Some((
            one(h, kh, self.stride.0, self.padding.0)?,
            one(w, kw, self.stride.1, self.padding.1)?,
        ))
    }
}

/// Every size of one convolution, checked: input `[n, c_in, h, w]`, weight
/// `[c_out, c_in / groups, kh, kw]`, output `[n, c_out, oh, ow]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dDims {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Conv2dDims {
    /// Checks an input and a weight shape against `params` (as torch would) and derives the
    /// output size.
    pub fn new(
        kernel: &'static str,
        input: &[usize],
        weight: &[usize],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let (&[n, c_in, h, w], &[c_out, cig, kh, kw]) = (input, weight) else {
            return Err(HarkError::shape(
                kernel,
                format!(
                    "expected input [N, C_in, H, W] and weight [C_out, C_in/groups, KH, KW], got \
                     {input:?} and {weight:?}"
                ),
            ));
        };
        let g = params.groups;
        if g == 0 || c_in % g != 0 || c_out % g != 0 || cig * g != c_in {
            return Err(HarkError::shape(
                kernel,
                format!(
                    "groups {g} must divide C_in and C_out with weight [C_out, C_in/groups, ..]: \
                     input {input:?}, weight {weight:?}"
                ),
            ));
        }
        let (oh, ow) = params.output_size(h, w, kh, kw).ok_or_else(|| {
            HarkError::invalid(
                kernel,
                format!(
                    "kernel {kh}x{kw} with {params:?} does not fit input {input:?} (or a size is \
                     zero)"
                ),
            )
        })?;
        Ok(Self {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            oh,
            ow,
        })
    }

    /// A 1x1 convolution without stride, padding or groups: a matrix product per batch item
    /// (`W [C_out, C_in] x X [C_in, H W]`), which the tiled matmul kernel runs far faster than
    /// the direct convolution (MobileNetV2's expand and project convs are most of its work).
    pub(crate) fn is_pointwise(&self, params: &Conv2dParams) -> bool {
        self.kh == 1 && self.kw == 1 && *params == Conv2dParams::default()
    }

    /// `[n, c_out, oh, ow]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.oh, self.ow]
    }
}
