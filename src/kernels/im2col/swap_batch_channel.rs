//! Launcher for `shaders/im2col/swap_batch_channel.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::expect_len;
use crate::error::Result;
use crate::kernels::fast_div::FastDiv;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

static KERNEL: Kernel = Kernel {
    name: "swap_batch_channel",
    shader: Shader::SwapBatchChannel,
    entry: "main",
    bindings: &[Access::Read, Access::ReadWrite],
};

/// Keep in sync with `Params` in shaders/im2col/swap_batch_channel.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct SwapParams {
    a: u32,
    b: u32,
    p: u32,
    total: u32,
    div_p: FastDiv,
    div_a: FastDiv,
}

/// Records `out = x` with its two leading axes exchanged: `x` as `[a, b, p]`, `out` as
/// `[b, a, p]` (any shapes with `a * b * p` elements). `[N, C, P]` -> `[C, N*P]` with
/// `(a, b) = (N, C)`, and back with `(a, b) = (C, N)`.
pub fn swap_batch_channel(
    rec: &mut Recorder,
    x: &Tensor,
    (a, b, p): (usize, usize, usize),
    out: &Tensor,
) -> Result<()> {
    let total = a * b * p;
    expect_len(KERNEL.name, "x", x, total)?;
    expect_len(KERNEL.name, "out", out, total)?;
    if total == 0 {
        return Ok(());
    }
    let u = |v: usize| super::to_u32(KERNEL.name, v);
    let params = SwapParams {
        a: u(a)?,
        b: u(b)?,
        p: u(p)?,
        total: u(total)?,
        div_p: FastDiv::new(u(p)?),
        div_a: FastDiv::new(u(a)?),
    };
    rec.dispatch(Launch::new(
        &KERNEL,
        &params,
        &[x, out],
        grid_1d(u(total.div_ceil(256))?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<SwapParams>(Shader::SwapBatchChannel, "Params");
    }
}
