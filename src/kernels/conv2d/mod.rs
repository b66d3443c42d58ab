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

pub use crate::params::conv2d::Conv2dDims;
pub use crate::params::conv2d::Conv2dParams;

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

/// The GPU side of the geometry: tensor views and the shaders' parameter struct.
impl Conv2dDims {
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
