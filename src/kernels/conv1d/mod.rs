//! 1-D convolution as `torch.nn.functional.conv1d` / `conv_transpose1d` (NCL layout, torch's
//! weight layouts), forward and hand-written backward: stride, zero padding, dilation, groups
//! (depthwise included), optional bias. Every launch covers all batch items and channels.

// One kernel, one name in every place (STYLE.md): conv1d/conv1d.rs.
#[allow(clippy::module_inception)]
mod conv1d;
mod conv1d_backward_bias;
mod conv1d_backward_input;
mod conv1d_backward_weight;
mod conv_transpose1d;

pub use conv1d::conv1d;
pub use conv1d_backward_bias::conv1d_backward_bias;
pub use conv1d_backward_input::conv1d_backward_input;
pub use conv1d_backward_weight::conv1d_backward_weight;
pub use conv_transpose1d::{
    conv_transpose1d, conv_transpose1d_backward_bias, conv_transpose1d_backward_input,
    conv_transpose1d_backward_weight,
};

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::tensor::{DType, Tensor};

pub use crate::params::conv1d::conv1d_output_len;
pub use crate::params::conv1d::conv_transpose1d_output_len;
pub use crate::params::conv1d::Conv1dParams;

/// Keep in sync with `Params` in shaders/common/conv1d_params.wgsl (imported by all four shaders).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Conv1dShaderParams {
    batch: u32,
    c_in: u32,
    l_in: u32,
    c_out: u32,
    l_out: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    dilation: u32,
    groups: u32,
    has_bias: u32,
    _pad: u32,
}

/// Sizes of one convolution in the direct (conv1d) view: `x [batch, c_in, l_in]`,
/// `w [c_out, c_in / groups, kernel]`, `y [batch, c_out, l_out]`. The transposed convolution is
/// the same geometry with the roles of x and y exchanged.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    l_in: usize,
    c_out: usize,
    l_out: usize,
    kernel: usize,
    params: Conv1dParams,
}

impl Geometry {
    /// A 1x1 convolution without stride, padding or groups: a matrix product per batch item
    /// (`W [C_out, C_in] x X [C_in, L]`), which the tiled matmul kernel runs far faster than
    /// the direct convolution (Conv-TasNet's pointwise convs are most of its work).
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.params == Conv1dParams::default()
    }

    /// The weight `[C_out, C_in, 1]` as the shared `[1, C_out, C_in]` matmul operand.
    fn pointwise_weight(&self, weight: &Tensor) -> Result<Tensor> {
        weight.reshape(&[1, self.c_out, self.c_in])
    }
}

/// The three sizes of an `[N, C, L]` tensor.
fn ncl(kernel: &'static str, what: &str, t: &Tensor) -> Result<[usize; 3]> {
    t.expect_dtype(kernel, DType::F32)?;
    match *t.shape() {
        [n, c, l] => Ok([n, c, l]),
        _ => Err(HarkError::shape(
            kernel,
            format!("{what} must be rank 3, got {:?}", t.shape()),
        )),
    }
}

fn to_u32(kernel: &'static str, what: &str, value: usize) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| HarkError::invalid(kernel, format!("{what} = {value} exceeds u32")))
}

impl Geometry {
    /// Checks `x`, `w`, `y` (conv1d view, names as in the launcher's signature given by
    /// `names`) against each other and `params`.
    fn resolve(
        kernel: &'static str,
        names: [&str; 3],
        x: &Tensor,
        w: &Tensor,
        y: &Tensor,
        params: &Conv1dParams,
    ) -> Result<Self> {
        let [batch, c_in, l_in] = ncl(kernel, names[0], x)?;
        let [c_out, c_in_per_group, k] = ncl(kernel, names[1], w)?;
        let [y_batch, y_c, l_out] = ncl(kernel, names[2], y)?;
        let describe = || {
            format!(
                "{} {:?}, {} {:?}, {} {:?} with {params:?}",
                names[0],
                x.shape(),
                names[1],
                w.shape(),
                names[2],
                y.shape()
            )
        };
        if params.stride == 0 || params.dilation == 0 || params.groups == 0 {
            return Err(HarkError::invalid(
                kernel,
                format!("stride, dilation and groups must be at least 1: {params:?}"),
            ));
        }
        if [batch, c_in, l_in, c_out, k].contains(&0) {
            return Err(HarkError::invalid(
                kernel,
                format!("empty tensor: {}", describe()),
            ));
        }
        let g = params.groups;
        if c_in % g != 0 || c_out % g != 0 || c_in_per_group * g != c_in {
            return Err(HarkError::shape(
                kernel,
                format!(
                    "groups must divide both channel counts and the weight must hold \
                     channels / groups per group: {}",
                    describe()
                ),
            ));
        }
        if y_batch != batch || y_c != c_out || conv1d_output_len(l_in, k, params) != Some(l_out) {
            return Err(HarkError::shape(
                kernel,
                format!(
                    "expected {} [{batch}, {c_out}, {:?}]: {}",
                    names[2],
                    conv1d_output_len(l_in, k, params),
                    describe()
                ),
            ));
        }
        Ok(Self {
            batch,
            c_in,
            l_in,
            c_out,
            l_out,
            kernel: k,
            params: *params,
        })
    }

    /// The shader's parameter struct; fails when an index the shaders compute could pass u32.
    fn shader_params(&self, name: &'static str, has_bias: bool) -> Result<Conv1dShaderParams> {
        to_u32(name, "input elements", self.batch * self.c_in * self.l_in)?;
        to_u32(
            name,
            "output elements",
            self.batch * self.c_out * self.l_out,
        )?;
        to_u32(
            name,
            "weight elements",
            self.c_out * self.c_in * self.kernel,
        )?;
        to_u32(
            name,
            "padded input length",
            self.l_in + 2 * self.params.padding + self.params.stride,
        )?;
        to_u32(
            name,
            "dilated kernel span",
            self.params.dilation * self.kernel,
        )?;
        Ok(Conv1dShaderParams {
            batch: to_u32(name, "batch", self.batch)?,
            c_in: to_u32(name, "c_in", self.c_in)?,
            l_in: to_u32(name, "l_in", self.l_in)?,
            c_out: to_u32(name, "c_out", self.c_out)?,
            l_out: to_u32(name, "l_out", self.l_out)?,
            kernel: to_u32(name, "kernel", self.kernel)?,
            stride: to_u32(name, "stride", self.params.stride)?,
            padding: to_u32(name, "padding", self.params.padding)?,
            dilation: to_u32(name, "dilation", self.params.dilation)?,
            groups: to_u32(name, "groups", self.params.groups)?,
            has_bias: u32::from(has_bias),
            _pad: 0,
        })
    }
}

/// Checks that an optional bias is an f32 vector of `channels` elements.
fn check_bias(kernel: &'static str, bias: Option<&Tensor>, channels: usize) -> Result<()> {
    if let Some(bias) = bias {
        bias.expect_dtype(kernel, DType::F32)?;
        if bias.shape() != [channels] {
            return Err(HarkError::shape(
                kernel,
                format!("bias {:?} must be [{channels}]", bias.shape()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::{wgsl_struct_size, Shader};

    #[test]
    fn params_match_every_shader_struct() {
        for shader in [
            Shader::Conv1d,
            Shader::Conv1dBackwardInput,
            Shader::Conv1dBackwardWeight,
            Shader::Conv1dBackwardBias,
        ] {
            assert_eq!(
                Some(std::mem::size_of::<Conv1dShaderParams>()),
                wgsl_struct_size(shader, "Params"),
                "{shader:?}"
            );
        }
    }

    #[test]
    fn output_lengths_follow_torch() {
        let p = |stride, padding, dilation| Conv1dParams {
            stride,
            padding,
            dilation,
            groups: 1,
        };
        // Conv-TasNet encoder on 161 samples: floor((161 + 16 - 15 - 1) / 8) + 1 = 21.
        assert_eq!(conv1d_output_len(161, 16, &p(8, 8, 1)), Some(21));
        // TgramNet on 4000 samples: floor((4000 + 1024 - 1023 - 1) / 512) + 1 = 8.
        assert_eq!(conv1d_output_len(4000, 1024, &p(512, 512, 1)), Some(8));
        assert_eq!(conv1d_output_len(50, 3, &p(1, 4, 4)), Some(50));
        assert_eq!(conv1d_output_len(1, 3, &p(1, 0, 1)), None);
        assert_eq!(conv1d_output_len(1, 3, &p(1, 1, 1)), Some(1));
        // Conv-TasNet decoder inverts the encoder's length: (21 - 1) 8 - 16 + 15 + 1 = 160.
        assert_eq!(
            conv_transpose1d_output_len(21, 16, &p(8, 8, 1), 0),
            Some(160)
        );
        assert_eq!(conv_transpose1d_output_len(1, 1, &p(1, 1, 1), 0), None);
    }
}
