//! Launchers for `shaders/flow/global_affine.wgsl`: FrEIA's global affine with
//! `scale = 0.1 softplus_{beta=0.5}(g)` per channel and an offset, its inverse and its backward
//! (input, `g` and offset gradients).

use bytemuck::{Pod, Zeroable};

use super::{expect_sizes, layout_u32};
use crate::error::Result;
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/flow/global_affine.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GlobalAffineParams {
    n: u32,
    channels: u32,
    inner: u32,
}

/// The `g` that gives scale 1: FrEIA's `2 log(exp(0.5 * 10 * init) - 1)` with init 1.
pub fn unit_scale_g() -> f32 {
    (2.0 * (5.0f64.exp() - 1.0).ln()) as f32
}

const TRANSFORM: [Access; 5] = [
    Access::Read,
    Access::Read,
    Access::Read,
    Access::ReadWrite,
    Access::ReadWrite,
];

static FORWARD: Kernel = Kernel {
    name: "flow_global_affine_forward",
    shader: Shader::FlowGlobalAffine,
    entry: "forward",
    bindings: &TRANSFORM,
};

static INVERSE: Kernel = Kernel {
    name: "flow_global_affine_inverse",
    shader: Shader::FlowGlobalAffine,
    entry: "inverse",
    bindings: &TRANSFORM,
};

// grad_logdet sits in forward's read_write logdet slot; backward only reads it.
static BACKWARD: Kernel = Kernel {
    name: "flow_global_affine_backward",
    shader: Shader::FlowGlobalAffine,
    entry: "backward",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

fn transform(
    kernel: &'static Kernel,
    rec: &mut Recorder,
    x: &Tensor,
    g: &Tensor,
    offset: &Tensor,
    out: &Tensor,
    logdet: &Tensor,
) -> Result<()> {
    let (n, channels, inner) = layout_u32(kernel.name, x.shape())?;
    let c = channels as usize;
    expect_sizes(
        kernel.name,
        &[
            ("x", x, x.numel()),
            ("g", g, c),
            ("offset", offset, c),
            ("out", out, x.numel()),
            ("logdet", logdet, n as usize),
        ],
    )?;
    let p = GlobalAffineParams { n, channels, inner };
    rec.dispatch(Launch {
        kernel,
        constants: Vec::new(),
        params: bytemuck::bytes_of(&p),
        tensors: &[x, g, offset, out, logdet],
        workgroups: grid_1d(n),
    })
}

/// `out = x scale(g)_c + offset_c` on `x` `[N, C, ..]`, `logdet[n] += P sum_c log scale_c`.
pub fn global_affine_forward(
    rec: &mut Recorder,
    x: &Tensor,
    g: &Tensor,
    offset: &Tensor,
    out: &Tensor,
    logdet: &Tensor,
) -> Result<()> {
    transform(&FORWARD, rec, x, g, offset, out, logdet)
}

/// `out = (y - offset_c) / scale(g)_c`, `logdet[n] -= P sum_c log scale_c`.
pub fn global_affine_inverse(
    rec: &mut Recorder,
    y: &Tensor,
    g: &Tensor,
    offset: &Tensor,
    out: &Tensor,
    logdet: &Tensor,
) -> Result<()> {
    transform(&INVERSE, rec, y, g, offset, out, logdet)
}

/// Gradients of [`global_affine_forward`] at input `x`: `grad_x`, and the parameter gradients
/// `grad_g` and `grad_offset` (written, not accumulated), given `grad_out` and `grad_logdet`.
#[allow(clippy::too_many_arguments)] // two inputs, two upstream gradients, three outputs.
pub fn global_affine_backward(
    rec: &mut Recorder,
    x: &Tensor,
    g: &Tensor,
    grad_out: &Tensor,
    grad_logdet: &Tensor,
    grad_x: &Tensor,
    grad_g: &Tensor,
    grad_offset: &Tensor,
) -> Result<()> {
    let name = BACKWARD.name;
    let (n, channels, inner) = layout_u32(name, x.shape())?;
    let c = channels as usize;
    expect_sizes(
        name,
        &[
            ("g", g, c),
            ("grad_out", grad_out, x.numel()),
            ("grad_logdet", grad_logdet, n as usize),
            ("grad_x", grad_x, x.numel()),
            ("grad_g", grad_g, c),
            ("grad_offset", grad_offset, c),
        ],
    )?;
    let p = GlobalAffineParams { n, channels, inner };
    rec.dispatch(Launch::new(
        &BACKWARD,
        &p,
        &[x, g, grad_out, grad_logdet, grad_x, grad_g, grad_offset],
        grid_1d(channels),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<GlobalAffineParams>(
            Shader::FlowGlobalAffine,
            "Params",
        );
    }

    #[test]
    fn unit_scale_g_gives_scale_one() {
        let g = f64::from(unit_scale_g());
        let scale = 0.1 * 2.0 * (1.0 + (0.5 * g).exp()).ln();
        assert!((scale - 1.0).abs() < 1e-6, "{scale}");
    }
}
