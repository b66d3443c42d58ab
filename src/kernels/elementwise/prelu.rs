//! Launcher for `shaders/elementwise/prelu.wgsl`: PReLU with one learned slope per channel
//! (channel axis 1, or axis 0 of a 1-D input), or one slope shared by all elements.

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::{DType, Tensor};

/// Keep in sync with `Params` in shaders/elementwise/prelu.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct PreluParams {
    n: u32,
    inner: u32,
    channels: u32,
}

/// One thread per element; 256 is the largest workgroup every WebGPU device accepts.
const WORKGROUP: u32 = 256;

static KERNEL: Kernel = Kernel {
    name: "elementwise_prelu",
    shader: Shader::ElementwisePrelu,
    entry: "main",
    bindings: &[Access::Read, Access::Read, Access::ReadWrite],
};

pub(crate) use crate::params::elementwise::prelu_layout;

/// `out = x` where `x >= 0`, else `weight[c] * x`, with `c` the channel of each element.
/// `weight` holds one slope per channel, or a single slope for all channels.
pub fn prelu(rec: &mut Recorder, x: &Tensor, weight: &Tensor, out: &Tensor) -> Result<()> {
    for t in [x, weight, out] {
        t.expect_dtype(KERNEL.name, DType::F32)?;
    }
    if out.numel() != x.numel() {
        return Err(HarkError::shape(
            KERNEL.name,
            format!("x {:?} but out {:?}", x.shape(), out.shape()),
        ));
    }
    let (channels, inner) = prelu_layout(x.shape());
    let slopes = weight.numel();
    if slopes != 1 && slopes != channels {
        return Err(HarkError::shape(
            KERNEL.name,
            format!(
                "weight {:?} must hold 1 or {channels} slopes for x {:?}",
                weight.shape(),
                x.shape()
            ),
        ));
    }
    let n = u32::try_from(x.numel())
        .map_err(|_| HarkError::invalid(KERNEL.name, "over 2^32 elements"))?;
    // Both fit: they divide n (or are 1 when n is 0).
    let params = PreluParams {
        n,
        inner: inner.max(1) as u32,
        channels: slopes as u32,
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, weight, out],
        grid_1d(n.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<PreluParams>(Shader::ElementwisePrelu, "Params");
    }

    #[test]
    fn layout_follows_torch_channel_axis() {
        assert_eq!(prelu_layout(&[]), (1, 1));
        assert_eq!(prelu_layout(&[5]), (5, 1));
        assert_eq!(prelu_layout(&[4, 5]), (5, 1));
        assert_eq!(prelu_layout(&[2, 3, 7, 11]), (3, 77));
    }
}
