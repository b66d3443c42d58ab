//! Launchers for `shaders/flow/coupling.wgsl`: FrEIA's affine coupling `x2' = x2 exp(s) + 0.1 a_t`
//! with `s = clamp tanh(0.1 a_s)`, its inverse and its backward, for the whole batch at once.

use bytemuck::{Pod, Zeroable};

use super::{expect_sizes, layout_u32};
use crate::error::{HarkError, Result};
use crate::runtime::{grid_1d, Access, Kernel, Launch, Recorder};
use crate::shaders::Shader;
use crate::tensor::Tensor;

/// Keep in sync with `Params` in shaders/flow/coupling.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct CouplingParams {
    n: u32,
    channels: u32,
    split: u32,
    inner: u32,
    clamp: f32,
}

const WORKGROUP: u32 = 256;

static FORWARD: Kernel = Kernel {
    name: "flow_coupling_forward",
    shader: Shader::FlowCoupling,
    entry: "forward",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

static INVERSE: Kernel = Kernel {
    name: "flow_coupling_inverse",
    shader: Shader::FlowCoupling,
    entry: "inverse",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

// grad_out and grad_logdet share read_write bindings with forward's out and logdet (the shader
// names bindings per slot); backward only reads them.
static BACKWARD: Kernel = Kernel {
    name: "flow_coupling_backward",
    shader: Shader::FlowCoupling,
    entry: "backward",
    bindings: &[
        Access::Read,
        Access::Read,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
        Access::ReadWrite,
    ],
};

/// Params for `x` and checks of `a` (`[N, 2 C2, ..]`, C2 = floor(C / 2)) and `logdet` (`[N]`).
fn params(
    kernel: &'static str,
    x: &Tensor,
    a: &Tensor,
    clamp: f32,
    same_as_x: &[(&str, &Tensor)],
    logdet: (&str, &Tensor),
) -> Result<CouplingParams> {
    let (n, channels, inner) = layout_u32(kernel, x.shape())?;
    if channels < 2 {
        return Err(HarkError::shape(
            kernel,
            format!("{:?}: a coupling needs at least 2 channels", x.shape()),
        ));
    }
    let split = channels - channels / 2;
    let total = x.numel();
    let coefficients = (n * 2 * (channels / 2) * inner) as usize;
    let mut checks = vec![("x", x, total), ("a", a, coefficients)];
    checks.extend(same_as_x.iter().map(|&(name, t)| (name, t, total)));
    checks.push((logdet.0, logdet.1, n as usize));
    expect_sizes(kernel, &checks)?;
    Ok(CouplingParams {
        n,
        channels,
        split,
        inner,
        clamp,
    })
}

/// `out = [x1, x2 exp(s) + 0.1 a_t]` and `logdet[n] += sum s` for `x` `[N, C]` or `[N, C, H, W]`
/// and the raw subnet output `a` `[N, 2 (C / 2), ..]` (scale channels first).
pub fn coupling_forward(
    rec: &mut Recorder,
    x: &Tensor,
    a: &Tensor,
    clamp: f32,
    out: &Tensor,
    logdet: &Tensor,
) -> Result<()> {
    let p = params(
        FORWARD.name,
        x,
        a,
        clamp,
        &[("out", out)],
        ("logdet", logdet),
    )?;
    rec.dispatch(Launch::new(
        &FORWARD,
        &p,
        &[x, a, out, logdet],
        grid_1d(p.n),
    ))
}

/// The inverse of [`coupling_forward`] given the same `a` (computed from `y1 = x1`):
/// `out = [y1, (y2 - 0.1 a_t) exp(-s)]`, `logdet[n] -= sum s`.
pub fn coupling_inverse(
    rec: &mut Recorder,
    y: &Tensor,
    a: &Tensor,
    clamp: f32,
    out: &Tensor,
    logdet: &Tensor,
) -> Result<()> {
    let p = params(
        INVERSE.name,
        y,
        a,
        clamp,
        &[("out", out)],
        ("logdet", logdet),
    )?;
    rec.dispatch(Launch::new(
        &INVERSE,
        &p,
        &[y, a, out, logdet],
        grid_1d(p.n),
    ))
}

/// Gradients of [`coupling_forward`] at input `x` and subnet output `a`, given `grad_out` (of
/// `out`) and `grad_logdet` (`[N]`, of the per-sample log-det): `grad_x` (x1's part is
/// `grad_out`'s, the subnet's path is added by the caller) and `grad_a`.
#[allow(clippy::too_many_arguments)] // two inputs, two upstream gradients, two outputs.
pub fn coupling_backward(
    rec: &mut Recorder,
    x: &Tensor,
    a: &Tensor,
    grad_out: &Tensor,
    grad_logdet: &Tensor,
    clamp: f32,
    grad_x: &Tensor,
    grad_a: &Tensor,
) -> Result<()> {
    let p = params(
        BACKWARD.name,
        x,
        a,
        clamp,
        &[("grad_out", grad_out), ("grad_x", grad_x)],
        ("grad_logdet", grad_logdet),
    )?;
    expect_sizes(BACKWARD.name, &[("grad_a", grad_a, a.numel())])?;
    let total = p.n * p.channels * p.inner;
    rec.dispatch(Launch::new(
        &BACKWARD,
        &p,
        &[x, a, grad_out, grad_logdet, grad_x, grad_a],
        grid_1d(total.div_ceil(WORKGROUP)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_shader_struct() {
        crate::shaders::assert_params_match::<CouplingParams>(Shader::FlowCoupling, "Params");
    }
}
