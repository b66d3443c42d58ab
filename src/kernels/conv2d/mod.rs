//! 2-D convolution as `torch.nn.functional.conv2d` (NCHW, weight `[C_out, C_in/groups, KH, KW]`,
//! stride, zero padding, groups, optional bias) and its three gradients, each a direct kernel that
//! covers every batch item, channel and group in one dispatch. Pointwise (1x1, stride 1, no
//! padding or groups) forward and input gradient run on the tiled matmul instead.
//!
//! These launchers are the direct path. The `Conv2d` layer routes dense (groups 1), non-pointwise
//! convs through im2col and the tiled matmul instead ([`crate::kernels::im2col`],
//! `src/nn/conv_gemm.rs`), and comes back here for grouped/depthwise convs, pointwise convs and
//! shapes whose column matrix would exceed one storage binding.

// One kernel, one name in every place (STYLE.md): conv2d/conv2d.rs.
#[allow(clippy::module_inception)]
mod conv2d;
mod conv2d_backward_bias;
mod conv2d_backward_input;
mod conv2d_backward_weight;

pub use conv2d::conv2d;
pub use conv2d_backward_bias::conv2d_backward_bias;
pub use conv2d_backward_input::conv2d_backward_input;
pub use conv2d_backward_weight::conv2d_backward_weight;

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::tensor::Tensor;

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

    /// For a pointwise convolution: the weight as the shared `[1, C_out, C_in]` matmul operand,
    /// and an input-side and an output-side tensor as `[N, C, H W]`.
    pub(crate) fn pointwise_views(
        &self,
        weight: &Tensor,
        input_side: &Tensor,
        output_side: &Tensor,
    ) -> Result<[Tensor; 3]> {
        let plane = self.h * self.w;
        Ok([
            weight.reshape(&[1, self.c_out, self.c_in])?,
            input_side.reshape(&[self.n, self.c_in, plane])?,
            output_side.reshape(&[self.n, self.c_out, plane])?,
        ])
    }

    /// `[n, c_out, oh, ow]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.oh, self.ow]
    }

    pub(crate) fn expect_output(&self, kernel: &'static str, what: &str, t: &Tensor) -> Result<()> {
        if t.shape() != self.output_shape() {
            return Err(HarkError::shape(
                kernel,
                format!(
                    "{what} must be {:?}, got {:?}",
                    self.output_shape(),
                    t.shape()
                ),
            ));
        }
        Ok(())
    }

    /// The shaders' parameter struct; `total` is the number of threads (or workgroups) at work.
    pub(crate) fn kernel_params(
        &self,
        kernel: &'static str,
        params: &Conv2dParams,
        has_bias: bool,
        total: usize,
    ) -> Result<ConvParams> {
        // Every flat index the shaders form must fit u32.
        let largest = [
            self.n * self.c_in * self.h * self.w,
            self.n * self.c_out * self.oh * self.ow,
            self.c_out * self.c_in * self.kh * self.kw,
            total,
        ];
        for value in largest {
            to_u32(kernel, value)?;
        }
        Ok(ConvParams {
            n: to_u32(kernel, self.n)?,
            c_in: to_u32(kernel, self.c_in)?,
            h: to_u32(kernel, self.h)?,
            w: to_u32(kernel, self.w)?,
            c_out: to_u32(kernel, self.c_out)?,
            oh: to_u32(kernel, self.oh)?,
            ow: to_u32(kernel, self.ow)?,
            kh: to_u32(kernel, self.kh)?,
            kw: to_u32(kernel, self.kw)?,
            sh: to_u32(kernel, params.stride.0)?,
            sw: to_u32(kernel, params.stride.1)?,
            ph: to_u32(kernel, params.padding.0)?,
            pw: to_u32(kernel, params.padding.1)?,
            groups: to_u32(kernel, params.groups)?,
            has_bias: u32::from(has_bias),
            total: to_u32(kernel, total)?,
        })
    }
}

/// Keep in sync with `Params` in shaders/common/conv2d_params.wgsl (one layout for conv2d.wgsl,
/// conv2d_backward_input.wgsl and conv2d_backward_weight.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct ConvParams {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    groups: u32,
    has_bias: u32,
    total: u32,
}

pub(crate) use super::to_u32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::Shader;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [
            Shader::Conv2d,
            Shader::Conv2dBackwardInput,
            Shader::Conv2dBackwardWeight,
        ] {
            assert_eq!(
                Some(std::mem::size_of::<ConvParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params"),
                "{shader:?}"
            );
        }
    }

    #[test]
    fn output_size_follows_torch() {
        // Wilkinghoff's stem: 7x7 stride 2 pad 3.
        assert_eq!(
            Conv2dParams::new(2, 3).output_size(31, 41, 7, 7),
            Some((16, 21))
        );
        assert_eq!(
            Conv2dParams::new(2, 0).output_size(13, 17, 1, 1),
            Some((7, 9))
        );
        assert_eq!(Conv2dParams::new(1, 0).output_size(2, 2, 3, 3), None);
        assert_eq!(Conv2dParams::new(0, 1).output_size(5, 5, 3, 3), None);
    }
}
