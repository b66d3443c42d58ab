//! Max pooling as `torch.nn.functional.max_pool1d/max_pool2d(return_indices=True)` (dilation 1,
//! ceil_mode False, -inf padding) and its gradient. The argmax of each output is saved in a
//! separate `[.., OH, OW]` tensor whose f32 slots hold the u32 bits of the flat index `iy * W + ix`
//! within the input plane (torch's index convention; read them with `f32::to_bits`).

mod max_pool1d;
mod max_pool2d;
mod max_pool2d_backward;

pub use max_pool1d::{max_pool1d, max_pool1d_backward};
pub use max_pool2d::max_pool2d;
pub use max_pool2d_backward::max_pool2d_backward;

use bytemuck::{Pod, Zeroable};

use crate::error::{HarkError, Result};

pub use crate::params::pool::PoolParams;

/// Window, stride and padding of a 1-D max pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool1dParams {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Pool1dParams {
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }

    /// Output length for an input of `len`, as [`PoolParams::output_size`].
    pub fn output_len(&self, len: usize) -> Option<usize> {
        self.as_2d().output_size(1, len).map(|(_, l)| l)
    }

    /// The same pool over a `[.., 1, L]` image: 1-D pooling runs on the 2-D kernels.
    pub fn as_2d(&self) -> PoolParams {
        PoolParams {
            kernel: (1, self.kernel),
            stride: (1, self.stride),
            padding: (0, self.padding),
        }
    }
}

/// Keep in sync with `Params` in shaders/common/pool_params.wgsl (both pool shaders import it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct PoolKernelParams {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    total: u32,
}

/// Checks an `[N, C, H, W]` input shape against `params` and returns (N, C, H, W, OH, OW).
pub(crate) fn pool_dims(
    kernel: &'static str,
    input: &[usize],
    params: &PoolParams,
) -> Result<[usize; 6]> {
    let &[n, c, h, w] = input else {
        return Err(HarkError::shape(
            kernel,
            format!("expected [N, C, H, W], got {input:?}"),
        ));
    };
    let (oh, ow) = params.output_size(h, w).ok_or_else(|| {
        HarkError::invalid(
            kernel,
            format!("{params:?} does not fit input {input:?} (padding must be <= kernel / 2)"),
        )
    })?;
    Ok([n, c, h, w, oh, ow])
}

pub(crate) fn kernel_params(
    kernel: &'static str,
    [n, c, h, w, oh, ow]: [usize; 6],
    params: &PoolParams,
    total: usize,
) -> Result<PoolKernelParams> {
    let u = |value: usize| {
        u32::try_from(value).map_err(|_| HarkError::invalid(kernel, format!("{value} exceeds u32")))
    };
    // Every flat index the shaders form must fit u32.
    u(n * c * h * w)?;
    u(n * c * oh * ow)?;
    Ok(PoolKernelParams {
        planes: u(n * c)?,
        h: u(h)?,
        w: u(w)?,
        oh: u(oh)?,
        ow: u(ow)?,
        kh: u(params.kernel.0)?,
        kw: u(params.kernel.1)?,
        sh: u(params.stride.0)?,
        sw: u(params.stride.1)?,
        ph: u(params.padding.0)?,
        pw: u(params.padding.1)?,
        total: u(total)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::Shader;

    #[test]
    fn params_match_the_shader_structs() {
        for shader in [Shader::MaxPool2d, Shader::MaxPool2dBackward] {
            assert_eq!(
                Some(std::mem::size_of::<PoolKernelParams>()),
                crate::shaders::wgsl_struct_size(shader, "Params"),
                "{shader:?}"
            );
        }
    }

    #[test]
    fn output_size_follows_torch() {
        assert_eq!(PoolParams::new(3, 2, 1).output_size(16, 21), Some((8, 11)));
        assert_eq!(PoolParams::new(2, 2, 0).output_size(7, 9), Some((3, 4)));
        assert_eq!(PoolParams::new(2, 2, 0).output_size(1, 1), None);
        // Padding over half the window is refused, as torch does.
        assert_eq!(PoolParams::new(3, 1, 2).output_size(5, 5), None);
        assert_eq!(Pool1dParams::new(3, 2, 1).output_len(10), Some(5));
    }
}
